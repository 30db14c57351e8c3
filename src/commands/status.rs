//! `status`: one line per job with one state, and the problems behind it; coloured on a
//! terminal; `--json` for machines; `--check` for monitoring plugins (Nagios, Icinga,
//! Sensu): one line per problem and the worst severity as exit code.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use anyhow::Result;
use bunker_jobs::config::Config;
use bunker_jobs::status::{self, span, Compliance, JobStatus, Severity};
use chrono::Utc;

use super::{ExitWith, Globals};
use crate::cli::StatusArgs;
use crate::output::{bytes, table};

/// What `status --check` exits with when it cannot tell (Nagios's UNKNOWN).
const UNKNOWN: u8 = 3;

fn compliance(c: Compliance, limit: Option<u64>) -> String {
    match (c, limit) {
        (_, None) => "-".into(),
        (Compliance::Met, Some(l)) => format!("met (<{})", span(l as i64)),
        (Compliance::Breached, Some(l)) => format!("BREACHED (>{})", span(l as i64)),
        (Compliance::Unknown, Some(_)) => "unknown".into(),
        (Compliance::Unmeetable, Some(l)) => format!("unmeetable (<{})", span(l as i64)),
    }
}

fn paint(s: &str, severity: Severity, colour: bool) -> String {
    if !colour {
        return s.to_string();
    }
    let code = match severity {
        Severity::Ok if s == "ok" => "32",
        Severity::Ok => "33",
        Severity::Warning => "33;1",
        Severity::Critical => "31;1",
    };
    format!("\x1b[{code}m{s}\x1b[0m")
}

/// What the repositories with a quota that `jobs` write to store now (one listing
/// each); a repository that cannot be listed is left out, with a warning.
pub(super) fn quota_sizes(config: &Config, jobs: &[String]) -> BTreeMap<String, u64> {
    let mut sizes = BTreeMap::new();
    for (name, j) in &config.jobs {
        if !jobs.is_empty() && !jobs.contains(name) {
            continue;
        }
        let repo = j.get_ref().repository.get_ref();
        let Some(r) = config
            .repositories
            .get(repo)
            .filter(|r| r.get_ref().quota.is_some())
        else {
            continue;
        };
        if sizes.contains_key(repo) {
            continue;
        }
        match bunker_jobs::quota::stored_bytes(r.get_ref()) {
            Ok(n) => {
                sizes.insert(repo.clone(), n);
            }
            Err(e) => eprintln!("warning: repository {repo}: size not measured: {e}"),
        }
    }
    sizes
}

/// The state of `names` (every job when empty), or an error with `code`.
fn evaluate(g: &Globals, names: &[String], code: u8) -> Result<Vec<JobStatus>, ExitWith> {
    let config = g
        .load_config()
        .map_err(|e| ExitWith(code.max(2), format!("{e:#}")))?;
    for j in names {
        config.job(j).map_err(|e| ExitWith(code.max(2), e))?;
    }
    let catalog = g
        .catalog(&config)
        .map_err(|e| ExitWith(code.max(1), format!("{e:#}")))?;
    let sizes = quota_sizes(&config, names);
    Ok(status::jobs(&config, &catalog, Utc::now(), &sizes)
        .into_iter()
        .filter(|j| names.is_empty() || names.contains(&j.job))
        .collect())
}

pub fn run(g: &Globals, a: StatusArgs) -> Result<()> {
    if a.check {
        return check(g, &a.jobs);
    }
    let jobs = evaluate(g, &a.jobs, 0)?;
    if g.json {
        println!("{}", serde_json::to_string(&jobs)?);
        return Ok(());
    }
    let colour = std::io::stdout().is_terminal();
    let when = |t: chrono::DateTime<Utc>, zone: &str| {
        let tz: bunker_schedule::Tz = zone.parse().unwrap_or(bunker_schedule::Tz::UTC);
        t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string()
    };
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|j| {
            vec![
                j.job.clone(),
                paint(j.state, j.severity, colour),
                j.last_success
                    .as_ref()
                    .map_or("never".into(), |r| when(r.started, &j.timezone)),
                j.age_seconds.map_or("-".into(), span),
                j.next_run.map_or("manual".into(), |t| when(t, &j.timezone)),
                j.last_success
                    .as_ref()
                    .and_then(|r| r.total_size)
                    .map_or("-".into(), bytes),
                compliance(j.rpo, j.rpo_seconds),
                compliance(j.rto, j.rto_seconds),
                j.last_drill.as_ref().map_or("-".into(), |d| {
                    format!(
                        "{} {}",
                        if d.passed { "passed" } else { "FAILED" },
                        when(d.started, &j.timezone)
                    )
                }),
            ]
        })
        .collect();
    table(
        &[
            "Job",
            "State",
            "Last success",
            "Age",
            "Next run",
            "Size",
            "RPO",
            "RTO",
            "Last drill",
        ],
        &rows,
    );
    for j in &jobs {
        for p in &j.problems {
            println!("  {}: {}: {}", j.job, p.kind, p.detail);
        }
    }
    Ok(())
}

/// `status --check`: `SEVERITY job kind: detail` per problem, or one OK line.
fn check(g: &Globals, names: &[String]) -> Result<()> {
    let jobs = match evaluate(g, names, UNKNOWN) {
        Ok(j) => j,
        Err(ExitWith(_, e)) => {
            // Monitoring reads standard output; the line is not repeated on stderr.
            println!("UNKNOWN: {e}");
            return Err(ExitWith(UNKNOWN, String::new()).into());
        }
    };
    let worst = jobs
        .iter()
        .map(|j| j.severity)
        .max()
        .unwrap_or(Severity::Ok);
    if g.json {
        println!("{}", serde_json::to_string(&jobs)?);
    } else if worst == Severity::Ok {
        println!(
            "OK: {} ok",
            if jobs.len() == 1 {
                "1 job".to_string()
            } else {
                format!("{} jobs", jobs.len())
            }
        );
    } else {
        for j in &jobs {
            for p in &j.problems {
                println!("{} {} {}: {}", p.severity.as_str(), j.job, p.kind, p.detail);
            }
        }
    }
    match worst.exit_code() {
        0 => Ok(()),
        code => Err(ExitWith(code, String::new()).into()),
    }
}
