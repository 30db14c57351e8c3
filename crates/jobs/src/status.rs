//! Where each job stands: last success and its age, next run, last size, objectives and
//! the last drill. `bunker status` prints it; the daemon serves it at `/api/v1/jobs`.

use bunker_catalog::{Catalog, DrillRecord, Incident, Run};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Config;

/// Whether an objective is met, breached, or cannot be told yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Compliance {
    Met,
    Breached,
    Unknown,
}

/// One job's state.
#[derive(Clone, Debug, Serialize)]
pub struct JobStatus {
    pub job: String,
    pub repository: String,
    pub schedule: Option<String>,
    pub timezone: String,
    pub next_run: Option<DateTime<Utc>>,
    pub last_success: Option<Run>,
    pub last_attempt: Option<Run>,
    /// The newest run that has ended (a run going now is in `last_attempt` only).
    pub last_finished: Option<Run>,
    /// Seconds since the start of the last successful run (the newest restorable point).
    pub age_seconds: Option<i64>,
    pub failures_total: u64,
    pub last_drill: Option<DrillRecord>,
    pub rpo_seconds: Option<u64>,
    pub rpo: Compliance,
    pub rto_seconds: Option<u64>,
    pub rto: Compliance,
    /// Alerts open for this job.
    pub incidents: Vec<Incident>,
    pub labels: std::collections::BTreeMap<String, String>,
}

impl JobStatus {
    /// `ok`, `late`, `failing` or `never run`, for a one-word summary.
    pub fn state(&self) -> &'static str {
        if self.incidents.iter().any(|i| i.kind == "failure") {
            "failing"
        } else if self.incidents.iter().any(|i| i.kind == "late") {
            "late"
        } else if !self.incidents.is_empty() {
            "alert"
        } else if self.last_success.is_none() {
            "never run"
        } else {
            "ok"
        }
    }
}

/// The state of every configured job at `now`.
pub fn jobs(config: &Config, catalog: &Catalog, now: DateTime<Utc>) -> Vec<JobStatus> {
    let incidents = catalog.open_incidents().unwrap_or_default();
    config
        .jobs
        .iter()
        .map(|(name, j)| {
            let cfg = j.get_ref();
            let zone = cfg.zone(&config.daemon);
            let last_success = catalog.last_success(name).ok().flatten();
            let last_drill = catalog.last_drill(name).ok().flatten();
            let age = last_success
                .as_ref()
                .map(|r| (now - r.started).num_seconds());
            let rpo = cfg.objectives.rpo.map(|s| s.0.as_secs());
            let rto = cfg.objectives.rto.map(|s| s.0.as_secs());
            let rpo_state = match (rpo, age) {
                (None, _) | (_, None) => Compliance::Unknown,
                (Some(r), Some(a)) if a as u64 <= r => Compliance::Met,
                _ => Compliance::Breached,
            };
            let rto_state = match (rto, &last_drill) {
                (None, _) | (_, None) => Compliance::Unknown,
                (Some(r), Some(d)) if d.passed && d.restore_seconds <= r as f64 => Compliance::Met,
                _ => Compliance::Breached,
            };
            JobStatus {
                job: name.clone(),
                repository: cfg.repository.get_ref().clone(),
                schedule: cfg.schedule.as_ref().map(|w| w.to_string()),
                timezone: zone.name().to_string(),
                next_run: cfg.schedule.as_ref().and_then(|w| w.next_after(now, zone)),
                last_attempt: catalog.last_attempt(name).ok().flatten(),
                last_finished: catalog.last_finished(name).ok().flatten(),
                failures_total: catalog.failures_total(name).unwrap_or(0),
                last_success,
                age_seconds: age,
                last_drill,
                rpo_seconds: rpo,
                rpo: rpo_state,
                rto_seconds: rto,
                rto: rto_state,
                incidents: incidents
                    .iter()
                    .filter(|i| &i.job == name)
                    .cloned()
                    .collect(),
                labels: cfg
                    .labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.0.clone()))
                    .collect(),
            }
        })
        .collect()
}
