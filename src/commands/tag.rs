use anyhow::{bail, Result};
use bunker_repo::{retag, Id, TagChange};
use serde::Serialize;

use super::Globals;
use crate::cli::TagArgs;

/// restic's `--json` line for one rewritten snapshot.
#[derive(Serialize)]
struct Changed {
    message_type: &'static str,
    old_snapshot_id: Id,
    new_snapshot_id: Id,
}

#[derive(Serialize)]
struct Summary {
    message_type: &'static str,
    changed_snapshots: usize,
}

/// Tags from repeated, comma-separated flag values, trimmed, empty ones dropped.
fn split_tags(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect()
}

pub fn run(g: &Globals, a: TagArgs) -> Result<()> {
    let change = TagChange {
        set: (!a.set.is_empty()).then(|| split_tags(&a.set)),
        add: split_tags(&a.add),
        remove: split_tags(&a.remove),
    };
    if change.is_empty() {
        bail!("nothing to do: give --add, --remove or --set");
    }
    let repo = g.open()?;
    let snaps = repo.find_snapshots(&a.snapshots, &g.filter(&a.filter))?;
    let changed = retag(&repo, &snaps, &change)?;
    if g.json {
        for c in &changed {
            let line = Changed {
                message_type: "changed",
                old_snapshot_id: c.old,
                new_snapshot_id: c.new,
            };
            println!("{}", serde_json::to_string(&line)?);
        }
        let summary = Summary {
            message_type: "summary",
            changed_snapshots: changed.len(),
        };
        println!("{}", serde_json::to_string(&summary)?);
        return Ok(());
    }
    for c in &changed {
        g.say(format!(
            "old snapshot ID: {} -> new snapshot ID: {}",
            c.old, c.new
        ));
    }
    if changed.is_empty() {
        g.say("no snapshots were modified");
    } else {
        g.say(format!("modified {} snapshots", changed.len()));
    }
    Ok(())
}
