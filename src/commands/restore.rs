use std::sync::Arc;

use anyhow::Result;
use bunker_repo::{restore, RestoreOptions, RestoreProgress};

use super::{Globals, Partial};
use crate::cli::RestoreArgs;
use crate::output::{bytes, meter, Reading};

pub fn run(g: &Globals, a: RestoreArgs) -> Result<()> {
    let repo = g.open()?;
    let snap = repo.find_snapshot(&a.snapshot, &g.filter(&a.filter))?;
    let opts = RestoreOptions {
        includes: a.includes,
        excludes: a.excludes,
        threads: g.threads,
    };
    let progress = Arc::new(RestoreProgress::default());
    let p = progress.clone();
    let ticker = meter(g.quiet, g.json, "files", move || Reading::of_restore(&p));
    g.say(format!(
        "restoring snapshot {} of {:?} to {}",
        snap.short_id(),
        snap.paths,
        a.target.display()
    ));
    let r = restore(&repo, &snap, &a.target, &opts, &progress);
    drop(ticker);
    let r = r?;
    if g.json {
        println!(
            "{}",
            serde_json::json!({"message_type": "summary", "files_restored": r.files, "dirs_restored": r.dirs,
                "bytes_restored": r.bytes, "damaged": r.damaged, "warnings": r.warnings})
        );
    } else {
        for w in &r.warnings {
            eprintln!("warning: {w}");
        }
        for d in &r.damaged {
            eprintln!("damaged: {d}");
        }
        g.say(format!(
            "restored {} files, {} dirs, {}",
            r.files,
            r.dirs,
            bytes(r.bytes)
        ));
    }
    if !r.damaged.is_empty() {
        return Err(Partial(format!(
            "{} item(s) not restored: {}",
            r.damaged.len(),
            r.damaged.join("; ")
        ))
        .into());
    }
    Ok(())
}
