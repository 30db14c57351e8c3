//! What follows a backup: copies to secondary repositories, retention, prune, checks
//! and restore drills.

use std::sync::Arc;

use bunker_repo::{
    apply_policy, check, copy, forget, select_for_forget, CheckProgress, GroupBy, PruneOptions,
    PruneProgress, Repository, Snapshot, SnapshotFilter,
};
use chrono::Local;

use super::backup::job_tag;
use crate::choice::{choose, Choice};
use crate::config::{JobConfig, Verify};
use crate::drill::{self, Assertions, DrillReport};

/// Copies one snapshot to a secondary repository; returns the copy's id (None when
/// the destination had it already).
pub fn copy_snapshot(
    src: &Repository,
    dst: Arc<Repository>,
    snapshot: &Snapshot,
) -> Result<Option<String>, String> {
    let report = copy(
        src,
        dst,
        std::slice::from_ref(snapshot),
        0,
        &Default::default(),
    )
    .map_err(|e| e.to_string())?;
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
/// Prunes as `bunker prune` does: unused packs, then the WAL older than every base
/// backup left of its system.
pub fn run_prune(repo: &Arc<Repository>) -> Result<usize, String> {
    let pruned = crate::prune::prune(repo, &PruneOptions::default(), &PruneProgress::default())
        .map_err(|e| e.to_string())?;
    Ok(pruned.plan.packs_delete.len())
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

/// Drills the snapshot of the job `choice` names (the runner: the newest) the way its
/// source drills (PostgreSQL into scratch databases on the job's server, trees into a
/// scratch directory under `scratch_root`) and stores the report (its id is returned).
pub fn run_drill(
    name: &str,
    job: &JobConfig,
    repo: &Arc<Repository>,
    scratch_root: &std::path::Path,
    choice: &Choice,
) -> Result<(String, DrillReport), String> {
    let what = format!("snapshot of job {name}");
    let snapshot = choose(repo, choice, &job_filter(name), &what).map_err(|e| e.to_string())?;
    let (expect, min_rows, sql) = job.drill_assertions();
    let assertions = Assertions::parse(&expect, &min_rows, &sql).map_err(|e| e.to_string())?;
    let mut report = job
        .source
        .source()
        .drill(repo, &snapshot, scratch_root, &assertions)
        .map_err(|e| e.to_string())?;
    report.job = Some(name.to_string());
    let id = drill::save_report(repo, &report).map_err(|e| e.to_string())?;
    Ok((id.to_hex(), report))
}
