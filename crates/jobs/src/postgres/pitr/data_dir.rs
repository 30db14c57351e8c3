//! The recovered data directory: the base backup restored into it, links that lead
//! out of it detached, the streamed segment placed, and the recovery settings written.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bunker_repo::{Repository, RestoreOptions, RestoreProgress};
use bunker_sources::postgres::quote_literal;
use bunker_sources::postgres::wal::{segment_name, WalFile};
use chrono::Local;

use super::PitrOptions;
use crate::error::{Error, Result};
use crate::postgres::basebackup::{BASE_TAR, RESTORE_PASSWORD_FILE};
use crate::postgres::wal_archive::{self, STREAMING_SUFFIX};
use crate::postgres::window::{BaseBackup, Reach};

/// A base backup of a cluster that keeps its WAL elsewhere (`initdb --waldir`) holds
/// `pg_wal` as a link to the primary's WAL directory: a recovered server must never
/// write there. The link becomes a directory of the target's own, as pg_basebackup
/// makes it. Tablespace links lead to the primary's tablespaces, which a base backup
/// does not hold: refused before anything follows them.
pub(super) fn detach_links(to: &Path) -> Result<()> {
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

pub(super) fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

pub(super) fn restore_base(
    repo: &Arc<Repository>,
    base: &BaseBackup,
    to: &Path,
    threads: usize,
    progress: &RestoreProgress,
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
        progress.total_bytes.store(node.size, Ordering::Relaxed);
        progress.total_files.store(1, Ordering::Relaxed);
        let copied = copy_counting(&mut rd, tar.stdin.as_mut().expect("piped"), progress);
        progress.files.store(1, Ordering::Relaxed);
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
    let r = bunker_repo::restore(repo, &base.snapshot, to, &ropts, progress)?;
    if !r.damaged.is_empty() {
        return Err(Error::BaseDamaged(r.damaged));
    }
    Ok(())
}

/// `std::io::copy` that counts what it copied into `progress.bytes`.
fn copy_counting(
    from: &mut impl std::io::Read,
    to: &mut impl std::io::Write,
    progress: &RestoreProgress,
) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        total += n as u64;
        progress.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Puts the segment `wal-receive` keeps in progress into `pg_wal`, where recovery reads
/// it after the archive has no more.
pub(super) fn place_streaming(
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
pub(super) fn write_recovery_settings(opts: &PitrOptions, tli: Option<u32>) -> Result<()> {
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
