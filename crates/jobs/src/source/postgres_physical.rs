//! `type = "postgres-physical"`: base backups of a whole cluster (the WAL comes from its
//! `archive_command`, `bunker wal-push`), restored by point-in-time recovery into a new
//! data directory and drilled by recovering one into scratch space and starting it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bunker_repo::{BackupOptions, BackupProgress, Repository, Snapshot};
use bunker_sources::postgres::wal::{segment_name, WalFile};
use bunker_sources::postgres::{DataDirectory, Server};
use chrono::Local;
use serde::{Deserialize, Serialize};

use super::{Backup, Item, Restored, Source, Target};
use crate::config::{Secret, Text};
use crate::drill::{self, Assertions, DatabaseDrill, DrillReport};
use crate::error::{Error, Result};
use crate::postgres::window::{base_backups, BaseBackup};
use crate::postgres::{self as pg, wal_archive, BaseBackupOptions, PitrOptions, Target as Aim};

/// The cluster, and how to run its server binaries for restores and drills.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresPhysical {
    /// libpq connection string of the cluster (a role with REPLICATION or superuser).
    pub dsn: Secret,
    /// The data directory, when bunker runs on the database host (default: the
    /// server's own `data_directory`, if readable here; else the backup streams).
    pub pgdata: Option<Text>,
    /// Stream with `pg_basebackup` even when the data directory is readable.
    #[serde(default)]
    pub stream: bool,
    /// How long a backup waits for its last WAL segment to be archived (default 60 s).
    pub archive_timeout: Option<Text>,
    /// Directory of the PostgreSQL client tools.
    pub pg_bin: Option<Text>,
    /// Directory of the server binaries (`pg_ctl`) for drills and restores.
    pub pg_server_bin: Option<Text>,
    /// Databases the drill checks with the job's `[verify]` assertions (default: every
    /// database but `postgres` and the templates).
    #[serde(default)]
    pub databases: Vec<Text>,
    /// Segments the archive may trail the server's current one before the daemon alerts
    /// (default 4).
    pub max_archive_lag: Option<u64>,
    /// The cluster's WAL segment size in MiB, when not PostgreSQL's default 16.
    pub wal_segment_mib: Option<u64>,
}

impl PostgresPhysical {
    pub fn server(&self) -> Server {
        Server::new(self.dsn.expose(), self.pg_bin.as_deref().map(Path::new))
    }

    pub fn max_archive_lag(&self) -> u64 {
        self.max_archive_lag.unwrap_or(4)
    }

    pub fn wal_segment_size(&self) -> u64 {
        self.wal_segment_mib
            .map(|m| m << 20)
            .unwrap_or(bunker_sources::postgres::wal::DEFAULT_SEGMENT_SIZE)
    }

    fn server_bin(&self) -> Option<PathBuf> {
        self.pg_server_bin.as_deref().map(PathBuf::from)
    }

    fn archive_timeout(&self) -> Result<Duration> {
        match self.archive_timeout.as_deref() {
            None => Ok(Duration::from_secs(60)),
            Some(t) => crate::config::parse_duration(t).map_err(Error::Invalid),
        }
    }

    fn base(&self, repo: &Repository, snapshot: &Snapshot) -> Result<BaseBackup> {
        base_backups(repo)?
            .into_iter()
            .find(|b| b.snapshot.id == snapshot.id)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "snapshot {} is not a base backup",
                    snapshot.short_id()
                ))
            })
    }

    fn pitr_options(&self, to: PathBuf, base: &BaseBackup, aim: Aim) -> PitrOptions {
        PitrOptions {
            to,
            target: aim,
            timeline: None,
            base: Some(base.snapshot.id.to_hex()),
            system: Some(base.meta.system_identifier.clone()),
            // The drill puts the WAL it needs into pg_wal itself; a restore names the
            // command to fetch it in postgresql.auto.conf (see restore).
            restore_command: "false".into(),
            restore_password: None,
            settings: Vec::new(),
            standby: false,
            primary_conninfo: None,
            start: false,
            server_bin: self.server_bin(),
            start_timeout: Duration::from_secs(300),
            threads: 0,
            progress: Default::default(),
        }
    }
}

/// The base backup's own WAL, from its first segment to its last, into `pg_wal`: all
/// that a recovery to the end of the backup (`immediate`) reads.
fn place_backup_wal(repo: &Repository, base: &BaseBackup, data: &Path) -> Result<()> {
    let m = &base.meta;
    let seg = m.wal_segment_size;
    let number = |name: &str| match WalFile::parse(name, seg) {
        Some(WalFile::Segment { segno, .. }) => Ok(segno),
        _ => Err(Error::Invalid(format!(
            "{name:?} is not a WAL segment name"
        ))),
    };
    for segno in number(&m.start_wal)?..=number(&m.stop_wal)? {
        let name = segment_name(m.timeline, segno, seg);
        let bytes =
            wal_archive::fetch(repo, &m.system_identifier, &name, seg)?.ok_or_else(|| {
                Error::Invalid(format!(
                    "segment {name} of base backup {} is not in the archive",
                    base.snapshot.short_id()
                ))
            })?;
        wal_archive::write_file(&data.join("pg_wal").join(&name), &bytes)?;
    }
    Ok(())
}

/// A free TCP port for a server that listens on a socket only (the port names it).
fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::Invalid(format!("finding a free port: {e}")))?;
    Ok(l.local_addr()
        .map_err(|e| Error::Invalid(e.to_string()))?
        .port())
}

/// Scratch space a server running as another user (postgres) can reach: a directory of
/// its own under the system's temporary directory, removed when dropped (after the
/// server in it is stopped).
struct Scratch {
    dir: tempfile::TempDir,
    server_bin: Option<PathBuf>,
}

impl Scratch {
    fn new(server_bin: Option<PathBuf>) -> Result<Scratch> {
        let dir = tempfile::Builder::new()
            .prefix("bunker-drill-")
            .tempdir()
            .map_err(|e| Error::Invalid(format!("making a scratch directory: {e}")))?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .map_err(|e| Error::Invalid(format!("{}: {e}", dir.path().display())))?;
        Ok(Scratch { dir, server_bin })
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let data = self.data();
        DataDirectory::new(&data, self.server_bin.as_deref()).stop_immediately();
    }
}

impl Source for PostgresPhysical {
    fn kind(&self) -> &'static str {
        "postgres-physical"
    }

    fn check(&self) -> std::result::Result<(), String> {
        if let Some(t) = &self.archive_timeout {
            crate::config::parse_duration(t)?;
        }
        Ok(())
    }

    fn backup(
        &self,
        repo: Arc<Repository>,
        opts: BackupOptions,
        progress: &BackupProgress,
    ) -> Result<Backup> {
        let bopts = BaseBackupOptions {
            pgdata: self.pgdata.as_deref().map(PathBuf::from),
            stream: self.stream,
            fast_checkpoint: true,
            archive_timeout: Some(self.archive_timeout()?),
            backup: opts,
        };
        let r = pg::basebackup(repo, &self.server(), &bopts, progress)?;
        Ok(Backup {
            result: r.backup,
            warnings: Vec::new(),
        })
    }

    /// A new data directory `to` holding the base backup and its own WAL, set to recover
    /// to the backup's consistent end when started (`pg_ctl -D TO start`); a recovery to
    /// another point is `bunker --job NAME pitr`. In place: refused, a running cluster
    /// is never overwritten.
    fn restore(
        &self,
        repo: &Arc<Repository>,
        snapshot: &Snapshot,
        target: &Target,
    ) -> Result<Restored> {
        let Target::New { to, .. } = target else {
            return Err(Error::Unsupported {
                kind: "postgres-physical",
                what: "restore in place (recover into a new data directory with pitr)",
            });
        };
        let base = self.base(repo, snapshot)?;
        let opts = self.pitr_options(PathBuf::from(to), &base, Aim::Immediate);
        let r = pg::pitr(repo.clone(), &opts)?;
        place_backup_wal(repo, &base, &r.data_directory)?;
        let bin = self.server_bin();
        DataDirectory::new(&r.data_directory, bin.as_deref()).hand_over(&[])?;
        Ok(Restored {
            to: r.data_directory.display().to_string(),
            files: opts
                .progress
                .files
                .load(std::sync::atomic::Ordering::Relaxed),
            bytes: opts
                .progress
                .bytes
                .load(std::sync::atomic::Ordering::Relaxed),
            damaged: Vec::new(),
            safety_snapshot: None,
        })
    }

    /// Recovers the base backup into scratch space to its consistent end, starts the
    /// server there (socket only, no archiving), checks each database with `verify`'s
    /// assertions, then stops it and removes everything.
    fn drill(
        &self,
        repo: &Arc<Repository>,
        snapshot: &Snapshot,
        _scratch: &Path,
        assertions: &Assertions,
    ) -> Result<DrillReport> {
        let started = Local::now().fixed_offset();
        let base = self.base(repo, snapshot)?;
        let scratch = Scratch::new(self.server_bin())?;
        let data = scratch.data();
        let t0 = Instant::now();
        let mut opts = self.pitr_options(data.clone(), &base, Aim::Immediate);
        let port = free_port()?;
        opts.settings = vec![
            ("port".into(), port.to_string()),
            ("listen_addresses".into(), String::new()),
            ("unix_socket_directories".into(), data.display().to_string()),
            ("archive_mode".into(), "off".into()),
        ];
        let recovered = pg::pitr(repo.clone(), &opts)
            .and_then(|_| place_backup_wal(repo, &base, &data))
            .and_then(|()| {
                let bin = self.server_bin();
                let dir = DataDirectory::new(&data, bin.as_deref());
                dir.hand_over(&[])?;
                // In the data directory: the server's user may write there.
                Ok(dir.start_and_wait(
                    &data.join("bunker-recovery.log"),
                    false,
                    opts.start_timeout,
                )?)
            });
        let restore_seconds = t0.elapsed().as_secs_f64();
        let mut databases = Vec::new();
        match recovered {
            Err(e) => databases.push(DatabaseDrill {
                name: "cluster".into(),
                scratch_database: data.display().to_string(),
                restore_seconds,
                passed: false,
                checks: vec![drill::check("recover", false, e.to_string())],
                tables: Vec::new(),
            }),
            Ok(r) => {
                let dsn = format!(
                    "host='{}' port={} dbname=postgres user=postgres",
                    r.socket_dir, r.port
                );
                let server = Server::new(&dsn, self.pg_bin.as_deref().map(Path::new));
                let names: Vec<String> = if self.databases.is_empty() {
                    server
                        .databases()?
                        .into_iter()
                        .map(|d| d.name)
                        .filter(|n| n != "postgres")
                        .collect()
                } else {
                    self.databases.iter().map(|d| d.0.clone()).collect()
                };
                for name in names {
                    let mut checks = vec![drill::check(
                        "recover",
                        true,
                        format!("{restore_seconds:.1} s to a running server"),
                    )];
                    let (more, tables) = drill::run_checks(&server, &name, assertions)?;
                    checks.extend(more);
                    databases.push(DatabaseDrill {
                        name,
                        scratch_database: data.display().to_string(),
                        restore_seconds,
                        passed: checks.iter().all(|c| c.passed),
                        checks,
                        tables,
                    });
                }
            }
        }
        drop(scratch);
        let passed = !databases.is_empty() && databases.iter().all(|d| d.passed);
        Ok(DrillReport {
            kind: "postgres-physical".into(),
            snapshot: snapshot.id.to_hex(),
            snapshot_time: snapshot.time,
            host: bunker_repo::hostname(),
            started,
            finished: Local::now().fixed_offset(),
            data_age_seconds: (started - base.meta.finished).num_milliseconds() as f64 / 1000.0,
            restore_seconds,
            passed,
            databases,
            job: None,
        })
    }

    /// The cluster and its WAL range.
    fn contents(&self, repo: &Arc<Repository>, snapshot: &Snapshot) -> Result<Vec<Item>> {
        let base = self.base(repo, snapshot)?;
        Ok(vec![Item {
            name: format!(
                "system {} timeline {}: WAL {} to {}",
                base.meta.system_identifier,
                base.meta.timeline,
                base.meta.start_wal,
                base.meta.stop_wal
            ),
            what: "cluster",
            bytes: snapshot.summary.as_ref().map(|s| s.total_bytes_processed),
        }])
    }
}
