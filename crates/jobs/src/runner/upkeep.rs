//! What follows a backup: copies to secondary repositories, retention, prune, checks
//! and restore drills.

use std::os::unix::fs::DirBuilderExt;
use std::sync::Arc;
use std::time::Instant;

use bunker_repo::{
    apply_policy, check, copy, forget, prune, select_for_forget, CheckProgress, GroupBy,
    PruneOptions, PruneProgress, Repository, RestoreOptions, RestoreProgress, Snapshot,
    SnapshotFilter,
};
use chrono::Local;

use super::backup::job_tag;
use crate::choice::{choose, Choice};
use crate::config::{JobConfig, Verify};
use crate::drill::{self, Assertions, Check, DatabaseDrill, DrillReport};
use crate::postgres::PgSnapshot;

/// Copies one snapshot to a secondary repository; returns the copy's id (None when
/// the destination had it already).
pub fn copy_snapshot(
    src: &Repository,
    dst: Arc<Repository>,
    snapshot: &Snapshot,
) -> Result<Option<String>, String> {
    let report = copy(src, dst, std::slice::from_ref(snapshot), 0).map_err(|e| e.to_string())?;
    Ok(report.copied.first().map(|(_, id)| id.to_hex()))
}

/// The job's snapshots in a repository.
pub fn job_filter(name: &str) -> SnapshotFilter {
    SnapshotFilter {
        tags: vec![job_tag(name)],
        ..Default::default()
    }
}

/// Applies the job's retention to its own snapshots in `repo` (snapshots of other jobs
/// in the same repository are not touched); returns how many were removed.
pub fn apply_retention(name: &str, job: &JobConfig, repo: &Repository) -> Result<usize, String> {
    let Some(retention) = &job.retention else {
        return Ok(0);
    };
    let (all, _damaged) = repo.load_snapshots().map_err(|e| e.to_string())?;
    let selected = select_for_forget(all, &job_filter(name));
    // One group per host: a job is one logical backup even when its paths change.
    let group_by = GroupBy {
        host: true,
        paths: false,
        tags: false,
    };
    let decisions = apply_policy(&selected, &retention.policy(), group_by, &Local::now());
    let removed = forget(repo, &decisions, false).map_err(|e| e.to_string())?;
    Ok(removed.len())
}

/// Number of the job's snapshots in `repo`.
pub fn count_snapshots(name: &str, repo: &Repository) -> Result<u64, String> {
    let (all, _) = repo.load_snapshots().map_err(|e| e.to_string())?;
    Ok(select_for_forget(all, &job_filter(name)).len() as u64)
}

/// Prunes with restic's defaults; returns the number of packs deleted.
pub fn run_prune(repo: &Arc<Repository>) -> Result<usize, String> {
    let plan = prune(repo, &PruneOptions::default(), &PruneProgress::default())
        .map_err(|e| e.to_string())?;
    Ok(plan.packs_delete.len())
}

/// Checks the repository (reading the configured share of packs); the first error is
/// the failure.
pub fn run_check(repo: &Repository, verify: &Verify) -> Result<String, String> {
    let report =
        check(repo, verify.read_data(), &CheckProgress::default()).map_err(|e| e.to_string())?;
    if !report.is_ok() {
        return Err(format!(
            "check found {} error(s): {}",
            report.errors.len(),
            report.errors.first().cloned().unwrap_or_default()
        ));
    }
    Ok(format!(
        "{} snapshots, {} packs, {} read in full",
        report.snapshots, report.packs, report.packs_read
    ))
}

/// Drills the snapshot of the job `choice` names (the runner: the newest) and stores the
/// report (its id is returned): PostgreSQL databases are restored into scratch databases
/// on the job's server and checked; files and command output are restored into a
/// scratch directory and compared with what the snapshot says it holds.
pub fn run_drill(
    name: &str,
    job: &JobConfig,
    repo: &Arc<Repository>,
    scratch_root: &std::path::Path,
    choice: &Choice,
) -> Result<(String, DrillReport), String> {
    let what = format!("snapshot of job {name}");
    let snapshot = choose(repo, choice, &job_filter(name), &what).map_err(|e| e.to_string())?;
    let mut report = match job.postgres() {
        Some(conn) => {
            let server = super::backup::pg_server(conn.dsn, conn.pg_bin);
            let v = job.drill_assertions();
            let assertions = Assertions::parse(&v.0, &v.1, &v.2).map_err(|e| e.to_string())?;
            let pg = PgSnapshot::load(repo.clone(), snapshot).map_err(|e| e.to_string())?;
            drill::drill_pg(&pg, &server, &[], &assertions, bunker_repo::hostname())
                .map_err(|e| e.to_string())?
        }
        None => drill_files(repo, &snapshot, scratch_root)?,
    };
    report.job = Some(name.to_string());
    let id = drill::save_report(repo, &report).map_err(|e| e.to_string())?;
    Ok((id.to_hex(), report))
}

fn drill_files(
    repo: &Arc<Repository>,
    snapshot: &Snapshot,
    scratch_root: &std::path::Path,
) -> Result<DrillReport, String> {
    // Restored data: as private as the state directory it lives in.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(scratch_root)
        .map_err(|e| e.to_string())?;
    let scratch = tempfile_dir(scratch_root)?;
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

/// A fresh directory under `root` for one drill.
fn tempfile_dir(root: &std::path::Path) -> Result<std::path::PathBuf, String> {
    let dir = root.join(format!("drill-{:016x}", rand::random::<u64>()));
    std::fs::create_dir(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Regular files and their bytes under `dir`.
fn tree_totals(dir: &std::path::Path) -> (u64, u64) {
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
