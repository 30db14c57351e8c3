use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use bunker_repo::{check, CheckProgress, ReadData};

use super::Globals;
use crate::cli::CheckArgs;
use crate::output::{meter, Reading};

pub fn run(g: &Globals, a: CheckArgs) -> Result<()> {
    let read = match (&a.read_data_subset, a.read_data) {
        (Some(s), _) => s.parse::<ReadData>().map_err(|e| anyhow!(e))?,
        (None, true) => ReadData::All,
        (None, false) => ReadData::None,
    };
    let repo = g.open_uncached()?;
    let progress = Arc::new(CheckProgress::default());
    let p = progress.clone();
    let ticker = meter(g.quiet, g.json, "packs", move || {
        let total = p.packs_total.load(Ordering::Relaxed);
        Reading {
            bytes: p.bytes_read.load(Ordering::Relaxed),
            total_bytes: (total > 0).then(|| p.bytes_total.load(Ordering::Relaxed)),
            items: p.packs_read.load(Ordering::Relaxed),
            total_items: (total > 0).then_some(total),
        }
    });
    let report = check(&repo, read, &progress);
    drop(ticker);
    let report = report?;
    if g.json {
        println!(
            "{}",
            serde_json::json!({"message_type": "summary", "errors": report.errors, "warnings": report.warnings,
                "remedies": report.remedies, "snapshots": report.snapshots, "trees": report.trees,
                "packs": report.packs, "packs_read": report.packs_read, "objects": report.objects,
                "objects_read": report.objects_read, "ok": report.is_ok()})
        );
    } else {
        g.say(format!(
            "checked {} snapshots, {} trees, {} packs ({} read in full), {} of bunker's own objects ({} read in full)",
            report.snapshots, report.trees, report.packs, report.packs_read, report.objects, report.objects_read
        ));
        for w in &report.warnings {
            eprintln!("warning: {w}");
        }
        for e in &report.errors {
            eprintln!("error: {e}");
        }
        for r in &report.remedies {
            eprintln!("to repair: {r}");
        }
        if report.is_ok() {
            g.say("no errors were found");
        }
    }
    if !report.is_ok() {
        bail!(
            "check found {} error(s) in {}",
            report.errors.len(),
            repo.storage().location()
        );
    }
    Ok(())
}
