use std::io::Write;

use anyhow::Result;
use bunker_repo::{
    diff, subtree_at, Change, DiffOptions, DiffStat, Id, Repository, SnapshotFilter,
};
use serde::Serialize;

use super::Globals;
use crate::cli::DiffArgs;
use crate::output::bytes;

/// Resolves `ID[:subfolder]` to the snapshot's short id and the tree to compare.
fn resolve(repo: &Repository, spec: &str) -> Result<(String, Id)> {
    let (snap, sub) = spec.split_once(':').unwrap_or((spec, ""));
    let snap = repo.find_snapshot(snap, &SnapshotFilter::default())?;
    let tree = subtree_at(repo, &snap.tree, sub)?;
    Ok((snap.short_id(), tree))
}

/// restic's `--json` change line.
#[derive(Serialize)]
struct ChangeLine<'a> {
    message_type: &'static str,
    path: std::borrow::Cow<'a, str>,
    modifier: &'a str,
}

/// restic's `--json` final line.
#[derive(Serialize)]
struct Statistics<'a> {
    message_type: &'static str,
    source_snapshot: &'a str,
    target_snapshot: &'a str,
    changed_files: u64,
    added: StatJson,
    removed: StatJson,
}

#[derive(Serialize)]
struct StatJson {
    files: u64,
    dirs: u64,
    others: u64,
    data_blobs: u64,
    tree_blobs: u64,
    bytes: u64,
}

impl From<&DiffStat> for StatJson {
    fn from(s: &DiffStat) -> Self {
        StatJson {
            files: s.files,
            dirs: s.dirs,
            others: s.others,
            data_blobs: s.data_blobs,
            tree_blobs: s.tree_blobs,
            bytes: s.bytes,
        }
    }
}

pub fn run(g: &Globals, a: DiffArgs) -> Result<()> {
    let repo = g.open()?;
    repo.load_index()?;
    let (from_id, from) = resolve(&repo, &a.from)?;
    let (to_id, to) = resolve(&repo, &a.to)?;
    g.say(format!("comparing snapshot {from_id} to {to_id}:\n"));
    let opts = DiffOptions {
        metadata: a.metadata,
    };
    let mut out = std::io::stdout().lock();
    let mut failed = None;
    let stats = diff(&repo, &from, &to, opts, |c: Change| {
        if g.quiet || failed.is_some() {
            return;
        }
        let r = if g.json {
            let line = ChangeLine {
                message_type: "change",
                path: String::from_utf8_lossy(&c.path),
                modifier: &c.modifier,
            };
            serde_json::to_writer(&mut out, &line)
                .map_err(std::io::Error::from)
                .and_then(|()| out.write_all(b"\n"))
        } else {
            write!(out, "{:<5}", c.modifier)
                .and_then(|()| out.write_all(&c.path))
                .and_then(|()| out.write_all(b"\n"))
        };
        failed = r.err();
    })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    if g.json {
        let summary = Statistics {
            message_type: "statistics",
            source_snapshot: &a.from,
            target_snapshot: &a.to,
            changed_files: stats.changed_files,
            added: (&stats.added).into(),
            removed: (&stats.removed).into(),
        };
        writeln!(out, "{}", serde_json::to_string(&summary)?)?;
        return Ok(());
    }
    let (add, rem) = (&stats.added, &stats.removed);
    writeln!(out)?;
    writeln!(
        out,
        "Files:       {:5} new, {:5} removed, {:5} changed",
        add.files, rem.files, stats.changed_files
    )?;
    writeln!(
        out,
        "Dirs:        {:5} new, {:5} removed",
        add.dirs, rem.dirs
    )?;
    writeln!(
        out,
        "Others:      {:5} new, {:5} removed",
        add.others, rem.others
    )?;
    writeln!(
        out,
        "Data Blobs:  {:5} new, {:5} removed",
        add.data_blobs, rem.data_blobs
    )?;
    writeln!(
        out,
        "Tree Blobs:  {:5} new, {:5} removed",
        add.tree_blobs, rem.tree_blobs
    )?;
    writeln!(out, "  Added:   {}", bytes(add.bytes))?;
    writeln!(out, "  Removed: {}", bytes(rem.bytes))?;
    Ok(())
}
