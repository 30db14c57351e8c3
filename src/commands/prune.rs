use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::{anyhow, Result};
use bunker_jobs::prune::{prune, Pruned};
use bunker_repo::{PruneOptions, PruneProgress};

use super::Globals;
use crate::cli::PruneArgs;
use crate::output::{bytes, meter, Reading};

pub fn options(g: &Globals, a: &PruneArgs) -> Result<PruneOptions> {
    Ok(PruneOptions {
        max_unused: a
            .max_unused
            .parse()
            .map_err(|e: String| anyhow!("--max-unused: {e}"))?,
        max_repack_size: a
            .max_repack_size
            .as_deref()
            .map(bunker_repo::parse_bytes)
            .transpose()
            .map_err(|e| anyhow!("--max-repack-size: {e}"))?,
        dry_run: a.dry_run,
        threads: g.threads,
    })
}

/// Runs prune on an open repository and reports the plan.
pub fn run_on(g: &Globals, repo: &Arc<bunker_repo::Repository>, opts: &PruneOptions) -> Result<()> {
    let progress = Arc::new(PruneProgress::default());
    let p = progress.clone();
    // Repacking is the slow part, deleting the quick one: one step each per pack.
    let ticker = meter(g.quiet, g.json, "packs", move || {
        let total =
            p.packs_to_repack.load(Ordering::Relaxed) + p.packs_to_delete.load(Ordering::Relaxed);
        Reading {
            bytes: 0,
            total_bytes: None,
            items: p.packs_repacked.load(Ordering::Relaxed)
                + p.packs_deleted.load(Ordering::Relaxed),
            total_items: (total > 0).then_some(total),
        }
    });
    let pruned = prune(repo, opts, &progress);
    drop(ticker);
    let Pruned { plan, wal } = pruned?;
    if !g.json {
        for e in wal.iter().filter(|e| e.files > 0) {
            g.say(format!(
                "WAL of system {}: {} {} files ({}) before {}, the oldest base backup's start",
                e.system_identifier,
                if opts.dry_run {
                    "would remove"
                } else {
                    "removed"
                },
                e.files,
                bytes(e.bytes),
                e.kept_from
            ));
        }
    }
    if g.json {
        let mut v = serde_json::to_value(&plan)?;
        v["dry_run"] = serde_json::json!(opts.dry_run);
        v["wal_expired"] = serde_json::to_value(&wal)?;
        println!("{v}");
        return Ok(());
    }
    let verb = if opts.dry_run { "would" } else { "will" };
    g.say(format!(
        "used:    {:>10} blobs, {}",
        plan.blobs_used,
        bytes(plan.bytes_used)
    ));
    g.say(format!(
        "unused:  {:>10} blobs, {}",
        plan.blobs_unused,
        bytes(plan.bytes_unused)
    ));
    g.say(format!(
        "packs:   {} in total; {verb} delete {}, repack {} ({}), keep {}",
        plan.packs_total,
        plan.packs_delete.len(),
        plan.packs_repack.len(),
        bytes(plan.bytes_repack),
        plan.packs_keep
    ));
    if !plan.packs_missing.is_empty() {
        g.say(format!(
            "missing: {} packs the index lists are not on storage and hold nothing used; {verb} drop them from the index",
            plan.packs_missing.len()
        ));
    }
    g.say(format!(
        "unused space after prune: {}",
        bytes(plan.bytes_unused_after)
    ));
    g.say(
        format!(
            "{} free {} of {}",
            if opts.dry_run { "would" } else { "freed:" },
            bytes(plan.bytes_freed),
            bytes(plan.bytes_total)
        )
        .replace("freed: free", "freed"),
    );
    if opts.dry_run {
        for p in &plan.packs_delete {
            g.say(format!("delete pack {p}"));
        }
        for p in &plan.packs_repack {
            g.say(format!("repack pack {p}"));
        }
    } else {
        g.say("done");
    }
    Ok(())
}

pub fn run(g: &Globals, a: PruneArgs) -> Result<()> {
    let opts = options(g, &a)?;
    let repo = g.open()?;
    run_on(g, &repo, &opts)
}
