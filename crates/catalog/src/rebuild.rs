//! `bunker catalog rebuild`: the catalog reconstructed from what the repositories hold,
//! for when the local file is lost. Snapshots tagged `job=NAME` become successful runs,
//! `drills/` reports become drills, and `audit/` gives back the audit log.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bunker_repo::{FileType, Id, Repository, Snapshot};
use chrono::{DateTime, FixedOffset, Utc};
use rusqlite::TransactionBehavior;
use serde::Deserialize;

use crate::audit::{insert_audit, sort_oldest_first, AuditEvent};
use crate::drills::{insert_drill, DrillRecord};
use crate::error::Result;
use crate::objects::load_all;
use crate::runs::{insert_finished_run, Outcome, Run, Trigger};
use crate::Catalog;

/// What a rebuild restored, after duplicates across repositories were dropped.
#[derive(Clone, Debug, Default)]
pub struct RebuildReport {
    pub runs: usize,
    pub drills: usize,
    pub audit: usize,
    /// Files that could not be read, and drills whose job could not be told; the
    /// rebuild went on without them.
    pub warnings: Vec<String>,
}

/// Replaces the catalog's runs, drills and audit log with what `repos` (named as the
/// configuration names them) hold: one successful run per snapshot tagged `job=NAME`,
/// counted once across repositories (a copy and its original are one run, credited to
/// the first repository listed that holds it); the drills of `drills/`, with the job
/// from the report, else from the drilled snapshot's tag; and the events of `audit/`.
/// Open incidents, first-seen times and runs still running are kept. Everything is
/// read before the catalog is touched, and replaced in one transaction.
pub fn rebuild(cat: &Catalog, repos: &[(String, Arc<Repository>)]) -> Result<RebuildReport> {
    let mut runs = Vec::new();
    let mut drills = Vec::new();
    let mut events = Vec::new();
    let mut warnings = Vec::new();
    let mut lineages = HashSet::new();
    for (name, repo) in repos {
        let (snapshots, damaged) = repo.load_snapshots()?;
        warnings.extend(damaged.iter().map(|e| format!("{name}: {e}")));
        let mut job_of_snapshot = HashMap::new();
        for s in &snapshots {
            let Some(job) = job_tag(s) else { continue };
            job_of_snapshot.insert(s.id.to_hex(), job.to_string());
            if lineages.insert(s.original.unwrap_or(s.id)) {
                runs.push(run_of(name, job, s));
            }
        }
        for (id, loaded) in load_all::<StoredDrill>(repo, FileType::Drill)? {
            match loaded {
                Ok(d) => match d.record(id, &job_of_snapshot) {
                    Some(record) => drills.push(record),
                    None => warnings.push(format!(
                        "{name}: drill report {id} names no job and its snapshot {} \
                         is gone or has no job= tag",
                        d.snapshot
                    )),
                },
                Err(e) => warnings.push(format!("{name}: {e}")),
            }
        }
        for (_, loaded) in load_all::<AuditEvent>(repo, FileType::Audit)? {
            match loaded {
                Ok(e) => events.push(e),
                Err(e) => warnings.push(format!("{name}: {e}")),
            }
        }
    }
    runs.sort_by_key(|r| r.started);
    sort_oldest_first(&mut events);

    let mut report = RebuildReport {
        warnings,
        ..RebuildReport::default()
    };
    cat.with(|c| {
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(
            "DELETE FROM runs WHERE outcome != 'running'; DELETE FROM drills; DELETE FROM audit;",
        )?;
        for r in &runs {
            insert_finished_run(&tx, r)?;
        }
        report.runs = runs.len();
        for d in &drills {
            report.drills += usize::from(insert_drill(&tx, d)?);
        }
        for e in &events {
            report.audit += usize::from(insert_audit(&tx, e)?);
        }
        tx.commit()
    })?;
    Ok(report)
}

/// The job a snapshot was made for: its `job=NAME` tag.
fn job_tag(s: &Snapshot) -> Option<&str> {
    s.tags
        .iter()
        .find_map(|t| t.strip_prefix("job="))
        .filter(|job| !job.is_empty())
}

/// The successful run that wrote snapshot `s`. Which trigger started it is not kept
/// in the snapshot: rebuilt runs say `schedule`.
fn run_of(repository: &str, job: &str, s: &Snapshot) -> Run {
    let summary = s.summary.clone().unwrap_or_default();
    let started = s.time.with_timezone(&Utc);
    let finished = summary.backup_end.map(|t| t.with_timezone(&Utc));
    Run {
        id: 0,
        job: job.to_string(),
        trigger: Trigger::Schedule,
        repository: repository.to_string(),
        started,
        finished,
        outcome: Outcome::Success,
        failed_step: None,
        error: None,
        snapshot: Some(s.id.to_hex()),
        bytes_read: summary.total_bytes_processed,
        bytes_added: summary.data_added,
        files: summary.total_files_processed,
        total_size: None,
        snapshot_count: None,
        duration_seconds: None,
    }
}

/// The part of a drill report (bunker-jobs' `DrillReport`, which depends on this
/// crate and not the other way round) that the catalog keeps.
#[derive(Deserialize)]
struct StoredDrill {
    snapshot: String,
    started: DateTime<FixedOffset>,
    finished: DateTime<FixedOffset>,
    data_age_seconds: f64,
    restore_seconds: f64,
    passed: bool,
    #[serde(default)]
    databases: Vec<StoredDatabase>,
    #[serde(default)]
    job: Option<String>,
}

#[derive(Deserialize)]
struct StoredDatabase {
    name: String,
    passed: bool,
    #[serde(default)]
    checks: Vec<StoredCheck>,
}

#[derive(Deserialize)]
struct StoredCheck {
    name: String,
    passed: bool,
    #[serde(default)]
    detail: String,
}

impl StoredDrill {
    /// The catalog's record of this report (file `id`); `None` when its job cannot
    /// be told.
    fn record(&self, id: Id, job_of_snapshot: &HashMap<String, String>) -> Option<DrillRecord> {
        let job = self
            .job
            .clone()
            .filter(|j| !j.is_empty())
            .or_else(|| job_of_snapshot.get(&self.snapshot).cloned())?;
        Some(DrillRecord {
            job,
            report_id: id.to_hex(),
            snapshot: self.snapshot.clone(),
            started: self.started.with_timezone(&Utc),
            finished: self.finished.with_timezone(&Utc),
            passed: self.passed,
            restore_seconds: self.restore_seconds,
            data_age_seconds: self.data_age_seconds,
            detail: self.detail(),
        })
    }

    /// The first failed check of each failed database, `; `-separated (empty when all
    /// passed): what the job runner records, from `DrillReport::failures`.
    fn detail(&self) -> String {
        let failures: Vec<String> = self
            .databases
            .iter()
            .filter(|d| !d.passed)
            .filter_map(|d| {
                let c = d.checks.iter().find(|c| !c.passed)?;
                Some(format!("{}: {} ({})", d.name, c.name, c.detail))
            })
            .collect();
        failures.join("; ")
    }
}

#[cfg(test)]
mod tests;
