//! `pg basebackup`: a non-exclusive base backup stored as a file-tree snapshot of the
//! data directory, with the `backup_label` (and `tablespace_map`) that `pg_backup_stop`
//! returns at its root, so that restoring the snapshot with restic gives a data
//! directory PostgreSQL can recover from the WAL archive.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bunker_repo::{
    backup_dir, backup_streams, BackupOptions, BackupProgress, BackupResult, Repository,
};
use bunker_sources::postgres::wal::{segment_name, system_identifier, Lsn};
use bunker_sources::postgres::{ClusterFacts, Server, Tablespace};
use chrono::{DateTime, FixedOffset, Local};
use serde::{Deserialize, Serialize};

use super::wal_archive::object_path;
use crate::error::{Error, Result};

/// The tag of base backup snapshots.
pub const BASE_TAG: &str = "pg-base";
/// The snapshot field holding [`BaseMeta`].
pub const BASE_META_KEY: &str = "postgres_base";
/// The file a streamed (`pg_basebackup`) base backup is stored as.
pub const BASE_TAR: &str = "base.tar";
/// The file in a recovered data directory that holds the repository password for its
/// restore_command (mode 0600, the server's owner), when bunker had no file or command
/// to name there (`pitr` writes it). Base backups leave it out.
pub const RESTORE_PASSWORD_FILE: &str = "bunker-restore.password";

/// What a base backup snapshot records.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BaseMeta {
    pub system_identifier: String,
    pub version_num: u32,
    pub timeline: u32,
    pub wal_segment_size: u64,
    pub start_lsn: Lsn,
    pub stop_lsn: Lsn,
    /// The first and last WAL segments a restore of this backup needs.
    pub start_wal: String,
    pub stop_wal: String,
    pub started: DateTime<FixedOffset>,
    pub finished: DateTime<FixedOffset>,
    pub data_directory: PathBuf,
    #[serde(default)]
    pub tablespaces: Vec<Tablespace>,
    /// `files` (the data directory read by bunker) or `pg_basebackup` (one tar stream).
    pub method: String,
}

impl BaseMeta {
    /// The segment holding the position just before `stop_lsn`: the last one needed.
    fn last_segment(&self) -> u64 {
        Lsn(self.stop_lsn.0.saturating_sub(1)).segment(self.wal_segment_size)
    }
}

#[derive(Clone, Debug)]
pub struct BaseBackupOptions {
    /// The data directory, when bunker can read it (default: the server's own
    /// `data_directory`, if readable here).
    pub pgdata: Option<PathBuf>,
    /// Stream with `pg_basebackup` even when the data directory is readable.
    pub stream: bool,
    pub fast_checkpoint: bool,
    /// How long to wait for the backup's last WAL segment to reach the archive; `None`
    /// does not wait (the backup then needs WAL from elsewhere to be restorable).
    pub archive_timeout: Option<Duration>,
    pub backup: BackupOptions,
}

pub struct BaseBackupResult {
    pub backup: BackupResult,
    pub meta: BaseMeta,
}

/// What the PostgreSQL documentation says a base backup leaves out: the contents of
/// directories the server recreates, its pid and option files, earlier label files,
/// temporary files and relation-cache init files.
fn excludes(pgdata: &Path) -> Vec<String> {
    let root = glob_escape(&pgdata.to_string_lossy());
    let mut v: Vec<String> = [
        "pg_wal",
        "pg_dynshmem",
        "pg_notify",
        "pg_serial",
        "pg_snapshots",
        "pg_stat_tmp",
        "pg_subtrans",
        "pg_replslot",
    ]
    .iter()
    .map(|d| format!("{root}/{d}/*"))
    .collect();
    for f in [
        "postmaster.pid",
        "postmaster.opts",
        "backup_label",
        "backup_label.old",
        "tablespace_map",
        "tablespace_map.old",
        RESTORE_PASSWORD_FILE,
        "backup_manifest",
        "postgresql.auto.conf.tmp",
        "current_logfiles.tmp",
        "recovery.signal",
        "standby.signal",
    ] {
        v.push(format!("{root}/{f}"));
    }
    v.push("pg_internal.init".into());
    v.push("pgsql_tmp*".into());
    v
}

/// Escapes gitignore's special characters in a literal path.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '*' | '?' | '[' | ']' | '!' | '#') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Takes a base backup of the cluster `server` reaches. No snapshot is written unless
/// the backup's last WAL segment reached the archive (when `archive_timeout` is set).
pub fn basebackup(
    repo: Arc<Repository>,
    server: &Server,
    opts: &BaseBackupOptions,
    progress: &BackupProgress,
) -> Result<BaseBackupResult> {
    let facts = server.cluster_facts()?;
    if facts.in_recovery {
        return Err(Error::Standby);
    }
    let tablespaces = server.tablespaces()?;
    let local = if opts.stream {
        None
    } else {
        local_data_directory(&facts, opts.pgdata.as_deref())?
    };
    if local.is_some() && !tablespaces.is_empty() {
        return Err(Error::Tablespaces(
            tablespaces.iter().map(|t| t.name.clone()).collect(),
        ));
    }
    let mut bopts = opts.backup.clone();
    if !bopts.tags.iter().any(|t| t == BASE_TAG) {
        bopts.tags.insert(0, BASE_TAG.to_string());
    }
    let label = format!(
        "bunker {} {}",
        Local::now().format("%Y-%m-%d %H:%M:%S"),
        std::process::id()
    );
    let started = Local::now().fixed_offset();
    let mut meta = None;
    let mut failure: Option<Error> = None;
    let result = match &local {
        Some(pgdata) => {
            bopts.excludes.extend(excludes(pgdata));
            let session = server.backup_start(&label, opts.fast_checkpoint, facts.version_num)?;
            let start_lsn = session.start_lsn();
            let mut session = Some(session);
            backup_dir(repo.clone(), pgdata, &bopts, progress, &mut |sink| {
                let stop = session
                    .take()
                    .expect("stopped once")
                    .stop()
                    .map_err(|e| stash(&mut failure, e.into()))?;
                let m = record(
                    &facts,
                    &tablespaces,
                    (start_lsn, facts.timeline, stop.lsn),
                    started,
                    pgdata,
                    "files",
                );
                wait_archived(&repo, &m, opts.archive_timeout)
                    .map_err(|e| stash(&mut failure, e))?;
                sink.add("backup_label", 0o600, stop.backup_label.as_bytes())?;
                if !stop.tablespace_map.is_empty() {
                    sink.add("tablespace_map", 0o600, stop.tablespace_map.as_bytes())?;
                }
                sink.set_extra(BASE_META_KEY, serde_json::to_value(&m).expect("json"));
                meta = Some(m);
                Ok(())
            })
        }
        None => backup_streams(repo.clone(), &bopts, progress, &mut |sink| {
            let mut dump = server
                .basebackup_stream(&label, opts.fast_checkpoint)
                .map_err(|e| stash(&mut failure, e.into()))?;
            if let Err(e) = sink.add(BASE_TAR, 0o600, dump.take_stdout()) {
                dump.kill();
                return Err(e);
            }
            let stderr = dump.finish().map_err(|e| stash(&mut failure, e.into()))?;
            let _ = stderr;
            // pg_basebackup without WAL does not say where the backup started and ended:
            // the backup history file PostgreSQL archives for it does.
            let positions = history_positions(&repo, &facts, &label, opts.archive_timeout)
                .map_err(|e| stash(&mut failure, e))?;
            let m = record(
                &facts,
                &tablespaces,
                positions,
                started,
                &facts.data_directory,
                "pg_basebackup",
            );
            wait_archived(&repo, &m, opts.archive_timeout).map_err(|e| stash(&mut failure, e))?;
            sink.set_extra(BASE_META_KEY, serde_json::to_value(&m).expect("json"));
            meta = Some(m);
            Ok(())
        }),
    };
    let backup = match result {
        Ok(b) => b,
        Err(e) => return Err(failure.take().unwrap_or(Error::Repo(e))),
    };
    Ok(BaseBackupResult {
        backup,
        meta: meta.expect("set when the backup succeeded"),
    })
}

fn stash(slot: &mut Option<Error>, e: Error) -> bunker_repo::Error {
    let msg = e.to_string();
    *slot = Some(e);
    bunker_repo::Error::Invalid(msg)
}

/// The data directory to read: `--pgdata`, or the server's own if it is readable here.
/// Either must hold the same system as the server.
fn local_data_directory(facts: &ClusterFacts, given: Option<&Path>) -> Result<Option<PathBuf>> {
    let dir = given.unwrap_or(&facts.data_directory);
    match system_identifier(dir) {
        Ok(id) if id.to_string() == facts.system_identifier => Ok(Some(dir.to_path_buf())),
        Ok(id) => Err(Error::WrongDataDirectory {
            dir: dir.to_path_buf(),
            found: id.to_string(),
            server: facts.system_identifier.clone(),
        }),
        Err(e) if given.is_some() => Err(e.into()),
        // Not readable from here (another machine, another user): stream instead.
        Err(_) => Ok(None),
    }
}

fn record(
    facts: &ClusterFacts,
    tablespaces: &[Tablespace],
    (start_lsn, timeline, stop_lsn): (Lsn, u32, Lsn),
    started: DateTime<FixedOffset>,
    pgdata: &Path,
    method: &str,
) -> BaseMeta {
    let seg = facts.wal_segment_size;
    let mut m = BaseMeta {
        system_identifier: facts.system_identifier.clone(),
        version_num: facts.version_num,
        timeline,
        wal_segment_size: seg,
        start_lsn,
        stop_lsn,
        start_wal: segment_name(timeline, start_lsn.segment(seg), seg),
        stop_wal: String::new(),
        started,
        finished: Local::now().fixed_offset(),
        data_directory: pgdata.to_path_buf(),
        tablespaces: tablespaces.to_vec(),
        method: method.to_string(),
    };
    m.stop_wal = segment_name(timeline, m.last_segment(), seg);
    m
}

/// Waits until the last segment the backup needs is in the archive.
fn wait_archived(repo: &Repository, m: &BaseMeta, timeout: Option<Duration>) -> Result<()> {
    let Some(timeout) = timeout else {
        return Ok(());
    };
    let path = object_path(&m.system_identifier, m.timeline, &m.stop_wal);
    let deadline = Instant::now() + timeout;
    loop {
        if repo.storage().object_exists(&path)? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::NotArchived {
                segment: m.stop_wal.clone(),
                seconds: timeout.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The start, timeline and stop of the backup labelled `label`, from the backup history
/// file (`SEGMENT.OFFSET.backup`) PostgreSQL archives when a backup ends.
fn history_positions(
    repo: &Repository,
    facts: &ClusterFacts,
    label: &str,
    timeout: Option<Duration>,
) -> Result<(Lsn, u32, Lsn)> {
    use bunker_sources::postgres::wal::WalFile;
    let system = &facts.system_identifier;
    let seg = facts.wal_segment_size;
    let deadline = Instant::now() + timeout.unwrap_or(Duration::ZERO);
    let mut seen = std::collections::HashSet::new();
    loop {
        let listing = super::wal_archive::list(repo, system, seg)?;
        for a in listing.files.iter().rev() {
            if !matches!(a.file, WalFile::BackupHistory { .. }) || !seen.insert(a.name.clone()) {
                continue;
            }
            let Some(text) = super::wal_archive::fetch(repo, system, &a.name, seg)? else {
                continue;
            };
            let text = String::from_utf8_lossy(&text);
            if let Some(p) = parse_backup_history(&text, label) {
                return Ok(p);
            }
        }
        if Instant::now() >= deadline {
            return Err(Error::HistoryNotArchived {
                label: label.to_string(),
                within: timeout
                    .map(|t| format!(" within {}s", t.as_secs()))
                    .unwrap_or_default(),
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `START WAL LOCATION: 0/2000028 (file ...)`, `STOP WAL LOCATION: ...`, `START
/// TIMELINE: 1` of a backup history file whose `LABEL:` is `label`.
fn parse_backup_history(text: &str, label: &str) -> Option<(Lsn, u32, Lsn)> {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().to_string())
    };
    if field("LABEL:")? != label {
        return None;
    }
    let lsn = |key: &str| field(key)?.split_whitespace().next()?.parse::<Lsn>().ok();
    Some((
        lsn("START WAL LOCATION:")?,
        field("START TIMELINE:")?.parse().ok()?,
        lsn("STOP WAL LOCATION:")?,
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn backup_history_files_give_the_positions() {
        let text = "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n\
                    STOP WAL LOCATION: 0/2000100 (file 000000010000000000000002)\n\
                    CHECKPOINT LOCATION: 0/2000060\nBACKUP METHOD: streamed\n\
                    BACKUP FROM: primary\nSTART TIME: 2026-11-21 21:02:27 UTC\n\
                    LABEL: bunker x 12\nSTART TIMELINE: 1\n\
                    STOP TIME: 2026-11-21 21:02:28 UTC\nSTOP TIMELINE: 1\n";
        let (start, tli, stop) = super::parse_backup_history(text, "bunker x 12").unwrap();
        assert_eq!(
            (start.to_string(), tli, stop.to_string()),
            ("0/2000028".into(), 1, "0/2000100".into())
        );
        assert!(super::parse_backup_history(text, "bunker x 1").is_none());
    }
}
