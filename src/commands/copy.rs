use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::{Context, Result};
use bunker_repo::{copy, CopyProgress, Repository};

use super::Globals;
use crate::cli::CopyArgs;
use crate::configured::Configured;
use crate::output::{meter, Reading};

pub fn run(g: &Globals, a: CopyArgs) -> Result<()> {
    let src = g.open()?;
    let dst = Arc::new(destination(g, &a)?);
    let filter = g.filter(&a.filter);
    let snaps: Vec<_> = if a.snapshots.is_empty() {
        src.snapshots()?
            .into_iter()
            .filter(|s| filter.matches(s))
            .collect()
    } else {
        a.snapshots
            .iter()
            .map(|s| src.find_snapshot(s, &filter))
            .collect::<bunker_repo::Result<_>>()?
    };
    let progress = Arc::new(CopyProgress::default());
    let p = progress.clone();
    let ticker = meter(g.quiet, g.json, "snapshots", move || {
        let total = p.total_snapshots.load(Ordering::Relaxed);
        Reading {
            bytes: p.bytes.load(Ordering::Relaxed),
            total_bytes: None,
            items: p.snapshots.load(Ordering::Relaxed),
            total_items: (total > 0).then_some(total),
        }
    });
    let report = copy(&src, dst, &snaps, g.threads, &progress);
    drop(ticker);
    let report = report?;
    if g.json {
        let copied: Vec<_> = report
            .copied
            .iter()
            .map(|(s, d)| serde_json::json!({"source": s, "target": d}))
            .collect();
        println!(
            "{}",
            serde_json::json!({"message_type": "summary", "copied": copied, "skipped": report.skipped, "rechunked": report.rechunked})
        );
    } else {
        for (s, d) in &report.copied {
            g.say(format!(
                "snapshot {} copied to {} as {}",
                s.short(),
                a.to,
                d.short()
            ));
        }
        for s in &report.skipped {
            g.say(format!(
                "snapshot {} skipped: {} already has it",
                s.short(),
                a.to
            ));
        }
        if report.rechunked {
            g.say("the repositories chunk differently: file contents were re-chunked for the destination");
        }
    }
    Ok(())
}

/// The destination: a repository of the configuration by name (`--to offsite`, the same
/// rule as `-r`: its url, options and password), else a location with
/// `--to-password-file`, `--to-password-command` or `BUNKER_TO_PASSWORD`.
fn destination(g: &Globals, a: &CopyArgs) -> Result<Repository> {
    let default = bunker_jobs::config::default_config_path();
    let named = Configured::resolve(Some(&a.to), None, g.config.as_deref(), &default)?;
    if let Some((name, cfg)) = named.as_ref().and_then(|c| c.repository()) {
        let opts = bunker_jobs::runner::storage_options(cfg)?;
        let storage = bunker_repo::Storage::open(&cfg.url, &opts)?;
        if !storage.config_exists()? {
            return Err(bunker_repo::Error::NoRepository {
                location: cfg.url.0.clone(),
            }
            .into());
        }
        return Ok(Repository::open(
            storage,
            &Configured::password(cfg, name)?,
        )?);
    }
    let storage = g.storage(&a.to)?;
    if !storage.config_exists()? {
        return Err(bunker_repo::Error::NoRepository {
            location: a.to.clone(),
        }
        .into());
    }
    let password = match (&a.to_password_command, &a.to_password_file) {
        (None, None) => std::env::var("BUNKER_TO_PASSWORD")
            .context("no password for the destination: set BUNKER_TO_PASSWORD, --to-password-file or --to-password-command")?,
        (cmd, file) => crate::password::resolve(file.as_deref(), cmd.as_deref(), g.password_timeout)?,
    };
    Ok(Repository::open(storage, &password)?)
}
