//! `run JOB... | --all`: runs jobs now, records them, tells who wants to know.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use bunker_catalog::Trigger;
use bunker_jobs::alerts::{Alerter, Delivery};
use bunker_jobs::exit;
use bunker_jobs::runner::{run_job, RunOptions, RunProgress, RunReport};

use super::{ExitWith, Globals};
use crate::cli::RunArgs;
use crate::output::{bytes, Reading, Ticker};

/// `job db: backup  1.2 GiB, 98 MiB/s, 1234 files` on a terminal while the job runs.
fn step_line(g: &Globals, job: &str, live: Arc<RunProgress>) -> Ticker {
    let job = job.to_string();
    let started = Instant::now();
    Ticker::start(
        g.quiet || g.json,
        None,
        Box::new(move || {
            let step = live.step().map_or("starting", |s| s.as_str());
            let b = &live.backup;
            let reading = Reading {
                bytes: b.bytes.load(Ordering::Relaxed),
                total_bytes: None,
                items: b.files.load(Ordering::Relaxed),
                total_items: None,
            };
            format!(
                "job {job}: {step}  {}",
                reading.line(started.elapsed(), "files")
            )
        }),
    )
}

pub fn run(g: &Globals, a: RunArgs) -> Result<()> {
    let config = g.load_config()?;
    let catalog = g.catalog(&config)?;
    let names: Vec<String> = if a.all {
        config.jobs.keys().cloned().collect()
    } else {
        a.jobs.clone()
    };
    for n in &names {
        config.job(n).map_err(|e| ExitWith(exit::USAGE, e))?;
    }
    let opts = RunOptions {
        trigger: Trigger::Manual,
        verify_now: a.verify,
        prune_now: a.prune,
        // `--label NAME`: NAME and `forever`, as `backup --label` tags.
        extra_tags: super::backup::tags(&[], a.label.as_deref())
            .map_err(|e| ExitWith(exit::USAGE, e.to_string()))?,
        progress: Default::default(),
    };
    let alerter = Alerter {
        config: &config,
        catalog: &catalog,
    };
    let mut first_failure: Option<ExitWith> = None;
    let mut reports = Vec::new();
    for name in &names {
        let opts = RunOptions {
            progress: Default::default(),
            ..opts.clone()
        };
        let ticker = step_line(g, name, opts.progress.clone());
        let report = run_job(&config, &catalog, name, &opts, &|j| {
            if !a.no_notify {
                alerter.started(j);
            }
        });
        drop(ticker);
        let report = match report {
            Ok(r) => r,
            Err(refused) => {
                eprintln!("bunker: {refused}");
                first_failure.get_or_insert(ExitWith(refused.exit_code(), String::new()));
                continue;
            }
        };
        if !a.no_notify {
            warn_undelivered(alerter.finished(&report));
        }
        print_report(g, &report);
        if report.exit_code() != 0 {
            let msg = report.error.clone().unwrap_or_default();
            first_failure.get_or_insert(ExitWith(report.exit_code(), String::new()));
            if !msg.is_empty() {
                eprintln!(
                    "bunker: job {}: {} failed: {msg}",
                    report.job,
                    report.failed_step.map_or("run", |s| s.as_str())
                );
            }
        }
        reports.push(report);
    }
    if !a.no_notify {
        // Messages earlier runs could not deliver get their next try.
        warn_undelivered(alerter.deliver_pending(chrono::Utc::now()));
    }
    if g.json {
        println!("{}", serde_json::to_string(&reports)?);
    }
    match first_failure {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

fn warn_undelivered(deliveries: Vec<Delivery>) {
    for d in deliveries {
        match (d.error, d.pending) {
            (Some(e), true) => eprintln!(
                "warning: notification {} not delivered yet (kept for another try): {e}",
                d.notifier
            ),
            (Some(e), false) => eprintln!("warning: notification {} failed: {e}", d.notifier),
            (None, _) => {}
        }
    }
}

fn print_report(g: &Globals, r: &RunReport) {
    for w in &r.warnings {
        eprintln!("warning: job {}: {w}", r.job);
    }
    if g.json || g.quiet {
        return;
    }
    let verdict = match r.exit_code() {
        0 => "ok".to_string(),
        3 => "partial".to_string(),
        _ => format!("failed ({})", r.failed_step.map_or("run", |s| s.as_str())),
    };
    let mut line = format!(
        "job {}: {verdict} in {:.1}s, run {}",
        r.job,
        r.duration_seconds(),
        r.run_id
    );
    if let Some(s) = &r.snapshot {
        line.push_str(&format!(
            ", snapshot {} ({} files, {} read, {} added)",
            &s[..8],
            r.files,
            bytes(r.bytes_read),
            bytes(r.bytes_added)
        ));
    }
    println!("{line}");
    for (repo, id) in &r.copies {
        println!("  copied to {repo}: {}", &id[..id.len().min(8)]);
    }
    if r.forgotten > 0 {
        println!("  retention removed {} snapshot(s)", r.forgotten);
    }
    if let Some(p) = r.pruned_packs {
        println!("  pruned: {p} pack(s) deleted");
    }
    if let Some(c) = &r.check {
        println!("  check: {c}");
    }
    if let Some(d) = &r.drill {
        println!(
            "  drill: {} (restore {:.1}s, data age {:.0}s)",
            if d.passed { "passed" } else { "FAILED" },
            d.restore_seconds,
            d.data_age_seconds
        );
    }
}
