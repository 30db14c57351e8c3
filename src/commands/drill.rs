//! `drill pg` and `drill history`: prove that backups restore, and keep the proof.

use anyhow::{bail, Result};
use bunker_jobs::drill::{self, Assertions, DrillReport};
use bunker_jobs::postgres::PgSnapshot;

use super::Globals;
use crate::cli::{DrillCommand, DrillHistoryArgs, DrillPgArgs};
use crate::output::table;

pub fn run(g: &Globals, c: DrillCommand) -> Result<()> {
    match c {
        DrillCommand::Pg(a) => pg(g, a),
        DrillCommand::History(a) => history(g, a),
    }
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
    let assertions = Assertions::parse(&a.expect_tables, &a.min_rows, &a.sql)?;
    let repo = g.open()?;
    let server = super::pg::server(&a.conn);
    let snap = PgSnapshot::find(repo.clone(), &a.snapshot)?;
    let report = drill::drill_pg(&snap, &server, &a.dbs, &assertions, bunker_repo::hostname())?;
    let id = drill::save_report(&repo, &report)?;
    if g.json {
        let mut v = serde_json::to_value(&report)?;
        v["id"] = serde_json::Value::String(id.to_hex());
        println!("{v}");
    } else if !g.quiet {
        print_report(&report);
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
