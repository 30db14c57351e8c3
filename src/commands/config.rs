//! `config check | show`.

use anyhow::Result;
use bunker_jobs::config::Config;
use bunker_jobs::status::span;

use super::Globals;
use crate::cli::ConfigCommand;

/// What is valid but cannot work as written: objectives the schedule cannot meet, and
/// daemon secrets this environment cannot resolve (the daemon would not start).
fn warnings(config: &Config) -> Vec<String> {
    let now = chrono::Utc::now();
    let daemon = config
        .daemon
        .unresolved_secrets()
        .into_iter()
        .map(|s| format!("{s} (only the daemon needs it; it will not start without it)"));
    daemon
        .chain(config.jobs.iter().filter_map(|(name, j)| {
            let job = j.get_ref();
            let gap = bunker_jobs::overdue::unmeetable_rpo(config, job, now)?;
            let rpo = job.objectives.rpo?;
            Some(format!(
                "job {name}: RPO {rpo} cannot be met by its schedule, which leaves up to {} \
                 between runs; the RPO is not evaluated (late runs still alert): schedule \
                 runs at least every {rpo} or set rpo to {} or more",
                span(gap.num_seconds()),
                span(gap.num_seconds())
            ))
        }))
        .collect()
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

pub fn run(g: &Globals, c: ConfigCommand) -> Result<()> {
    let config = match g.load_config() {
        Ok(c) => c,
        // `config check --json`: the error as JSON too, for an editor or a CI step.
        Err(e) if g.json && matches!(c, ConfigCommand::Check) => {
            if let Some(ce) = e.downcast_ref::<bunker_jobs::config::ConfigError>() {
                println!(
                    "{}",
                    serde_json::json!({
                        "path": ce.path,
                        "line": ce.line,
                        "column": ce.column,
                        "error": ce.message,
                    })
                );
            }
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    match c {
        ConfigCommand::Check => {
            let warnings = warnings(&config);
            if g.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "path": config.path,
                        "repositories": config.repositories.len(),
                        "jobs": config.jobs.keys().collect::<Vec<_>>(),
                        "notify": config.notify.len(),
                        "warnings": warnings,
                    })
                );
            } else {
                for w in &warnings {
                    eprintln!("warning: {w}");
                }
                g.say(format!(
                    "{}: ok ({}, {}, {})",
                    config.path.display(),
                    plural(config.repositories.len(), "repository", "repositories"),
                    plural(config.jobs.len(), "job", "jobs"),
                    plural(
                        config.notify.len(),
                        "notification target",
                        "notification targets"
                    ),
                ));
            }
        }
        ConfigCommand::Show => print!("{}", config.to_redacted_toml()),
    }
    Ok(())
}
