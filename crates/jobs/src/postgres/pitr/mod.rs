//! `pitr` and `pg standby`: restore a base backup into a new data directory and let
//! PostgreSQL replay the archive to a target (or follow it as a standby). Running the
//! recovered server is `bunker_sources::postgres::DataDirectory`'s.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bunker_repo::{Repository, RestoreProgress};
use bunker_sources::postgres::wal::Lsn;
use bunker_sources::postgres::DataDirectory;
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use super::basebackup::RESTORE_PASSWORD_FILE;
use super::wal_archive;
use super::window::{base_backups, chain, latest_timeline, reach, BaseBackup, ChainLink, Reach};
use crate::error::{Error, Result};

mod data_dir;
mod plan;

use data_dir::{detach_links, io, place_streaming, restore_base, write_recovery_settings};
use plan::{check_target, choose, pick_system};

/// Where recovery stops.
#[derive(Clone, Debug)]
pub enum Target {
    Time(DateTime<FixedOffset>),
    Lsn(Lsn),
    Xid(String),
    Name(String),
    /// As soon as the base backup is consistent.
    Immediate,
    /// The end of the archive (and of the segment `wal-receive` keeps in progress).
    Latest,
}

#[derive(Clone, Debug)]
pub struct PitrOptions {
    pub to: PathBuf,
    pub target: Target,
    /// A timeline to recover along (default: the newest in the archive).
    pub timeline: Option<u32>,
    /// A base backup snapshot to use instead of the one bunker picks.
    pub base: Option<String>,
    /// The system to recover when the repository holds several.
    pub system: Option<String>,
    /// `restore_command` to write (it runs `bunker wal-fetch`).
    pub restore_command: String,
    /// The repository password, when the restore_command reads it from
    /// [`RESTORE_PASSWORD_FILE`] in the data directory (it came from the environment or
    /// a prompt, which the server does not have).
    pub restore_password: Option<String>,
    /// Extra `name = value` settings for the recovered server.
    pub settings: Vec<(String, String)>,
    /// Build a standby (standby.signal, no target) instead of recovering to a point.
    pub standby: bool,
    pub primary_conninfo: Option<String>,
    /// Start the server and wait for recovery to end.
    pub start: bool,
    /// The server binaries (pg_ctl); default: PATH.
    pub server_bin: Option<PathBuf>,
    pub start_timeout: Duration,
    pub threads: usize,
    /// The restore of the base backup, for a progress display.
    pub progress: Arc<RestoreProgress>,
}

/// What a recovery did.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PitrReport {
    pub data_directory: PathBuf,
    pub base_snapshot: String,
    pub system_identifier: String,
    pub base_timeline: u32,
    pub base_stop_lsn: Lsn,
    pub target: String,
    /// The window the archive offered for this base backup.
    pub window_start: Lsn,
    pub window_end: Lsn,
    pub window_end_time: Option<DateTime<FixedOffset>>,
    pub streamed_segment: Option<String>,
    pub restore_seconds: f64,
    /// Set with `--start`: where the server ended up.
    pub reached: Option<Reached>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Reached {
    /// A standby is still recovering (it follows the archive); a recovery has ended.
    pub in_recovery: bool,
    pub timeline: u32,
    pub lsn: String,
    pub last_transaction: Option<String>,
    pub recovery_seconds: f64,
    pub port: u16,
    pub socket_dir: String,
}

/// Restores a base backup into `opts.to` and sets it up to recover; with `start`, runs
/// the recovery and reports where it ended. A recovery that fails leaves the target as
/// it found it: a server it started is stopped, what it wrote is removed.
pub fn pitr(repo: Arc<Repository>, opts: &PitrOptions) -> Result<PitrReport> {
    let created = prepare_target_dir(&opts.to)?;
    let result = recover(repo, opts);
    if result.is_err() {
        undo(opts, created);
    }
    result
}

fn recover(repo: Arc<Repository>, opts: &PitrOptions) -> Result<PitrReport> {
    let bases = base_backups(&repo)?;
    let system = pick_system(&repo, &bases, opts.system.as_deref())?;
    let bases: Vec<BaseBackup> = bases
        .into_iter()
        .filter(|b| b.meta.system_identifier == system)
        .collect();
    let Some(any) = bases.first() else {
        return Err(Error::NoBaseOfSystem(system));
    };
    let seg = any.meta.wal_segment_size;
    let listing = wal_archive::list(&repo, &system, seg)?;
    // A recovery to a target follows the base backup's own timeline unless told
    // otherwise (PostgreSQL's 'current'): earlier recoveries from the same archive made
    // newer timelines that do not hold the history the target is in. --latest and
    // standbys follow the newest timeline.
    let follows_base =
        opts.timeline.is_none() && !opts.standby && !matches!(opts.target, Target::Latest);
    let fixed_tli = opts.timeline.unwrap_or_else(|| latest_timeline(&listing));
    let mut chains: std::collections::HashMap<u32, Vec<ChainLink>> =
        std::collections::HashMap::new();
    for b in &bases {
        let t = if follows_base {
            b.meta.timeline
        } else {
            fixed_tli
        };
        if let std::collections::hash_map::Entry::Vacant(e) = chains.entry(t) {
            e.insert(chain(&repo, &system, t, seg)?);
        }
    }
    let links_for = |b: &BaseBackup| -> &Vec<ChainLink> {
        &chains[&if follows_base {
            b.meta.timeline
        } else {
            fixed_tli
        }]
    };
    // Base backups on their timeline chain, whose WAL is complete.
    let on_chain = |b: &&BaseBackup| {
        links_for(b)
            .iter()
            .any(|l| l.tli == b.meta.timeline && l.end.is_none_or(|e| b.meta.stop_lsn <= e))
    };
    let candidates: Vec<(&BaseBackup, Reach)> = bases
        .iter()
        .filter(on_chain)
        .map(|b| (b, reach(&listing, &b.meta, links_for(b))))
        .filter(|(_, r)| r.consistent)
        .collect();
    let tli = if follows_base { None } else { Some(fixed_tli) };
    let (base, r) = match &opts.base {
        Some(id) => {
            let b = bases
                .iter()
                .find(|b| b.snapshot.id.to_hex().starts_with(id.as_str()))
                .ok_or_else(|| Error::NoSuchBase {
                    id: id.clone(),
                    system: system.clone(),
                })?;
            let r = reach(&listing, &b.meta, links_for(b));
            if !r.consistent {
                return Err(Error::BaseIncomplete {
                    snapshot: b.snapshot.short_id(),
                    start_wal: b.meta.start_wal.clone(),
                    stop_wal: b.meta.stop_wal.clone(),
                });
            }
            (b, r)
        }
        None => choose(&candidates, &opts.target, tli)?,
    };
    check_target(base, &r, &opts.target)?;
    let started = Instant::now();
    restore_base(&repo, base, &opts.to, opts.threads, &opts.progress)?;
    detach_links(&opts.to)?;
    let streamed = if matches!(opts.target, Target::Latest) || opts.standby {
        place_streaming(&repo, &system, &r, &opts.to, seg)?
    } else {
        None
    };
    write_recovery_settings(opts, tli)?;
    hand_over(opts)?;
    let restore_seconds = started.elapsed().as_secs_f64();
    let mut report = PitrReport {
        data_directory: opts.to.clone(),
        base_snapshot: base.snapshot.id.to_hex(),
        system_identifier: system,
        base_timeline: base.meta.timeline,
        base_stop_lsn: base.meta.stop_lsn,
        target: if opts.standby {
            "standby".into()
        } else {
            opts.target.describe()
        },
        window_start: base.meta.stop_lsn,
        window_end: r.end_lsn,
        window_end_time: r.end_time,
        streamed_segment: streamed,
        restore_seconds,
        reached: None,
    };
    if opts.start {
        report.reached = Some(start_and_wait(opts)?);
    }
    Ok(report)
}

/// Makes sure `dir` is a new or empty directory; says whether it was created.
fn prepare_target_dir(dir: &Path) -> Result<bool> {
    let created = match std::fs::read_dir(dir) {
        Ok(mut rd) => {
            if rd.next().is_some() {
                return Err(Error::NotEmpty(dir.to_path_buf()));
            }
            false
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
            true
        }
        Err(e) => return Err(io(dir, e)),
    };
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| io(dir, e))?;
    Ok(created)
}

/// After a failure: stops the server if it runs from the target, then removes what the
/// recovery wrote (the directory was empty or absent before, so all of it).
fn undo(opts: &PitrOptions, created: bool) {
    let to = &opts.to;
    data_directory(opts).stop_immediately();
    if created {
        let _ = std::fs::remove_dir_all(to);
        return;
    }
    if let Ok(rd) = std::fs::read_dir(to) {
        for e in rd.flatten() {
            let p = e.path();
            // remove_dir_all removes links themselves, never what they point to.
            let _ = match e.file_type() {
                Ok(t) if t.is_dir() => std::fs::remove_dir_all(&p),
                _ => std::fs::remove_file(&p),
            };
        }
    }
}

/// As root, gives the directory and what bunker created in it to the owner of the
/// restored files (the server refuses a data directory it does not own).
fn hand_over(opts: &PitrOptions) -> Result<()> {
    let to = &opts.to;
    let created = [
        to.join("pg_wal"),
        to.join("pg_wal/archive_status"),
        to.join("recovery.signal"),
        to.join("standby.signal"),
        to.join("postgresql.auto.conf"),
        to.join(RESTORE_PASSWORD_FILE),
    ];
    Ok(data_directory(opts).hand_over(&created)?)
}

fn data_directory(opts: &PitrOptions) -> DataDirectory<'_> {
    DataDirectory::new(&opts.to, opts.server_bin.as_deref())
}

/// Starts the recovered server and waits until it has left recovery (or, for a
/// standby, until it runs).
fn start_and_wait(opts: &PitrOptions) -> Result<Reached> {
    let started = Instant::now();
    let log = opts.to.join("bunker-recovery.log");
    let r = data_directory(opts).start_and_wait(&log, opts.standby, opts.start_timeout)?;
    Ok(Reached {
        in_recovery: r.in_recovery,
        timeline: r.timeline,
        lsn: r.lsn,
        last_transaction: r.last_transaction,
        recovery_seconds: started.elapsed().as_secs_f64(),
        port: r.port,
        socket_dir: r.socket_dir,
    })
}
