//! `pitr` and `pg standby`: restore a base backup into a new data directory and let
//! PostgreSQL replay the archive to a target (or follow it as a standby). Running the
//! recovered server is `bunker_sources::postgres::DataDirectory`'s.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bunker_repo::{Repository, RestoreOptions, RestoreProgress};
use bunker_sources::postgres::wal::{segment_name, Lsn, WalFile};
use bunker_sources::postgres::{quote_literal, DataDirectory};
use chrono::{DateTime, FixedOffset, Local};
use serde::{Deserialize, Serialize};

use super::basebackup::{BASE_TAR, RESTORE_PASSWORD_FILE};
use super::wal_archive::{self, STREAMING_SUFFIX};
use super::window::{base_backups, chain, latest_timeline, reach, BaseBackup, ChainLink, Reach};
use crate::error::{Error, Result};

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

impl Target {
    fn describe(&self) -> String {
        match self {
            Target::Time(t) => format!("time {}", t.to_rfc3339()),
            Target::Lsn(l) => format!("LSN {l}"),
            Target::Xid(x) => format!("transaction {x}"),
            Target::Name(n) => format!("restore point {n:?}"),
            Target::Immediate => "the end of the base backup".into(),
            Target::Latest => "the end of the archive".into(),
        }
    }

    fn settings(&self) -> Vec<(&'static str, String)> {
        let one = |k: &'static str, v: String| vec![(k, v)];
        let mut s = match self {
            Target::Time(t) => one(
                "recovery_target_time",
                t.format("%Y-%m-%d %H:%M:%S%.6f%:z").to_string(),
            ),
            Target::Lsn(l) => one("recovery_target_lsn", l.to_string()),
            Target::Xid(x) => one("recovery_target_xid", x.clone()),
            Target::Name(n) => one("recovery_target_name", n.clone()),
            Target::Immediate => one("recovery_target", "immediate".into()),
            Target::Latest => Vec::new(),
        };
        if !matches!(self, Target::Latest) {
            s.push(("recovery_target_action", "promote".into()));
        }
        s
    }
}

fn window_text(base: &BaseBackup, r: &Reach) -> String {
    let end_time = r
        .end_time
        .map(|t| format!(" ({})", t.format("%Y-%m-%d %H:%M:%S%:z")))
        .unwrap_or_default();
    format!(
        "from {} ({}) to {}{}",
        base.meta.stop_lsn,
        base.meta.finished.format("%Y-%m-%d %H:%M:%S%:z"),
        r.end_lsn,
        end_time
    )
}

fn pick_system(repo: &Repository, bases: &[BaseBackup], given: Option<&str>) -> Result<String> {
    if let Some(s) = given {
        return Ok(s.to_string());
    }
    let mut systems: Vec<String> = bases
        .iter()
        .map(|b| b.meta.system_identifier.clone())
        .collect();
    systems.extend(wal_archive::systems(repo)?);
    systems.sort();
    systems.dedup();
    match systems.len() {
        0 => Err(Error::NoBaseBackup),
        1 => Ok(systems.remove(0)),
        _ => Err(Error::SeveralSystems(systems)),
    }
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
    restore_base(&repo, base, &opts.to, opts.threads)?;
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

/// The newest usable base backup that ends before the target.
fn choose<'a>(
    candidates: &'a [(&'a BaseBackup, Reach)],
    target: &Target,
    tli: Option<u32>,
) -> Result<(&'a BaseBackup, Reach)> {
    let along = match tli {
        Some(t) => format!("along timeline {t}"),
        None => "along the base backups' timelines".to_string(),
    };
    let fits = |b: &BaseBackup| match target {
        Target::Time(t) => b.meta.finished <= *t,
        Target::Lsn(l) => b.meta.stop_lsn <= *l,
        _ => true,
    };
    if let Some((b, r)) = candidates.iter().rev().find(|(b, _)| fits(b)) {
        return Ok((b, r.clone()));
    }
    match candidates.first() {
        Some((oldest, r)) => Err(Error::BeforeWindow {
            target: target.describe(),
            window: window_text(oldest, r),
            along,
        }),
        None => Err(Error::NoRecoverableBase { along }),
    }
}

/// Refuses targets past the archive's end, naming the window and any gap.
fn check_target(base: &BaseBackup, r: &Reach, target: &Target) -> Result<()> {
    let beyond = match target {
        Target::Lsn(l) => *l > r.end_lsn && r.streaming.is_none(),
        Target::Time(t) => r.streaming.is_none() && r.end_time.is_some_and(|end| *t > end),
        _ => false,
    };
    if !beyond {
        return Ok(());
    }
    let why = match &r.gap {
        Some(g) => format!(
            "segments {} to {} are missing from the archive",
            g.first, g.last
        ),
        None => "the archive ends there".to_string(),
    };
    Err(Error::PastWindow {
        target: target.describe(),
        window: window_text(base, r),
        why,
    })
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

/// A base backup of a cluster that keeps its WAL elsewhere (`initdb --waldir`) holds
/// `pg_wal` as a link to the primary's WAL directory: a recovered server must never
/// write there. The link becomes a directory of the target's own, as pg_basebackup
/// makes it. Tablespace links lead to the primary's tablespaces, which a base backup
/// does not hold: refused before anything follows them.
fn detach_links(to: &Path) -> Result<()> {
    let wal = to.join("pg_wal");
    if let Ok(m) = std::fs::symlink_metadata(&wal) {
        if m.file_type().is_symlink() {
            std::fs::remove_file(&wal).map_err(|e| io(&wal, e))?;
            std::fs::create_dir(&wal).map_err(|e| io(&wal, e))?;
            std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| io(&wal, e))?;
        }
    }
    let tblspc = to.join("pg_tblspc");
    if let Ok(rd) = std::fs::read_dir(&tblspc) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_symlink()) {
                let target = std::fs::read_link(e.path()).unwrap_or_default();
                return Err(Error::TablespaceLink {
                    name: e.file_name().to_string_lossy().into_owned(),
                    target,
                });
            }
        }
    }
    Ok(())
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

fn restore_base(
    repo: &Arc<Repository>,
    base: &BaseBackup,
    to: &Path,
    threads: usize,
) -> Result<()> {
    if base.meta.method == "pg_basebackup" {
        repo.load_index()?;
        let tree = repo.load_tree(&base.snapshot.tree)?;
        let node = tree
            .find(BASE_TAR.as_bytes())
            .ok_or_else(|| Error::NoBaseTar {
                snapshot: base.snapshot.short_id(),
                file: BASE_TAR,
            })?;
        let mut rd = bunker_repo::FileReader::new(repo.clone(), node.content.clone());
        let mut tar = Command::new("tar")
            .args(["-x", "-f", "-", "-C"])
            .arg(to)
            .stdin(Stdio::piped())
            .spawn()
            .map_err(|e| Error::Spawn {
                program: "tar".into(),
                source: e,
            })?;
        let copied = std::io::copy(&mut rd, tar.stdin.as_mut().expect("piped"));
        drop(tar.stdin.take());
        let status = tar.wait().map_err(|e| Error::Wait {
            program: "tar".into(),
            source: e,
        })?;
        copied.map_err(|e| Error::Extract {
            file: BASE_TAR,
            source: e,
        })?;
        if !status.success() {
            return Err(Error::TarFailed {
                file: BASE_TAR,
                status: status.to_string(),
            });
        }
        return Ok(());
    }
    let ropts = RestoreOptions {
        threads,
        ..Default::default()
    };
    let r = bunker_repo::restore(
        repo,
        &base.snapshot,
        to,
        &ropts,
        &RestoreProgress::default(),
    )?;
    if !r.damaged.is_empty() {
        return Err(Error::BaseDamaged(r.damaged));
    }
    Ok(())
}

/// Puts the segment `wal-receive` keeps in progress into `pg_wal`, where recovery reads
/// it after the archive has no more.
fn place_streaming(
    repo: &Repository,
    system: &str,
    r: &Reach,
    to: &Path,
    seg: u64,
) -> Result<Option<String>> {
    let Some(name) = &r.streaming else {
        return Ok(None);
    };
    let base = name.strip_suffix(STREAMING_SUFFIX).unwrap_or(name);
    let Some(data) = wal_archive::fetch(repo, system, name, seg)? else {
        return Ok(None);
    };
    let file = match WalFile::parse(base, seg) {
        Some(WalFile::Segment { tli, segno } | WalFile::Partial { tli, segno }) => {
            segment_name(tli, segno, seg)
        }
        _ => return Ok(None),
    };
    let wal = to.join("pg_wal");
    std::fs::create_dir_all(&wal).map_err(|e| io(&wal, e))?;
    let mut padded = data;
    padded.resize(seg as usize, 0);
    wal_archive::write_file(&wal.join(&file), &padded)?;
    Ok(Some(file))
}

/// One setting; a value given already as a quoted literal (`--set "x='a b'"`) is kept
/// as it is instead of being quoted again.
fn conf_line(name: &str, value: &str) -> String {
    if is_quoted_literal(value) {
        return format!("{name} = {value}\n");
    }
    format!("{name} = {}\n", quote_literal(value))
}

/// `'…'` with every quote inside doubled.
fn is_quoted_literal(v: &str) -> bool {
    let Some(inner) = v.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) else {
        return false;
    };
    v.len() >= 2 && inner.replace("''", "").find('\'').is_none()
}

/// `tli`: the timeline to follow; `None` for the base backup's own ('current').
fn write_recovery_settings(opts: &PitrOptions, tli: Option<u32>) -> Result<()> {
    let to = &opts.to;
    for d in ["pg_wal", "pg_wal/archive_status"] {
        let p = to.join(d);
        std::fs::create_dir_all(&p).map_err(|e| io(&p, e))?;
    }
    for f in ["recovery.signal", "standby.signal"] {
        let _ = std::fs::remove_file(to.join(f));
    }
    let signal = if opts.standby {
        "standby.signal"
    } else {
        "recovery.signal"
    };
    std::fs::write(to.join(signal), b"").map_err(|e| io(&to.join(signal), e))?;
    let mut conf = format!(
        "\n# Added by bunker {} on {}: recovery from the WAL archive.\n",
        if opts.standby { "pg standby" } else { "pitr" },
        Local::now().format("%Y-%m-%d %H:%M:%S%:z")
    );
    conf.push_str(&conf_line("restore_command", &opts.restore_command));
    conf.push_str(&conf_line(
        "recovery_target_timeline",
        &match (opts.timeline, tli) {
            (Some(t), _) => t.to_string(),
            (None, None) => "current".to_string(),
            (None, Some(_)) => "latest".to_string(),
        },
    ));
    if opts.standby {
        if let Some(c) = &opts.primary_conninfo {
            conf.push_str(&conf_line("primary_conninfo", c));
        }
    } else {
        for (k, v) in opts.target.settings() {
            conf.push_str(&conf_line(k, &v));
        }
    }
    for (k, v) in &opts.settings {
        conf.push_str(&conf_line(k, v));
    }
    if let Some(pw) = &opts.restore_password {
        let path = to.join(RESTORE_PASSWORD_FILE);
        OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| f.write_all(format!("{pw}\n").as_bytes()))
            .map_err(|e| io(&path, e))?;
    }
    let path = to.join("postgresql.auto.conf");
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(conf.as_bytes()))
        .map_err(|e| io(&path, e))
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
