//! `status`: one line per job, coloured on a terminal; `--json` for machines.

use std::io::IsTerminal;

use anyhow::Result;
use bunker_jobs::status::{self, Compliance, JobStatus};
use chrono::Utc;

use super::{ExitWith, Globals};
use crate::cli::StatusArgs;
use crate::output::{bytes, table};

fn age(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn compliance(c: Compliance, limit: Option<u64>) -> String {
    match (c, limit) {
        (_, None) => "-".into(),
        (Compliance::Met, Some(l)) => format!("met (<{})", age(l as i64)),
        (Compliance::Breached, Some(l)) => format!("BREACHED (>{})", age(l as i64)),
        (Compliance::Unknown, Some(_)) => "unknown".into(),
    }
}

fn paint(s: &str, state: &str, colour: bool) -> String {
    if !colour {
        return s.to_string();
    }
    let code = match state {
        "ok" => "32",
        "never run" => "33",
        "late" | "alert" => "33;1",
        _ => "31;1",
    };
    format!("\x1b[{code}m{s}\x1b[0m")
}

pub fn run(g: &Globals, a: StatusArgs) -> Result<()> {
    let config = g.load_config()?;
    for j in &a.jobs {
        config.job(j).map_err(|e| ExitWith(2, e))?;
    }
    let catalog = g.catalog(&config)?;
    let now = Utc::now();
    let jobs: Vec<JobStatus> = status::jobs(&config, &catalog, now)
        .into_iter()
        .filter(|j| a.jobs.is_empty() || a.jobs.contains(&j.job))
        .collect();
    if g.json {
        println!("{}", serde_json::to_string(&jobs)?);
        return Ok(());
    }
    let colour = std::io::stdout().is_terminal();
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|j| {
            let state = j.state();
            vec![
                j.job.clone(),
                paint(state, state, colour),
                j.last_success.as_ref().map_or("never".into(), |r| {
                    r.started
                        .with_timezone(&chrono::Local)
                        .format("%Y-%m-%d %H:%M")
                        .to_string()
                }),
                j.age_seconds.map_or("-".into(), age),
                j.next_run.map_or("manual".into(), |t| {
                    t.with_timezone(&chrono::Local)
                        .format("%Y-%m-%d %H:%M")
                        .to_string()
                }),
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
                        d.started.with_timezone(&chrono::Local).format("%Y-%m-%d")
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
        for i in &j.incidents {
            println!(
                "  {}: {} (since {})",
                j.job,
                i.detail,
                i.opened
                    .with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M")
            );
        }
    }
    Ok(())
}
