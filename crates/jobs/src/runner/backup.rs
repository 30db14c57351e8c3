//! The backup step of a run: one snapshot from the job's source, tagged `job=NAME`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use bunker_repo::{
    backup_paths, backup_stream, BackupOptions, BackupProgress, BackupResult, Repository,
};
use bunker_sources::postgres::Server;

use crate::config::{JobConfig, SourceConfig};
use crate::postgres::{self as pg, PgBackupOptions};

/// The tag that marks a job's snapshots: retention, status and `catalog rebuild` find
/// them by it.
pub fn job_tag(job: &str) -> String {
    format!("job={job}")
}

/// What the backup step made.
pub struct Backup {
    pub result: BackupResult,
    /// Files that could not be read (the snapshot was saved without them).
    pub warnings: Vec<String>,
}

/// The snapshot options of a job's backups, with `extra_tags` of this run.
pub fn options(name: &str, job: &JobConfig, extra_tags: &[String]) -> BackupOptions {
    let mut tags = vec![job_tag(name)];
    tags.extend(job.tags.iter().map(|t| t.0.clone()));
    for t in extra_tags {
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    let mut opts = BackupOptions {
        host: job
            .host
            .as_ref()
            .map(|h| h.0.clone())
            .unwrap_or_else(bunker_repo::hostname),
        tags,
        ..Default::default()
    };
    if let SourceConfig::Files {
        excludes,
        exclude_caches,
        one_file_system,
        ..
    } = &job.source
    {
        opts.excludes = excludes.iter().map(|e| e.0.clone()).collect();
        opts.exclude_caches = *exclude_caches;
        opts.one_file_system = *one_file_system;
    }
    opts
}

/// The PostgreSQL server of a job's source.
pub fn pg_server(dsn: &str, pg_bin: Option<&str>) -> Server {
    Server::new(dsn, pg_bin.map(std::path::Path::new))
}

/// Backs up the job's source into `repo`.
pub fn run(
    name: &str,
    job: &JobConfig,
    extra_tags: &[String],
    repo: Arc<Repository>,
    progress: &BackupProgress,
) -> Result<Backup, String> {
    let opts = options(name, job, extra_tags);
    let result = match &job.source {
        SourceConfig::Files { paths, .. } => {
            let paths: Vec<PathBuf> = paths.iter().map(|p| PathBuf::from(&p.0)).collect();
            backup_paths(repo, &paths, &opts, progress).map_err(|e| e.to_string())?
        }
        SourceConfig::Postgres {
            dsn,
            databases,
            all,
            globals,
            pg_bin,
        } => {
            let server = pg_server(dsn.expose(), pg_bin.as_deref());
            let pg_opts = PgBackupOptions {
                dbs: databases.iter().map(|d| d.0.clone()).collect(),
                all: *all,
                globals: *globals,
                backup: opts,
            };
            let r = pg::backup(repo, &server, &pg_opts, progress).map_err(|e| e.to_string())?;
            return Ok(Backup {
                result: r.backup,
                warnings: Vec::new(),
            });
        }
        SourceConfig::Command {
            command,
            stdin_filename,
        } => {
            let (program, args) = command.split_first().expect("checked: not empty");
            let mut child = Command::new(&program.0)
                .args(args.iter().map(|a| &a.0))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("starting {}: {e}", program.0))?;
            let stdout = child.stdout.take().expect("piped stdout");
            let mut stderr = child.stderr.take().expect("piped stderr");
            let mut err_reader = Some(std::thread::spawn(move || {
                let mut s = String::new();
                let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
                s
            }));
            let mut wait = || -> bunker_repo::Result<()> {
                let status = child.wait().map_err(|e| {
                    bunker_repo::Error::Invalid(format!("waiting for {}: {e}", program.0))
                })?;
                let text = err_reader
                    .take()
                    .and_then(|h| h.join().ok())
                    .unwrap_or_default();
                if !status.success() {
                    let last = text.lines().rev().find(|l| !l.trim().is_empty());
                    return Err(bunker_repo::Error::Invalid(format!(
                        "{} failed ({status}){}: no snapshot was written",
                        program.0,
                        last.map(|t| format!(": {}", t.trim())).unwrap_or_default()
                    )));
                }
                Ok(())
            };
            let r = backup_stream(repo, stdout, &stdin_filename.0, &opts, progress, &mut wait);
            r.map_err(|e| e.to_string())?
        }
    };
    let warnings = result.warnings.clone();
    Ok(Backup { result, warnings })
}
