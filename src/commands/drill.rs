//! `drill --job NAME`, `drill pg` and `drill history`: prove that backups restore, and
//! keep the proof.

use anyhow::{bail, Result};
use bunker_jobs::choice::Choice;
use bunker_jobs::drill::{self, Assertions, DrillReport};
use bunker_jobs::exit;
use bunker_jobs::postgres::PgSnapshot;

use super::{ExitWith, Globals};
use crate::cli::{DrillArgs, DrillCommand, DrillHistoryArgs, DrillPgArgs, FilterArgs, RandomPick};
use crate::output::table;

pub fn run(g: &Globals, a: DrillArgs) -> Result<()> {
    match a.command {
        Some(DrillCommand::Pg(p)) => pg(g, p),
        Some(DrillCommand::History(h)) => history(g, h),
        None => job(g, a.snapshot.as_deref(), a.pick),
    }
}

/// The snapshot to drill: `--random [--within]`, else `spec` ("latest" or an id).
fn choice(spec: &str, pick: RandomPick) -> Result<Choice> {
    if !pick.random {
        return Ok(Choice::from_spec(spec));
    }
    if spec != "latest" {
        bail!("give a snapshot or --random, not both");
    }
    Ok(Choice::Random {
        within: pick.within,
    })
}

/// `drill --job NAME`: the drill the job's runs make (its source's kind, its checks),
/// of the snapshot asked for; recorded in the repository and the catalog.
fn job(g: &Globals, snapshot: Option<&str>, pick: RandomPick) -> Result<()> {
    let Some((name, job)) = g.job() else {
        return Err(ExitWith(
            exit::USAGE,
            "drill needs --job NAME (a job of the configuration), or a subcommand: pg, history"
                .into(),
        )
        .into());
    };
    let config = &g.configured.as_ref().expect("a job is configured").config;
    let choice = choice(snapshot.unwrap_or("latest"), pick)?;
    let repo = g.open()?;
    let scratch = config.state_dir().join("drills");
    let (id, report) = bunker_jobs::runner::run_drill(name, job, &repo, &scratch, &choice)
        .map_err(anyhow::Error::msg)?;
    let record = bunker_jobs::runner::drill_record(name, id.clone(), &report);
    let recorded = g
        .catalog(config)
        .and_then(|c| c.record_drill(&record).map_err(anyhow::Error::from));
    if let Err(e) = recorded {
        eprintln!("warning: the drill was not recorded in the catalog: {e:#}");
    }
    finish(g, &report, &id)
}

fn secs(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.1}s")
    } else if s < 7200.0 {
        format!("{:.1}m", s / 60.0)
    } else {
        format!("{:.1}h", s / 3600.0)
    }
}

fn pg(g: &Globals, a: DrillPgArgs) -> Result<()> {
    let given = !(a.expect_tables.is_empty() && a.min_rows.is_empty() && a.sql.is_empty());
    let assertions = match g.job() {
        Some((_, job)) if !given => {
            let (expect, min_rows, sql) = job.drill_assertions();
            Assertions::parse(&expect, &min_rows, &sql)?
        }
        _ => Assertions::parse(&a.expect_tables, &a.min_rows, &a.sql)?,
    };
    let choice = choice(&a.snapshot, a.pick)?;
    let repo = g.open()?;
    let server = g.pg_server(&a.conn);
    let snap = PgSnapshot::find(repo.clone(), &choice, &g.filter(&FilterArgs::default()))?;
    let mut report = drill::drill_pg(&snap, &server, &a.dbs, &assertions, bunker_repo::hostname())?;
    report.job = g.job().map(|(name, _)| name.to_string());
    let id = drill::save_report(&repo, &report)?;
    finish(g, &report, &id.to_hex())
}

/// Prints a drill's report; a failed drill is the command's failure.
fn finish(g: &Globals, report: &DrillReport, id: &str) -> Result<()> {
    if g.json {
        let mut v = serde_json::to_value(report)?;
        v["id"] = serde_json::Value::String(id.to_string());
        println!("{v}");
    } else if !g.quiet {
        print_report(report);
    }
    if !report.passed {
        bail!("drill failed: {}", report.failures().join("; "));
    }
    Ok(())
}

fn print_report(r: &DrillReport) {
    println!(
        "drill of snapshot {} ({}), data age {}, restore {}",
        &r.snapshot[..8],
        r.snapshot_time.format("%Y-%m-%d %H:%M:%S"),
        secs(r.data_age_seconds),
        secs(r.restore_seconds)
    );
    for d in &r.databases {
        println!("database {}:", d.name);
        for c in &d.checks {
            let mark = if c.passed { "ok  " } else { "FAIL" };
            println!("  {mark} {}: {}", c.name, c.detail);
        }
    }
    println!("verdict: {}", if r.passed { "PASSED" } else { "FAILED" });
}

fn history(g: &Globals, a: DrillHistoryArgs) -> Result<()> {
    let repo = g.open()?;
    let mut reports = drill::history(&repo)?;
    if let Some(n) = a.last {
        let skip = reports.len().saturating_sub(n);
        reports.drain(..skip);
    }
    if g.json {
        let v: Vec<serde_json::Value> = reports
            .iter()
            .map(|(id, r)| {
                let mut v = serde_json::to_value(r).expect("serializable");
                v["id"] = serde_json::Value::String(id.to_hex());
                v
            })
            .collect();
        println!("{}", serde_json::Value::Array(v));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = reports
        .iter()
        .map(|(id, r)| {
            vec![
                id.to_hex()[..8].to_string(),
                r.started.format("%Y-%m-%d %H:%M:%S").to_string(),
                r.kind.clone(),
                r.snapshot[..8].to_string(),
                r.databases
                    .iter()
                    .map(|d| d.name.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                secs(r.restore_seconds),
                secs(r.data_age_seconds),
                if r.passed { "passed" } else { "FAILED" }.to_string(),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "Time",
            "Kind",
            "Snapshot",
            "Databases",
            "Restore",
            "Data age",
            "Verdict",
        ],
        &rows,
    );
    Ok(())
}
