//! Where each job stands: last success and its age, next run, last size, objectives, the
//! last drill, and one state with the problems behind it (failing, RPO or RTO breached,
//! late, quota, other open alerts). `bunker status` prints it (`--check` exits with the
//! worst severity); the daemon serves it at `/api/v1/jobs`.

use std::collections::BTreeMap;

use bunker_catalog::{Catalog, DrillRecord, Incident, Outcome, Run};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Config;
use crate::overdue;
use crate::quota::{quota_use, Level};

/// Whether an objective is met, breached, cannot be told yet, or cannot be met by the
/// job's schedule (an RPO shorter than the gap between runs: a `config check` warning).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Compliance {
    Met,
    Breached,
    Unknown,
    Unmeetable,
}

/// How bad a problem is, as monitoring plugins count (`status --check` exits with it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    Ok,
    Warning,
    Critical,
}

impl Severity {
    /// 0 ok, 1 warning, 2 critical (Nagios's codes).
    pub fn exit_code(self) -> u8 {
        self as u8
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Ok => "OK",
            Severity::Warning => "WARNING",
            Severity::Critical => "CRITICAL",
        }
    }
}

/// Something wrong with a job now.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Problem {
    /// `failing`, `late`, `breached` (RPO or RTO), `quota` or `alert` (another open
    /// incident: size, duration, verification, drill, unreachable, delivery).
    pub kind: &'static str,
    pub severity: Severity,
    pub detail: String,
}

/// One job's state.
#[derive(Clone, Debug, Serialize)]
pub struct JobStatus {
    pub job: String,
    /// One word: the worst problem's kind, else `never run` or `ok`.
    pub state: &'static str,
    /// The worst problem's severity (`ok` without one).
    pub severity: Severity,
    /// Worst first.
    pub problems: Vec<Problem>,
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
    /// `failing`, `breached`, `late`, `quota`, `alert`, `never run` or `ok`.
    pub fn state(&self) -> &'static str {
        self.state
    }
}

/// The state of every configured job at `now`. `sizes` are the repositories' stored
/// bytes where known (for quotas; see [`crate::quota::stored_bytes`]).
pub fn jobs(
    config: &Config,
    catalog: &Catalog,
    now: DateTime<Utc>,
    sizes: &BTreeMap<String, u64>,
) -> Vec<JobStatus> {
    let incidents = catalog.open_incidents().unwrap_or_default();
    config
        .jobs
        .iter()
        .map(|(name, j)| {
            let cfg = j.get_ref();
            let zone = cfg.zone(&config.daemon);
            let last_success = catalog.last_success(name).ok().flatten();
            let last_finished = catalog.last_finished(name).ok().flatten();
            let last_drill = catalog.last_drill(name).ok().flatten();
            let first_seen = catalog.first_seen(name, now).unwrap_or(now);
            let age = last_success
                .as_ref()
                .map(|r| (now - r.started).num_seconds());
            let rpo = cfg.objectives.rpo.map(|s| s.0.as_secs());
            let rto = cfg.objectives.rto.map(|s| s.0.as_secs());
            let unmeetable = overdue::unmeetable_rpo(config, cfg, now);
            let rpo_breach =
                overdue::rpo_breach(config, cfg, last_success.as_ref(), first_seen, now);
            let rpo_state = match (rpo, age) {
                (None, _) => Compliance::Unknown,
                _ if unmeetable.is_some() => Compliance::Unmeetable,
                _ if rpo_breach.is_some() => Compliance::Breached,
                (_, None) => Compliance::Unknown,
                _ => Compliance::Met,
            };
            let rto_state = match (rto, &last_drill) {
                (None, _) | (_, None) => Compliance::Unknown,
                (Some(r), Some(d)) if d.passed && d.restore_seconds <= r as f64 => Compliance::Met,
                _ => Compliance::Breached,
            };
            let mine: Vec<Incident> = incidents
                .iter()
                .filter(|i| &i.job == name)
                .cloned()
                .collect();
            let mut problems = Vec::new();
            if let Some(r) = last_finished.as_ref() {
                match r.outcome {
                    Outcome::Failure => problems.push(Problem {
                        kind: "failing",
                        severity: Severity::Critical,
                        detail: format!(
                            "the last run ({}) failed in the {} step: {}",
                            local(r.started, zone),
                            r.failed_step.as_deref().unwrap_or("run"),
                            r.error.as_deref().unwrap_or("no error recorded")
                        ),
                    }),
                    Outcome::Interrupted => problems.push(Problem {
                        kind: "failing",
                        severity: Severity::Warning,
                        detail: format!(
                            "the last run ({}) was interrupted: its process ended before it finished",
                            local(r.started, zone)
                        ),
                    }),
                    _ => {}
                }
            }
            if let (Some(age), Some(limit)) = (rpo_breach, cfg.objectives.rpo) {
                problems.push(Problem {
                    kind: "breached",
                    severity: Severity::Critical,
                    detail: format!(
                        "RPO {limit} breached: the newest restorable point is {} old",
                        span(age.num_seconds())
                    ),
                });
            }
            if rto_state == Compliance::Breached {
                let d = last_drill.as_ref().expect("a breached RTO has a drill");
                problems.push(Problem {
                    kind: "breached",
                    severity: Severity::Warning,
                    detail: if d.passed {
                        format!(
                            "RTO {} breached: the last drill restored in {}",
                            span(rto.unwrap_or(0) as i64),
                            span(d.restore_seconds as i64)
                        )
                    } else {
                        format!("the last drill ({}) failed: {}", local(d.started, zone), d.detail)
                    },
                });
            }
            if let Some(l) = overdue::late(config, cfg, last_success.as_ref(), first_seen, now) {
                problems.push(Problem {
                    kind: "late",
                    severity: Severity::Warning,
                    detail: format!(
                        "the run due {} has not succeeded (grace {}); last success: {}",
                        local(l.due, zone),
                        span(l.grace.num_seconds()),
                        last_success
                            .as_ref()
                            .map_or("never".to_string(), |r| local(r.started, zone))
                    ),
                });
            }
            let repo_name = cfg.repository.get_ref();
            let quota = config
                .repositories
                .get(repo_name)
                .zip(sizes.get(repo_name))
                .and_then(|(r, used)| quota_use(r.get_ref(), *used));
            if let Some(q) = quota.filter(|q| q.level != Level::Ok) {
                problems.push(Problem {
                    kind: "quota",
                    severity: if q.level == Level::Critical {
                        Severity::Critical
                    } else {
                        Severity::Warning
                    },
                    detail: format!(
                        "repository {repo_name} is at {:.0}% of its quota",
                        q.percent
                    ),
                });
            }
            // What the clock, the runs and the sizes above decide is not read back from
            // the incidents; every other open incident is a warning.
            for i in &mine {
                if !["failure", "late", "objective", "quota"].contains(&i.kind.as_str()) {
                    problems.push(Problem {
                        kind: "alert",
                        severity: Severity::Warning,
                        detail: i.detail.clone(),
                    });
                }
            }
            problems.sort_by_key(|p| std::cmp::Reverse(p.severity));
            let severity = problems.first().map_or(Severity::Ok, |p| p.severity);
            let state = match problems.first() {
                Some(p) => p.kind,
                None if last_success.is_none() => "never run",
                None => "ok",
            };
            JobStatus {
                job: name.clone(),
                state,
                severity,
                problems,
                repository: repo_name.clone(),
                schedule: cfg.schedule.as_ref().map(|w| w.to_string()),
                timezone: zone.name().to_string(),
                next_run: cfg.schedule.as_ref().and_then(|w| w.next_after(now, zone)),
                last_attempt: catalog.last_attempt(name).ok().flatten(),
                last_finished,
                failures_total: catalog.failures_total(name).unwrap_or(0),
                last_success,
                age_seconds: age,
                last_drill,
                rpo_seconds: rpo,
                rpo: rpo_state,
                rto_seconds: rto,
                rto: rto_state,
                incidents: mine,
                labels: cfg
                    .labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.0.clone()))
                    .collect(),
            }
        })
        .collect()
}

/// A time in the job's zone, with the zone: `2024-05-01 02:00 Europe/Berlin`.
fn local(t: DateTime<Utc>, zone: bunker_schedule::Tz) -> String {
    format!(
        "{} {}",
        t.with_timezone(&zone).format("%Y-%m-%d %H:%M"),
        zone.name()
    )
}

/// A length of time in its largest sensible unit: `90s`, `45m`, `5h`, `3d`.
pub fn span(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}
