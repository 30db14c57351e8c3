//! A snapshot as a file tree, whatever made it (a walk of paths, a command's output):
//! restored into a directory, and drilled by restoring into scratch space and comparing
//! what came back with what the snapshot says it holds.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use bunker_repo::{Repository, RestoreOptions, RestoreProgress, Snapshot};
use chrono::Local;

use super::{Item, Restored, Target};
use crate::drill::{Check, DatabaseDrill, DrillReport};
use crate::error::{Error, Result};

/// Restores a tree to a new place; in place, a tree source cannot: `instead` says
/// what to do.
pub(super) fn restore(
    repo: &Arc<Repository>,
    snapshot: &Snapshot,
    target: &Target,
    kind: &'static str,
    instead: &'static str,
) -> Result<Restored> {
    match target {
        Target::New { to, .. } => restore_into(repo, snapshot, to),
        Target::InPlace { .. } => Err(Error::Unsupported {
            kind,
            what: instead,
        }),
    }
}

/// Restores the whole snapshot into directory `to`, which must be new or empty.
fn restore_into(repo: &Arc<Repository>, snapshot: &Snapshot, to: &str) -> Result<Restored> {
    let dir = Path::new(to);
    let empty = match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => {
            return Err(Error::Io {
                path: dir.to_path_buf(),
                source: e,
            })
        }
    };
    if !empty {
        return Err(Error::TargetExists(to.to_string()));
    }
    let r = bunker_repo::restore(
        repo,
        snapshot,
        dir,
        &RestoreOptions::default(),
        &RestoreProgress::default(),
    )?;
    Ok(Restored {
        to: to.to_string(),
        files: r.files,
        bytes: r.bytes,
        damaged: r.damaged,
        safety_snapshot: None,
    })
}

/// Restores the snapshot into a fresh directory under `scratch_root` and checks that
/// the files and bytes restored are those the snapshot's summary counts. The report's
/// kind is "files" for every tree.
pub(super) fn drill(
    repo: &Arc<Repository>,
    snapshot: &Snapshot,
    scratch_root: &Path,
) -> Result<DrillReport> {
    let scratch = scratch_dir(scratch_root)?;
    let started = Local::now().fixed_offset();
    let t0 = Instant::now();
    let restored = bunker_repo::restore(
        repo,
        snapshot,
        &scratch,
        &RestoreOptions::default(),
        &RestoreProgress::default(),
    );
    let restore_seconds = t0.elapsed().as_secs_f64();
    let mut checks = Vec::new();
    match restored {
        Err(e) => checks.push(check_of("restore", false, e.to_string())),
        Ok(r) => {
            checks.push(check_of(
                "restore",
                r.damaged.is_empty(),
                format!("{} files in {restore_seconds:.1} s", r.files),
            ));
            let (files, bytes) = tree_totals(&scratch);
            let summary = snapshot.summary.clone().unwrap_or_default();
            if summary.total_files_processed > 0 {
                checks.push(check_of(
                    "files match the snapshot",
                    files == summary.total_files_processed,
                    format!(
                        "{files} restored, {} in snapshot",
                        summary.total_files_processed
                    ),
                ));
                checks.push(check_of(
                    "bytes match the snapshot",
                    bytes == summary.total_bytes_processed,
                    format!(
                        "{bytes} restored, {} in snapshot",
                        summary.total_bytes_processed
                    ),
                ));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let passed = checks.iter().all(|c| c.passed);
    Ok(DrillReport {
        kind: "files".into(),
        snapshot: snapshot.id.to_hex(),
        snapshot_time: snapshot.time,
        host: bunker_repo::hostname(),
        started,
        finished: Local::now().fixed_offset(),
        data_age_seconds: (started - snapshot.time).num_milliseconds() as f64 / 1000.0,
        restore_seconds,
        passed,
        databases: vec![DatabaseDrill {
            name: "files".into(),
            scratch_database: scratch.display().to_string(),
            restore_seconds,
            passed,
            checks,
            tables: Vec::new(),
        }],
        job: None,
    })
}

fn check_of(name: &str, passed: bool, detail: String) -> Check {
    Check {
        name: name.into(),
        passed,
        detail,
    }
}

/// A fresh directory under `root` for one drill; `root` is made private (0700) if it is
/// new: restored data is as private as the state directory it lives in.
pub(super) fn scratch_dir(root: &Path) -> Result<PathBuf> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .map_err(|e| Error::Io {
            path: root.to_path_buf(),
            source: e,
        })?;
    let dir = root.join(format!("drill-{:016x}", rand::random::<u64>()));
    std::fs::create_dir(&dir).map_err(|e| Error::Io {
        path: dir.clone(),
        source: e,
    })?;
    Ok(dir)
}

/// What a snapshot of one stored file holds (a command's output, a database file): the
/// file, with the bytes the snapshot counts.
pub(super) fn single_file(snapshot: &Snapshot, what: &'static str) -> Vec<Item> {
    let bytes = snapshot.summary.as_ref().map(|s| s.total_bytes_processed);
    snapshot
        .paths
        .iter()
        .map(|p| Item {
            name: p.trim_start_matches('/').to_string(),
            what,
            bytes,
        })
        .collect()
}

/// Regular files and their bytes under `dir`.
fn tree_totals(dir: &Path) -> (u64, u64) {
    let mut files = 0;
    let mut bytes = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(meta) = e.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(e.path());
            } else if meta.is_file() {
                files += 1;
                bytes += meta.len();
            }
        }
    }
    (files, bytes)
}
