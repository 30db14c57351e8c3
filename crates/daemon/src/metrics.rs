//! `/metrics` in the Prometheus text format (version 0.0.4).

use std::collections::BTreeMap;
use std::fmt::Write;

use bunker_catalog::Outcome;
use bunker_jobs::status::{Compliance, JobStatus};
use chrono::{DateTime, Utc};

/// Escapes a label value: backslash, double quote and newline.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let l: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", esc(v)))
            .collect();
        let _ = writeln!(self.out, "{name}{{{}}} {value}", l.join(","));
    }
}

fn ts(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// The label that names the job. Not `job`: Prometheus gives every scraped series a
/// `job` label of its own (the scrape job), and would rename ours to `exported_job`.
const JOB: &str = "bunker_job";

/// What the daemon knows besides the catalog: which runs are going, which repositories
/// answered, and what each repository stores.
pub struct Live<'a> {
    pub running: &'a [String],
    pub reachable: &'a BTreeMap<String, bool>,
    pub stored: &'a BTreeMap<String, bunker_jobs::quota::Stored>,
    /// The configured quotas, in bytes.
    pub quotas: &'a BTreeMap<String, u64>,
}

/// Renders every metric.
pub fn render(jobs: &[JobStatus], live: &Live) -> String {
    let mut out = String::new();
    let mut f = Family { out: &mut out };
    type Getter = fn(&JobStatus) -> Option<f64>;
    let gauges: [(&str, &str, &str, Getter); 12] = [
        (
            "bunker_job_last_success_timestamp_seconds",
            "gauge",
            "Start of the last successful run (Unix time).",
            |j| j.last_success.as_ref().map(|r| ts(r.started)),
        ),
        (
            "bunker_job_last_attempt_timestamp_seconds",
            "gauge",
            "Start of the last run, whatever its outcome (Unix time).",
            |j| j.last_attempt.as_ref().map(|r| ts(r.started)),
        ),
        (
            "bunker_job_last_success",
            "gauge",
            "1 when the last finished run succeeded, else 0 (a run going does not change it).",
            |j| {
                j.last_finished.as_ref().map(|r| {
                    if r.outcome == Outcome::Success {
                        1.0
                    } else {
                        0.0
                    }
                })
            },
        ),
        (
            "bunker_job_last_duration_seconds",
            "gauge",
            "Duration of the last successful run.",
            |j| j.last_success.as_ref().and_then(|r| r.duration_seconds),
        ),
        (
            "bunker_job_last_bytes_read",
            "gauge",
            "Bytes the last successful run read from the source.",
            |j| j.last_success.as_ref().map(|r| r.bytes_read as f64),
        ),
        (
            "bunker_job_last_bytes_added",
            "gauge",
            "Bytes the last successful run added to the repository (before compression).",
            |j| j.last_success.as_ref().map(|r| r.bytes_added as f64),
        ),
        (
            "bunker_job_backup_size_bytes",
            "gauge",
            "Size of the data in the job's newest snapshot.",
            |j| {
                j.last_success
                    .as_ref()
                    .and_then(|r| r.total_size)
                    .map(|v| v as f64)
            },
        ),
        (
            "bunker_job_snapshots",
            "gauge",
            "The job's snapshots in its repository after retention.",
            |j| {
                j.last_success
                    .as_ref()
                    .and_then(|r| r.snapshot_count)
                    .map(|v| v as f64)
            },
        ),
        (
            "bunker_job_failures_total",
            "counter",
            "Runs that failed.",
            |j| Some(j.failures_total as f64),
        ),
        (
            "bunker_job_last_drill_success",
            "gauge",
            "1 when the last restore drill passed, else 0.",
            |j| {
                j.last_drill
                    .as_ref()
                    .map(|d| if d.passed { 1.0 } else { 0.0 })
            },
        ),
        (
            "bunker_job_last_drill_restore_seconds",
            "gauge",
            "Restore time measured by the last drill.",
            |j| j.last_drill.as_ref().map(|d| d.restore_seconds),
        ),
        (
            "bunker_job_next_run_timestamp_seconds",
            "gauge",
            "When the job runs next (Unix time).",
            |j| j.next_run.map(ts),
        ),
    ];
    for (name, kind, help, get) in gauges {
        f.head(name, kind, help);
        for j in jobs {
            if let Some(v) = get(j) {
                f.sample(name, &[(JOB, &j.job)], v);
            }
        }
    }
    f.head(
        "bunker_job_objective_met",
        "gauge",
        "1 when the objective is met, 0 when breached (absent while unknown).",
    );
    for j in jobs {
        for (objective, state) in [("rpo", j.rpo), ("rto", j.rto)] {
            let v = match state {
                Compliance::Met => 1.0,
                Compliance::Breached => 0.0,
                Compliance::Unknown | Compliance::Unmeetable => continue,
            };
            f.sample(
                "bunker_job_objective_met",
                &[(JOB, &j.job), ("objective", objective)],
                v,
            );
        }
    }
    f.head(
        "bunker_job_running",
        "gauge",
        "1 while a run of the job is in progress.",
    );
    for j in jobs {
        let running = live.running.iter().any(|r| r == &j.job);
        f.sample(
            "bunker_job_running",
            &[(JOB, &j.job)],
            if running { 1.0 } else { 0.0 },
        );
    }
    f.head(
        "bunker_job_alerts_open",
        "gauge",
        "Open alert incidents of the job.",
    );
    for j in jobs {
        f.sample(
            "bunker_job_alerts_open",
            &[(JOB, &j.job)],
            j.incidents.len() as f64,
        );
    }
    f.head(
        "bunker_job_info",
        "gauge",
        "The job's repository, schedule and labels.",
    );
    for j in jobs {
        let mut labels: Vec<(&str, &str)> = vec![
            (JOB, &j.job),
            ("repository", &j.repository),
            ("schedule", j.schedule.as_deref().unwrap_or("")),
            ("timezone", &j.timezone),
        ];
        let extra: Vec<(String, &String)> = j
            .labels
            .iter()
            .map(|(k, v)| {
                (
                    format!(
                        "label_{}",
                        k.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
                    ),
                    v,
                )
            })
            .collect();
        labels.extend(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        f.sample("bunker_job_info", &labels, 1.0);
    }
    f.head(
        "bunker_repository_up",
        "gauge",
        "1 when the repository's storage answered at the last probe, else 0.",
    );
    for (repo, up) in live.reachable {
        f.sample(
            "bunker_repository_up",
            &[("repository", repo)],
            if *up { 1.0 } else { 0.0 },
        );
    }
    f.head(
        "bunker_repository_size_bytes",
        "gauge",
        "What the repository stores (every object, as stored), measured after each run and probe.",
    );
    for (repo, stored) in live.stored {
        f.sample(
            "bunker_repository_size_bytes",
            &[("repository", repo)],
            stored.bytes as f64,
        );
    }
    type WalGetter = fn(&bunker_jobs::quota::WalStored) -> Option<f64>;
    let wal: [(&str, &str, WalGetter); 3] = [
        (
            "bunker_wal_archive_objects",
            "WAL segments (and history files) archived for the PostgreSQL cluster.",
            |w| Some(w.objects as f64),
        ),
        (
            "bunker_wal_archive_bytes",
            "Bytes of the cluster's WAL archive, as stored.",
            |w| Some(w.bytes as f64),
        ),
        (
            "bunker_wal_archive_last_write_timestamp_seconds",
            "When the cluster's newest WAL object was written (Unix time): the RPO of \
             point-in-time recovery.",
            |w| {
                w.newest
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_secs_f64())
            },
        ),
    ];
    for (name, help, get) in wal {
        f.head(name, "gauge", help);
        for (repo, stored) in live.stored {
            for (system, w) in &stored.wal {
                if let Some(v) = get(w) {
                    f.sample(name, &[("repository", repo), ("system", system)], v);
                }
            }
        }
    }
    f.head(
        "bunker_repository_quota_bytes",
        "gauge",
        "The repository's configured quota (only repositories with one).",
    );
    for (repo, quota) in live.quotas {
        f.sample(
            "bunker_repository_quota_bytes",
            &[("repository", repo)],
            *quota as f64,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bunker_jobs::quota::{Stored, WalStored};

    #[test]
    fn repositories_and_their_wal_archives_are_rendered() {
        let newest = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let stored = BTreeMap::from([(
            "primary".to_string(),
            Stored {
                bytes: 4096,
                wal: BTreeMap::from([(
                    "7301".to_string(),
                    WalStored {
                        objects: 2,
                        bytes: 32,
                        newest: Some(newest),
                    },
                )]),
            },
        )]);
        let out = render(
            &[],
            &Live {
                running: &[],
                reachable: &BTreeMap::new(),
                stored: &stored,
                quotas: &BTreeMap::from([("primary".to_string(), 8192)]),
            },
        );
        for want in [
            "bunker_repository_size_bytes{repository=\"primary\"} 4096",
            "bunker_repository_quota_bytes{repository=\"primary\"} 8192",
            "bunker_wal_archive_objects{repository=\"primary\",system=\"7301\"} 2",
            "bunker_wal_archive_bytes{repository=\"primary\",system=\"7301\"} 32",
            "bunker_wal_archive_last_write_timestamp_seconds{repository=\"primary\",system=\"7301\"} 1700000000",
        ] {
            assert!(out.contains(want), "{want} missing:\n{out}");
        }
    }
}
