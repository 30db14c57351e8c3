use anyhow::Result;
use bunker_repo::Snapshot;

use super::Globals;
use crate::cli::SnapshotsArgs;
use crate::output::table;

/// The JSON form of a snapshot, as restic prints it (with `id` and `short_id`).
pub fn snapshot_json(s: &Snapshot) -> serde_json::Value {
    let mut v = serde_json::to_value(s).expect("json");
    v["id"] = serde_json::json!(s.id);
    v["short_id"] = serde_json::json!(s.short_id());
    v
}

pub fn run(g: &Globals, a: SnapshotsArgs) -> Result<()> {
    let repo = g.open()?;
    let filter = g.filter(&a.filter);
    let (all, damaged) = repo.load_snapshots()?;
    for e in &damaged {
        eprintln!("warning: skipping damaged snapshot: {e}");
    }
    let mut snaps: Vec<Snapshot> = all.into_iter().filter(|s| filter.matches(s)).collect();
    if let Some(n) = a.latest {
        let skip = snaps.len().saturating_sub(n);
        snaps.drain(..skip);
    }
    if g.json {
        let v: Vec<_> = snaps.iter().map(snapshot_json).collect();
        println!("{}", serde_json::to_string(&v)?);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = snaps
        .iter()
        .map(|s| {
            vec![
                s.short_id(),
                crate::output::local_time(&s.time),
                s.hostname.clone(),
                s.tags.join(","),
                s.paths.join(","),
                s.summary
                    .as_ref()
                    .map(|x| crate::output::bytes(x.total_bytes_processed))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    table(&["ID", "Time", "Host", "Tags", "Paths", "Size"], &rows);
    println!("{} snapshots", snaps.len());
    Ok(())
}
