//! The report of a period (seed 000's weekly report): for each job its runs, successes,
//! failures, late runs, bytes added, backup size, drills and the longest restore they
//! measured, whether the RPO and RTO are met; each repository's size, growth and quota;
//! the open incidents. `bunker report` prints it as text, HTML or JSON; the daemon sends
//! it on the schedules of `[reports.NAME]`, as text with an HTML alternative.

mod html;
mod text;

use bunker_catalog::{Catalog, Incident, Outcome, Run, Trigger};
use bunker_jobs::alerts::grace;
use bunker_jobs::config::Config;
use bunker_jobs::quota::{quota_use, QuotaUse};
use bunker_jobs::status::{self, Compliance};
use chrono::{DateTime, Utc};
use serde::Serialize;

pub use html::html;
pub use text::text;

/// Runs looked at per report.
const MAX_RUNS: usize = 100_000;

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub jobs: Vec<JobReport>,
    pub repositories: Vec<RepositoryReport>,
    pub incidents: Vec<Incident>,
}

/// One job over the period.
#[derive(Clone, Debug, Serialize)]
pub struct JobReport {
    pub job: String,
    pub repository: String,
    pub runs: u64,
    pub successes: u64,
    pub failures: u64,
    /// Scheduled runs that started after their time's grace had passed.
    pub late: u64,
    pub bytes_added: u64,
    /// The data in the newest successful backup.
    pub backup_size: Option<u64>,
    pub drills: u64,
    pub drills_passed: u64,
    /// The longest restore a drill of the period measured.
    pub measured_rto_seconds: Option<f64>,
    pub rto_seconds: Option<u64>,
    pub rpo_seconds: Option<u64>,
    /// Age of the newest restorable point when the report was made.
    pub age_seconds: Option<i64>,
    pub rpo_met: Option<bool>,
    pub rto_met: Option<bool>,
    /// Bytes added by each successful run, oldest first (the HTML report's chart).
    pub added: Vec<(DateTime<Utc>, u64)>,
}

/// One repository over the period.
#[derive(Clone, Debug, Serialize)]
pub struct RepositoryReport {
    pub repository: String,
    /// What it stores now, every file counted; `None` when it could not be listed.
    pub size: Option<u64>,
    pub size_error: Option<String>,
    /// What the jobs writing to it added in the period.
    pub added: u64,
    pub quota: Option<QuotaUse>,
}

fn met(c: Compliance) -> Option<bool> {
    match c {
        Compliance::Met => Some(true),
        Compliance::Breached => Some(false),
        Compliance::Unknown | Compliance::Unmeetable => None,
    }
}

/// Whether a scheduled run started after its scheduled time plus the grace.
fn late(config: &Config, job: &bunker_jobs::config::JobConfig, r: &Run) -> bool {
    let Some(when) = &job.schedule else {
        return false;
    };
    if !matches!(r.trigger, Trigger::Schedule | Trigger::CatchUp) {
        return false;
    }
    let zone = job.zone(&config.daemon);
    let g = grace(job, when.interval_at(r.started, zone));
    when.last_at_or_before(r.started, zone)
        .is_some_and(|due| r.started > due + g)
}

/// What a repository stores now: the sum of its files' sizes.
fn measure(config: &Config, name: &str) -> Result<u64, String> {
    let r = config
        .repositories
        .get(name)
        .ok_or_else(|| format!("no repository {name}"))?;
    bunker_jobs::quota::stored_bytes(r.get_ref())
}

/// The report of `since`..`until` from the catalog and the repositories.
pub fn build(
    config: &Config,
    catalog: &Catalog,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Report {
    let statuses = status::jobs(config, catalog, until, &Default::default());
    let runs = catalog
        .runs_since(None, since, MAX_RUNS)
        .unwrap_or_default();
    let drills = catalog.drills(None, MAX_RUNS).unwrap_or_default();
    let mut jobs = Vec::new();
    for s in &statuses {
        let Some(cfg) = config.jobs.get(&s.job).map(|j| j.get_ref()) else {
            continue;
        };
        let mine: Vec<&Run> = runs
            .iter()
            .filter(|r| r.job == s.job && r.started <= until && r.outcome != Outcome::Running)
            .collect();
        let ok = |r: &&&Run| r.outcome == Outcome::Success;
        let period_drills: Vec<_> = drills
            .iter()
            .filter(|d| d.job == s.job && d.finished >= since && d.finished <= until)
            .collect();
        jobs.push(JobReport {
            job: s.job.clone(),
            repository: s.repository.clone(),
            runs: mine.len() as u64,
            successes: mine.iter().filter(ok).count() as u64,
            failures: mine
                .iter()
                .filter(|r| r.outcome == Outcome::Failure)
                .count() as u64,
            late: mine
                .iter()
                .filter(ok)
                .filter(|r| late(config, cfg, r))
                .count() as u64,
            bytes_added: mine.iter().map(|r| r.bytes_added).sum(),
            backup_size: s.last_success.as_ref().and_then(|r| r.total_size),
            drills: period_drills.len() as u64,
            drills_passed: period_drills.iter().filter(|d| d.passed).count() as u64,
            measured_rto_seconds: period_drills
                .iter()
                .map(|d| d.restore_seconds)
                .reduce(f64::max),
            rto_seconds: s.rto_seconds,
            rpo_seconds: s.rpo_seconds,
            age_seconds: s.age_seconds,
            rpo_met: met(s.rpo),
            rto_met: met(s.rto),
            added: mine
                .iter()
                .filter(ok)
                .map(|r| (r.started, r.bytes_added))
                .collect(),
        });
    }
    let repositories = config
        .repositories
        .iter()
        .map(|(name, r)| {
            let size = measure(config, name);
            RepositoryReport {
                repository: name.clone(),
                added: jobs
                    .iter()
                    .filter(|j| &j.repository == name)
                    .map(|j| j.bytes_added)
                    .sum(),
                quota: size.as_ref().ok().and_then(|s| quota_use(r.get_ref(), *s)),
                size_error: size.as_ref().err().cloned(),
                size: size.ok(),
            }
        })
        .collect();
    Report {
        since,
        until,
        jobs,
        repositories,
        incidents: catalog.open_incidents().unwrap_or_default(),
    }
}

/// When each `[reports.NAME]` is next due after `now`.
pub fn next_reports(
    config: &Config,
    now: DateTime<Utc>,
) -> std::collections::BTreeMap<String, DateTime<Utc>> {
    config
        .reports
        .keys()
        .filter_map(|name| next_report(config, name, now).map(|t| (name.clone(), t)))
        .collect()
}

/// When report `name` is next due after `now`, in the daemon's time zone.
pub fn next_report(config: &Config, name: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let r = config.reports.get(name)?.get_ref();
    r.schedule.next_after(now, config.daemon.timezone.0)
}

/// The default period of a report.
const DEFAULT_PERIOD: std::time::Duration = std::time::Duration::from_secs(7 * 86_400);

/// Report `name` made at `at` as a notification (text in `detail`, HTML beside it, the
/// numbers as the JSON of the report under `fields.report`) and the targets it goes to.
pub fn event(
    config: &Config,
    catalog: &Catalog,
    name: &str,
    cfg: &bunker_jobs::config::ReportConfig,
    at: DateTime<Utc>,
) -> (bunker_notify::Event, Vec<String>) {
    let period = cfg.since.map_or(DEFAULT_PERIOD, |s| s.0);
    let since = at - chrono::TimeDelta::from_std(period).unwrap_or(chrono::TimeDelta::days(7));
    let report = build(config, catalog, since, at);
    let failing = report.jobs.iter().filter(|j| j.failures > 0).count();
    let mut fields = serde_json::Map::new();
    fields.insert(
        "report".into(),
        serde_json::to_value(&report).unwrap_or_default(),
    );
    let event = bunker_notify::Event {
        kind: bunker_notify::EventKind::Report,
        job: String::new(),
        title: format!(
            "report {name}: {} jobs, {failing} with failures, {} open incidents",
            report.jobs.len(),
            report.incidents.len()
        ),
        detail: text(&report),
        time: Utc::now(),
        host: bunker_repo::hostname(),
        incident: None,
        fields,
        html: Some(html(&report)),
    };
    let targets = cfg.notify.iter().map(|n| n.get_ref().clone()).collect();
    (event, targets)
}
