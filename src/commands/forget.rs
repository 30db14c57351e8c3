//! `forget`: removes snapshots by retention policy (restic 0.14's rules) or by id, and
//! prints what it keeps and why.

use anyhow::{bail, Result};
use bunker_repo::{
    apply_policy, forget, select_for_forget, GroupDecision, PruneOptions, RetentionPolicy,
    Snapshot, SnapshotFilter,
};
use serde_json::{json, Value};

use super::snapshots::snapshot_json;
use super::Globals;
use crate::cli::ForgetArgs;
use crate::output::table;

fn policy(a: &ForgetArgs) -> RetentionPolicy {
    RetentionPolicy {
        keep_last: a.keep_last,
        keep_hourly: a.keep_hourly,
        keep_daily: a.keep_daily,
        keep_weekly: a.keep_weekly,
        keep_monthly: a.keep_monthly,
        keep_yearly: a.keep_yearly,
        keep_within: a.keep_within.unwrap_or_default(),
        keep_within_hourly: a.keep_within_hourly.unwrap_or_default(),
        keep_within_daily: a.keep_within_daily.unwrap_or_default(),
        keep_within_weekly: a.keep_within_weekly.unwrap_or_default(),
        keep_within_monthly: a.keep_within_monthly.unwrap_or_default(),
        keep_within_yearly: a.keep_within_yearly.unwrap_or_default(),
        keep_tags: a.keep_tags.clone(),
    }
}

pub fn run(g: &Globals, mut a: ForgetArgs) -> Result<()> {
    let mut policy = policy(&a);
    // `--job NAME` without a policy: the job's retention, applied as its runs apply it.
    if let Some((_, job)) = g.job() {
        if let (true, true, Some(r)) = (a.snapshots.is_empty(), policy.is_empty(), &job.retention) {
            policy = r.policy();
            a.group_by = bunker_repo::GroupBy {
                host: true,
                paths: false,
                tags: false,
            };
        }
    }
    match (a.snapshots.is_empty(), policy.is_empty()) {
        (true, true) => bail!(
            "no policy given: name the snapshots to remove, or give --keep-last, \
             --keep-daily, --keep-within ... (forget never removes everything by default)"
        ),
        (false, false) => bail!("give snapshot ids or a policy, not both"),
        _ => {}
    }
    let repo = g.open()?;
    let mut filter = SnapshotFilter {
        hosts: a.hosts.clone(),
        tags: a.tags.clone(),
        paths: a.paths.clone(),
    };
    if let Some((job, _)) = g.job() {
        filter.tags = super::with_job_tag(&filter.tags, job);
    }
    let decisions = if a.snapshots.is_empty() {
        let (all, damaged) = repo.load_snapshots()?;
        for e in &damaged {
            eprintln!("warning: skipping damaged snapshot: {e}");
        }
        let selected = select_for_forget(all, &filter);
        apply_policy(&selected, &policy, a.group_by, &chrono::Local::now())
    } else {
        let mut remove: Vec<Snapshot> = Vec::new();
        for spec in &a.snapshots {
            let s = repo.find_snapshot(spec, &filter)?;
            if !remove.iter().any(|r| r.id == s.id) {
                remove.push(s);
            }
        }
        vec![GroupDecision {
            remove,
            ..Default::default()
        }]
    };
    let removed = forget(&repo, &decisions, a.dry_run)?;

    if g.json {
        let groups: Vec<Value> = decisions.iter().map(group_json).collect();
        println!("{}", serde_json::to_string(&groups)?);
    } else if !g.quiet {
        if a.snapshots.is_empty() {
            println!("Applying policy: {policy}");
        }
        for d in &decisions {
            print_group(d);
        }
    }
    let verb = if a.dry_run { "would remove" } else { "removed" };
    g.say(format!("{verb} {} snapshots", removed.len()));

    if a.prune && !removed.is_empty() {
        if a.dry_run {
            g.say("--dry-run: prune was not run");
        } else {
            let opts = PruneOptions {
                threads: g.threads,
                ..Default::default()
            };
            super::prune::run_on(g, &repo, &opts)?;
        }
    }
    Ok(())
}

/// One group as restic 0.14 prints it with `forget --json`: empty lists are `null`, and
/// the snapshots in `reasons` carry no id.
fn group_json(d: &GroupDecision) -> Value {
    let list = |v: Vec<Value>| if v.is_empty() { Value::Null } else { json!(v) };
    let keep = d.keep.iter().map(|k| snapshot_json(&k.snapshot)).collect();
    let remove = d.remove.iter().map(snapshot_json).collect();
    let reasons = d
        .keep
        .iter()
        .map(|k| {
            let c = &k.counters;
            let mut counters = serde_json::Map::new();
            for (name, n) in [
                ("last", c.last),
                ("hourly", c.hourly),
                ("daily", c.daily),
                ("weekly", c.weekly),
                ("monthly", c.monthly),
                ("yearly", c.yearly),
            ] {
                if n != 0 {
                    counters.insert(name.into(), json!(n));
                }
            }
            json!({
                "snapshot": serde_json::to_value(&k.snapshot).expect("snapshot json"),
                "matches": k.reasons,
                "counters": counters,
            })
        })
        .collect();
    json!({
        "tags": d.key.tags,
        "host": d.key.host,
        "paths": d.key.paths,
        "keep": list(keep),
        "remove": list(remove),
        "reasons": list(reasons),
    })
}

fn print_group(d: &GroupDecision) {
    let key = d.key.to_string();
    if !key.is_empty() {
        println!("snapshots for ({key}):");
    }
    let row = |s: &Snapshot| {
        vec![
            s.short_id(),
            crate::output::local_time(&s.time),
            s.hostname.clone(),
            s.tags.join(","),
        ]
    };
    if !d.keep.is_empty() {
        println!("keep {} snapshots:", d.keep.len());
        // Oldest first, as restic lists them.
        let rows: Vec<Vec<String>> = d
            .keep
            .iter()
            .rev()
            .map(|k| {
                let mut r = row(&k.snapshot);
                r.push(k.reasons.join(", "));
                r.push(k.snapshot.paths.join(","));
                r
            })
            .collect();
        table(&["ID", "Time", "Host", "Tags", "Reasons", "Paths"], &rows);
        println!();
    }
    if !d.remove.is_empty() {
        println!("remove {} snapshots:", d.remove.len());
        let rows: Vec<Vec<String>> = d
            .remove
            .iter()
            .rev()
            .map(|s| {
                let mut r = row(s);
                r.push(s.paths.join(","));
                r
            })
            .collect();
        table(&["ID", "Time", "Host", "Tags", "Paths"], &rows);
        println!();
    }
}
