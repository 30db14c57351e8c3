//! `repair index`, `repair packs`, `repair snapshots`: the engine's repairs, reported.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::{Context, Result};
use bunker_repo::{
    repair_index, repair_packs, repair_snapshots, BlobType, Id, Outcome, RepairIndexOptions,
    RepairProgress, RepairSnapshotsOptions, SnapshotRepair,
};

use super::{Globals, Partial};
use crate::cli::{RepairCommand, RepairIndexArgs, RepairPacksArgs, RepairSnapshotsArgs};
use crate::output::Ticker;

pub fn run(g: &Globals, c: RepairCommand) -> Result<()> {
    match c {
        RepairCommand::Index(a) => index(g, a),
        RepairCommand::Packs(a) => packs(g, a),
        RepairCommand::Snapshots(a) => snapshots(g, a),
    }
}

fn index(g: &Globals, a: RepairIndexArgs) -> Result<()> {
    let repo = g.open_uncached()?;
    let progress = Arc::new(RepairProgress::default());
    let p = progress.clone();
    let ticker = Ticker::start(
        g.quiet || g.json,
        None,
        Box::new(move || format!("{} packs read", p.packs_read.load(Ordering::Relaxed))),
    );
    let opts = RepairIndexOptions {
        read_all_packs: a.read_all_packs,
    };
    let r = repair_index(&repo, opts, &progress);
    drop(ticker);
    let r = r?;
    if g.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        for (id, why) in &r.index_damaged {
            g.say(format!("index file {id}: damaged ({why}): replaced"));
        }
        for id in &r.packs_added {
            g.say(format!("pack {id}: added to the index from its header"));
        }
        for id in &r.packs_reindexed {
            g.say(format!(
                "pack {id}: its size did not match the index: indexed again from its header"
            ));
        }
        for id in &r.packs_removed {
            g.say(format!("pack {id}: not on storage: removed from the index"));
        }
        for (id, why) in &r.packs_damaged {
            eprintln!("warning: pack {id}: {why}: `bunker repair packs {id}` salvages the rest");
        }
        for (id, why) in &r.packs_unreadable {
            eprintln!("warning: pack {id}: its header cannot be read ({why}): left on storage, not indexed");
        }
        g.say(format!(
            "index rebuilt: {} packs in {} new index files; {} old index files removed",
            r.packs_indexed, r.index_files_written, r.index_files_removed
        ));
    }
    if !r.packs_unreadable.is_empty() {
        return Err(Partial(format!(
            "{} packs could not be read and are not in the index",
            r.packs_unreadable.len()
        ))
        .into());
    }
    Ok(())
}

fn packs(g: &Globals, a: RepairPacksArgs) -> Result<()> {
    let ids = a
        .packs
        .iter()
        .map(|s| {
            s.parse::<Id>()
                .map_err(|_| anyhow::anyhow!("{s:?} is not a pack id (64 hex digits)"))
        })
        .collect::<Result<Vec<Id>>>()?;
    std::fs::create_dir_all(&a.copy_to)
        .with_context(|| format!("creating {}", a.copy_to.display()))?;
    let repo = g.open_uncached()?;
    let r = repair_packs(&repo, &ids, Some(&a.copy_to), g.threads)?;
    if g.json {
        println!("{}", serde_json::to_string(&r)?);
        return Ok(());
    }
    for c in &r.copies {
        g.say(format!(
            "saved a copy of the damaged pack as {}",
            c.display()
        ));
    }
    g.say(format!(
        "salvaged {} blobs into new packs; {} unreadable blobs have an intact copy in another pack",
        r.blobs_salvaged, r.blobs_elsewhere
    ));
    for (t, id) in &r.blobs_lost {
        let kind = match t {
            BlobType::Data => "data",
            BlobType::Tree => "tree",
        };
        g.say(format!("lost: {kind} blob {id}"));
    }
    g.say(format!("removed {} damaged packs", r.packs_removed.len()));
    if !r.blobs_lost.is_empty() {
        g.say(format!(
            "{} blobs are lost: `bunker repair snapshots --forget` rewrites the snapshots that refer to them",
            r.blobs_lost.len()
        ));
    }
    Ok(())
}

fn snapshots(g: &Globals, a: RepairSnapshotsArgs) -> Result<()> {
    let repo = g.open()?;
    let snaps = repo.find_snapshots(&a.snapshots, &g.filter(&a.filter))?;
    let opts = RepairSnapshotsOptions {
        forget: a.forget,
        dry_run: a.dry_run,
        threads: g.threads,
    };
    let done = repair_snapshots(&repo, &snaps, opts)?;
    let unreadable_root = |r: &&SnapshotRepair| matches!(r.outcome, Outcome::RootUnreadable { .. });
    // Left as they are: roots that cannot be read, without --forget.
    let left = match a.forget {
        true => 0,
        false => done.iter().filter(unreadable_root).count(),
    };
    if g.json {
        println!("{}", serde_json::to_string(&done)?);
    } else {
        let would = if a.dry_run { "would " } else { "" };
        for (r, s) in done.iter().zip(&snaps) {
            g.say(format!(
                "snapshot {} of {} at {}",
                r.snapshot.short(),
                s.paths.join(", "),
                s.time.format("%Y-%m-%d %H:%M:%S")
            ));
            for c in &r.changes {
                g.say(format!("  {c}"));
            }
            match &r.outcome {
                Outcome::Unchanged => {}
                Outcome::Repaired { new, forgotten } => {
                    match new {
                        Some(id) => g.say(format!("saved new snapshot {}", id.short())),
                        None => g.say("would save a new snapshot"),
                    }
                    if *forgotten || (a.dry_run && a.forget) {
                        g.say(format!("{would}remove the original"));
                    }
                }
                Outcome::RootUnreadable { .. } if a.forget => g.say(format!(
                    "{would}remove the snapshot: its root cannot be read"
                )),
                Outcome::RootUnreadable { .. } => g.say(format!(
                    "{would}leave it as it is: its root cannot be read (`--forget` removes it)"
                )),
            }
        }
        let modified = done.len()
            - left
            - done
                .iter()
                .filter(|r| r.outcome == Outcome::Unchanged)
                .count();
        match (modified, a.dry_run) {
            (0, false) => g.say("no snapshots were modified"),
            (0, true) => g.say("no snapshots would be modified"),
            (n, false) => g.say(format!("modified {n} snapshots")),
            (n, true) => g.say(format!("would modify {n} snapshots")),
        }
    }
    if left > 0 {
        return Err(Partial(format!(
            "{left} snapshots have a root tree that cannot be read; `--forget` removes them"
        ))
        .into());
    }
    Ok(())
}
