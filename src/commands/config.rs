//! `config check | show`.

use anyhow::Result;

use super::Globals;
use crate::cli::ConfigCommand;

pub fn run(g: &Globals, c: ConfigCommand) -> Result<()> {
    let config = g.load_config()?;
    match c {
        ConfigCommand::Check => {
            if g.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "path": config.path,
                        "repositories": config.repositories.len(),
                        "jobs": config.jobs.keys().collect::<Vec<_>>(),
                        "notify": config.notify.len(),
                    })
                );
            } else {
                g.say(format!(
                    "{}: ok ({} repositories, {} jobs, {} notification targets)",
                    config.path.display(),
                    config.repositories.len(),
                    config.jobs.len(),
                    config.notify.len()
                ));
            }
        }
        ConfigCommand::Show => print!("{}", config.to_redacted_toml()),
    }
    Ok(())
}
