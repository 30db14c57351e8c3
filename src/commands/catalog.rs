//! `catalog rebuild | runs | audit`.

use std::sync::Arc;

use anyhow::Result;
use bunker_jobs::runner::open_repository;

use super::Globals;
use crate::cli::CatalogCommand;
use crate::output::table;

pub fn run(g: &Globals, c: CatalogCommand) -> Result<()> {
    let config = g.load_config()?;
    let catalog = g.catalog(&config)?;
    match c {
        CatalogCommand::Rebuild => {
            let mut repos = Vec::new();
            for (name, r) in &config.repositories {
                let repo = open_repository(r.get_ref())
                    .map_err(|e| anyhow::anyhow!("repository {name}: {}", e.error))?;
                repos.push((name.clone(), Arc::clone(&repo)));
            }
            let report = bunker_catalog::rebuild::rebuild(&catalog, &repos)?;
            for w in &report.warnings {
                eprintln!("warning: {w}");
            }
            if g.json {
                println!(
                    "{}",
                    serde_json::json!({"runs": report.runs, "drills": report.drills, "audit": report.audit})
                );
            } else {
                g.say(format!(
                    "catalog rebuilt from {} repositories: {} runs, {} drills, {} audit events",
                    repos.len(),
                    report.runs,
                    report.drills,
                    report.audit
                ));
            }
        }
        CatalogCommand::Runs(a) => {
            let runs = catalog.runs(a.job.as_deref(), a.limit)?;
            if g.json {
                println!("{}", serde_json::to_string(&runs)?);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = runs
                .iter()
                .map(|r| {
                    vec![
                        r.id.to_string(),
                        r.job.clone(),
                        r.started
                            .with_timezone(&chrono::Local)
                            .format("%Y-%m-%d %H:%M:%S")
                            .to_string(),
                        format!("{:?}", r.outcome).to_lowercase(),
                        r.duration_seconds
                            .map_or("-".into(), |d| format!("{d:.1}s")),
                        r.snapshot
                            .as_deref()
                            .map_or("-".into(), |s| s[..s.len().min(8)].to_string()),
                        r.error.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            table(
                &[
                    "Run", "Job", "Started", "Outcome", "Took", "Snapshot", "Error",
                ],
                &rows,
            );
        }
        CatalogCommand::Audit(a) => {
            let events = catalog.audit(a.limit)?;
            if g.json {
                println!("{}", serde_json::to_string(&events)?);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = events
                .iter()
                .map(|e| {
                    vec![
                        e.time
                            .with_timezone(&chrono::Local)
                            .format("%Y-%m-%d %H:%M:%S")
                            .to_string(),
                        e.who.clone(),
                        e.host.clone(),
                        e.action.clone(),
                        e.repository.clone(),
                        e.job.clone().unwrap_or_default(),
                        e.detail.to_string(),
                    ]
                })
                .collect();
            table(
                &[
                    "Time",
                    "Who",
                    "Host",
                    "Action",
                    "Repository",
                    "Job",
                    "Detail",
                ],
                &rows,
            );
        }
    }
    Ok(())
}
