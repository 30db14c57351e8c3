//! The runbooks' checks, built in: failure, late, size anomaly, slow run, verification
//! and drill failure, unreachable repository, objectives breached. Each condition is an
//! incident in the catalog, so its alert goes out once and a recovery message follows
//! when it clears. Every message passes through the catalog's outbox ([`outbox`]), so
//! none is lost while a receiver is down.

use bunker_catalog::{Catalog, Outcome, Run};
use bunker_notify::{Event, EventKind};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Map, Value};

use crate::config::{Config, JobConfig};
use crate::overdue;
use crate::runner::{RunReport, Step};

/// A condition found true now.
struct Condition {
    key: String,
    kind: EventKind,
    title: String,
    detail: String,
    fields: Map<String, Value>,
}

/// Sends a job's events to its notification targets and keeps incidents in the catalog.
pub struct Alerter<'a> {
    pub config: &'a Config,
    pub catalog: &'a Catalog,
}

/// What happened to one notification.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub notifier: String,
    pub kind: EventKind,
    /// Why it was not delivered (yet).
    pub error: Option<String>,
    /// It waits in the outbox for another try.
    pub pending: bool,
}

fn human_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// How long after a scheduled time a job may still succeed before it counts as late.
pub fn grace(job: &JobConfig, interval: Option<TimeDelta>) -> TimeDelta {
    if let Some(g) = job.alerts.grace {
        return TimeDelta::from_std(g.0).unwrap_or(TimeDelta::MAX);
    }
    let tenth = interval.map(|i| i / 10).unwrap_or_default();
    tenth.max(TimeDelta::minutes(10))
}

impl Alerter<'_> {
    pub(super) fn event(&self, kind: EventKind, job: &str, title: String, detail: String) -> Event {
        Event {
            kind,
            job: job.to_string(),
            title,
            detail,
            time: Utc::now(),
            host: bunker_repo::hostname(),
            incident: None,
            fields: Map::new(),
            html: None,
        }
    }

    /// A run of `job` has started (healthchecks' start ping).
    pub fn started(&self, job: &str) -> Vec<Delivery> {
        let ev = self.event(
            EventKind::Start,
            job,
            format!("{job}: run started"),
            String::new(),
        );
        self.notify(job, &ev)
    }

    /// A run has finished: its success or failure, and every condition a run decides.
    pub fn finished(&self, r: &RunReport) -> Vec<Delivery> {
        let mut out = Vec::new();
        let job = r.job.as_str();
        let mut fields = Map::new();
        fields.insert("run_id".into(), json!(r.run_id));
        fields.insert("duration_seconds".into(), json!(r.duration_seconds()));
        fields.insert("bytes_added".into(), json!(r.bytes_added));
        fields.insert("bytes_read".into(), json!(r.bytes_read));
        if let Some(s) = &r.snapshot {
            fields.insert("snapshot".into(), json!(s));
        }
        let verifying = matches!(r.failed_step, Some(Step::Check | Step::Drill));
        let backup_failed = r.outcome == Outcome::Failure && !verifying;
        if !backup_failed {
            let mut ev = self.event(
                EventKind::Success,
                job,
                format!("{job}: backup succeeded"),
                summary(r),
            );
            ev.fields = fields.clone();
            out.extend(self.notify(job, &ev));
        }
        let Ok(cfg) = self.config.job(job) else {
            return out;
        };
        let mut found = Vec::new();
        let mut decided: Vec<String> = Vec::new();
        decided.push(format!("failure:{job}"));
        if backup_failed {
            let step = r.failed_step.map_or("run", Step::as_str);
            let error = r.error.clone().unwrap_or_default();
            found.push(Condition {
                key: format!("failure:{job}"),
                kind: EventKind::Failure,
                title: format!("{job}: {step} failed: {error}"),
                detail: format!("run {} failed in the {step} step.\n{error}", r.run_id),
                fields: fields.clone(),
            });
        }
        for reach in &r.reach {
            decided.push(format!("unreachable:{}", reach.repository));
            if let Some(e) = &reach.error {
                found.push(Condition {
                    key: format!("unreachable:{}", reach.repository),
                    kind: EventKind::Unreachable,
                    title: format!("repository {} is unreachable", reach.repository),
                    detail: e.clone(),
                    fields: Map::new(),
                });
            }
        }
        if r.outcome != Outcome::Failure || verifying {
            decided.push(format!("size:{job}"));
            decided.push(format!("duration:{job}"));
            found.extend(self.size_anomaly(cfg, r));
            if let Some(max) = cfg.alerts.duration_max {
                if r.duration_seconds() > max.as_secs_f64() {
                    found.push(Condition {
                        key: format!("duration:{job}"),
                        kind: EventKind::Duration,
                        title: format!(
                            "{job}: run took {:.0}s, over the {max} limit",
                            r.duration_seconds()
                        ),
                        detail: summary(r),
                        fields: fields.clone(),
                    });
                }
            }
        }
        if let Some(check) = &r.check {
            decided.push(format!("verify:{job}"));
            if r.failed_step == Some(Step::Check) {
                found.push(Condition {
                    key: format!("verify:{job}"),
                    kind: EventKind::Verify,
                    title: format!("{job}: repository check failed"),
                    detail: check.clone(),
                    fields: Map::new(),
                });
            }
        }
        if r.failed_step == Some(Step::Drill) || r.drill.is_some() {
            decided.push(format!("drill:{job}"));
            if r.failed_step == Some(Step::Drill) {
                found.push(Condition {
                    key: format!("drill:{job}"),
                    kind: EventKind::Drill,
                    title: format!("{job}: restore drill failed"),
                    detail: r.error.clone().unwrap_or_default(),
                    fields: Map::new(),
                });
            }
        }
        if let (Some(d), Some(rto)) = (&r.drill, cfg.objectives.rto) {
            decided.push(format!("rto:{job}"));
            if d.restore_seconds > rto.as_secs_f64() {
                found.push(Condition {
                    key: format!("rto:{job}"),
                    kind: EventKind::Objective,
                    title: format!(
                        "{job}: RTO breached: the last drill restored in {:.0}s, objective {rto}",
                        d.restore_seconds
                    ),
                    detail: format!("drill of snapshot {}", d.snapshot),
                    fields: Map::new(),
                });
            }
        }
        out.extend(self.reconcile(job, &decided, found));
        out
    }

    fn size_anomaly(&self, cfg: &JobConfig, r: &RunReport) -> Vec<Condition> {
        let job = r.job.as_str();
        let history: Vec<Run> = self
            .catalog
            .recent_successes(job, cfg.alerts.size_history + 1)
            .unwrap_or_default()
            .into_iter()
            .filter(|run| run.id != r.run_id)
            .take(cfg.alerts.size_history)
            .collect();
        if history.len() < 3 {
            return Vec::new();
        }
        let band = cfg.alerts.size_band;
        let mut out = Vec::new();
        let measures = [
            (
                "total size",
                r.total_size.unwrap_or(0),
                history
                    .iter()
                    .map(|h| h.total_size.unwrap_or(0) as f64)
                    .collect::<Vec<_>>(),
            ),
            (
                "bytes added",
                r.bytes_added,
                history.iter().map(|h| h.bytes_added as f64).collect(),
            ),
        ];
        for (what, value, past) in measures {
            let Some(m) = median(past) else { continue };
            // Below a mebibyte, the bytes a deduplicated run adds are noise.
            if what == "bytes added" && m < 1048576.0 && (value as f64) < 1048576.0 {
                continue;
            }
            let v = value as f64;
            if v > m * (1.0 + band) || v < m * (1.0 - band) {
                let change = if m > 0.0 {
                    (v / m - 1.0) * 100.0
                } else {
                    100.0
                };
                out.push(Condition {
                    key: format!("size:{job}"),
                    kind: EventKind::Size,
                    title: format!(
                        "{job}: {what} {} is {change:+.0}% against the median {} of the last {} runs",
                        human_bytes(value),
                        human_bytes(m as u64),
                        history.len()
                    ),
                    detail: format!("allowed band: ±{:.0}%", band * 100.0),
                    fields: Map::from_iter([
                        ("value".to_string(), json!(value)),
                        ("median".to_string(), json!(m)),
                    ]),
                });
                break;
            }
        }
        out
    }

    /// Conditions that depend on the clock: late runs and the RPO. `down` is the time
    /// the daemon was not running, reported with lateness it explains.
    pub fn evaluate(
        &self,
        now: DateTime<Utc>,
        down: Option<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> Vec<Delivery> {
        let mut out = Vec::new();
        for (name, j) in &self.config.jobs {
            let cfg = j.get_ref();
            let Ok(first_seen) = self.catalog.first_seen(name, now) else {
                continue;
            };
            let last = self.catalog.last_success(name).ok().flatten();
            let mut decided = Vec::new();
            let mut found = Vec::new();
            if cfg.schedule.is_some() {
                decided.push(format!("late:{name}"));
            }
            if let Some(l) = overdue::late(self.config, cfg, last.as_ref(), first_seen, now) {
                let since = last
                    .as_ref()
                    .map_or("never".to_string(), |r| r.started.to_rfc3339());
                let mut detail = format!(
                    "the run due at {} has not succeeded (grace {}s); last success: {since}",
                    l.due.to_rfc3339(),
                    l.grace.num_seconds()
                );
                if let Some((from, to)) = down {
                    detail.push_str(&format!(
                        "; the daemon was not running from {} to {}",
                        from.to_rfc3339(),
                        to.to_rfc3339()
                    ));
                }
                found.push(Condition {
                    key: format!("late:{name}"),
                    kind: EventKind::Late,
                    title: format!("{name}: backup is late (due {})", l.due.to_rfc3339()),
                    detail,
                    fields: Map::new(),
                });
            }
            if let Some(rpo) = cfg.objectives.rpo {
                decided.push(format!("rpo:{name}"));
                if let Some(age) =
                    overdue::rpo_breach(self.config, cfg, last.as_ref(), first_seen, now)
                {
                    found.push(Condition {
                        key: format!("rpo:{name}"),
                        kind: EventKind::Objective,
                        title: format!(
                            "{name}: RPO breached: newest restorable point is {}s old, objective {rpo}",
                            age.num_seconds()
                        ),
                        detail: format!(
                            "newest successful backup: {}",
                            last.as_ref().map_or("none".into(), |r| r.started.to_rfc3339())
                        ),
                        fields: Map::new(),
                    });
                }
            }
            out.extend(self.reconcile(name, &decided, found));
        }
        out
    }

    /// Repositories over their quota's warning or critical share (see
    /// [`crate::quota`]), from `sizes` (bytes stored, by repository) as the daemon
    /// measured them: an incident for each job writing to such a repository.
    pub fn evaluate_quota(&self, sizes: &std::collections::BTreeMap<String, u64>) -> Vec<Delivery> {
        let mut out = Vec::new();
        for (name, j) in &self.config.jobs {
            let repo_name = j.get_ref().repository.get_ref();
            let (Some(repo), Some(used)) = (
                self.config.repositories.get(repo_name),
                sizes.get(repo_name),
            ) else {
                continue;
            };
            let Some(q) = crate::quota::quota_use(repo.get_ref(), *used) else {
                continue;
            };
            let (mut decided, mut found) = (Vec::new(), Vec::new());
            // One incident per level, so that going from warning to critical alerts again.
            for (level, word) in [
                (crate::quota::Level::Warning, "warning"),
                (crate::quota::Level::Critical, "critical"),
            ] {
                let key = format!("quota-{word}:{name}");
                decided.push(key.clone());
                if q.level == level {
                    found.push(Condition {
                        key,
                        kind: EventKind::Quota,
                        title: format!(
                            "{name}: repository {repo_name} is at {:.0}% of its quota ({word})",
                            q.percent
                        ),
                        detail: format!("{} of {} used", human_bytes(q.used), human_bytes(q.quota)),
                        fields: Map::new(),
                    });
                }
            }
            out.extend(self.reconcile(name, &decided, found));
        }
        out
    }

    /// Stores `ev` in the outbox for each of the targets named in `targets` (those that
    /// want its kind) and tries each at once: how a scheduled report is sent.
    pub fn notify_named(&self, targets: &[String], ev: &Event) -> Vec<Delivery> {
        let notifiers = targets
            .iter()
            .filter_map(|n| self.config.notify.get(n).map(|c| c.get_ref().notifier(n)))
            .collect();
        self.notify_targets(&ev.job, notifiers, ev)
    }

    /// Opens incidents for conditions found (alerting once) and closes the decided ones
    /// not found any more (sending a recovery).
    fn reconcile(&self, job: &str, decided: &[String], found: Vec<Condition>) -> Vec<Delivery> {
        let mut out = Vec::new();
        for key in decided {
            if found.iter().any(|c| &c.key == key) {
                continue;
            }
            if let Ok(Some(inc)) = self.catalog.close_incident(key) {
                let mut ev = self.event(
                    EventKind::Recovery,
                    job,
                    format!(
                        "{job}: recovered: {}",
                        inc.detail.lines().next().unwrap_or(&inc.kind)
                    ),
                    format!("open since {}", inc.opened.to_rfc3339()),
                );
                ev.incident = Some(key.clone());
                ev.fields.insert("alert".into(), json!(inc.kind));
                out.extend(self.notify(job, &ev));
            }
        }
        for c in found {
            let opened = self
                .catalog
                .open_incident(&c.key, job, c.kind.as_str(), &c.title, Utc::now())
                .unwrap_or(false);
            if opened {
                let mut ev = self.event(c.kind, job, c.title, c.detail);
                ev.incident = Some(c.key);
                ev.fields = c.fields;
                out.extend(self.notify(job, &ev));
            }
        }
        out
    }
}

fn summary(r: &RunReport) -> String {
    let mut s = format!(
        "snapshot {} of {} files, {} read, {} added, in {:.1}s",
        r.snapshot.as_deref().map_or("-", |s| &s[..s.len().min(8)]),
        r.files,
        human_bytes(r.bytes_read),
        human_bytes(r.bytes_added),
        r.duration_seconds()
    );
    for w in &r.warnings {
        s.push_str(&format!("\nwarning: {w}"));
    }
    s
}

mod archive;
mod outbox;
#[cfg(test)]
mod tests;
