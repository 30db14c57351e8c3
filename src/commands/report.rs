//! `report [--since 7d] [--format text|html|json]`: the period's summary of every job and
//! repository, as the daemon's `[reports.NAME]` send it.

use anyhow::{Context, Result};
use chrono::{TimeDelta, Utc};

use super::Globals;
use crate::cli::{ReportArgs, ReportFormat};

pub fn run(g: &Globals, a: ReportArgs) -> Result<()> {
    let config = g.load_config()?;
    let catalog = g.catalog(&config)?;
    let until = Utc::now();
    let since = until - TimeDelta::from_std(a.since).context("--since is too long")?;
    let report = bunker_daemon::report::build(&config, &catalog, since, until);
    let format = if g.json { ReportFormat::Json } else { a.format };
    match format {
        ReportFormat::Text => print!("{}", bunker_daemon::report::text(&report)),
        ReportFormat::Html => print!("{}", bunker_daemon::report::html(&report)),
        ReportFormat::Json => println!("{}", serde_json::to_string(&report)?),
    }
    Ok(())
}
