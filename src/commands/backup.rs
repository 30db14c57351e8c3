use std::io::IsTerminal;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use bunker_repo::{
    backup_paths, backup_stream, BackupOptions, BackupProgress, BackupResult, ParentChoice,
};
use chrono::{DateTime, FixedOffset, Local, NaiveDateTime, TimeZone};

use super::{Globals, Partial};
use crate::cli::BackupArgs;
use crate::output::{bytes, meter, Reading};

fn parse_time(s: &str) -> Result<DateTime<FixedOffset>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t);
    }
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .with_context(|| format!("invalid time {s:?}"))?;
    Ok(Local
        .from_local_datetime(&naive)
        .single()
        .context("ambiguous local time")?
        .fixed_offset())
}

fn read_exclude_file(path: &std::path::Path) -> Result<Vec<String>> {
    let s = std::fs::read_to_string(path)
        .with_context(|| format!("reading exclude file {}", path.display()))?;
    Ok(s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect())
}

/// `--tag` values split at commas, then `--label NAME` as the tags NAME and "forever".
pub fn tags(given: &[String], label: Option<&str>) -> Result<Vec<String>> {
    let mut tags: Vec<String> = given
        .iter()
        .flat_map(|t| t.split(','))
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect();
    if let Some(label) = label {
        let label = label.trim();
        if label.is_empty() || label.contains(',') {
            bail!("--label needs one name without commas, e.g. --label pre-migration");
        }
        for t in [label, bunker_repo::PROTECTED_TAG] {
            if !tags.iter().any(|x| x == t) {
                tags.push(t.to_string());
            }
        }
    }
    Ok(tags)
}

pub fn options(g: &Globals, a: &BackupArgs) -> Result<BackupOptions> {
    let mut excludes = a.excludes.clone();
    for f in &a.exclude_files {
        excludes.extend(read_exclude_file(f)?);
    }
    let parent = match (&a.parent, a.force) {
        (_, true) => ParentChoice::None,
        (Some(p), false) => ParentChoice::Snapshot(p.clone()),
        (None, false) => ParentChoice::Auto,
    };
    Ok(BackupOptions {
        host: a.host.clone().unwrap_or_else(bunker_repo::hostname),
        tags: tags(&a.tags, a.label.as_deref())?,
        excludes,
        exclude_caches: a.exclude_caches,
        one_file_system: a.one_file_system,
        exclude_larger_than: a.exclude_larger_than,
        parent,
        threads: g.threads,
        time: a.time.as_deref().map(parse_time).transpose()?,
        extra: Default::default(),
        stream_chunks: Default::default(),
        // The progress total, where progress is shown.
        scan: g.json || (!g.quiet && std::io::stderr().is_terminal()),
    })
}

pub fn run(g: &Globals, a: BackupArgs) -> Result<()> {
    let opts = options(g, &a)?;
    let repo = g.open()?;
    let progress = Arc::new(BackupProgress::default());
    let started = Instant::now();
    let ticker = {
        let p = progress.clone();
        // The total is the size scan's, final once it ends; until then the bar has none.
        meter(g.quiet, g.json, "files", move || {
            let scanned = p.scanned.load(Ordering::Relaxed);
            Reading {
                bytes: p.bytes.load(Ordering::Relaxed),
                total_bytes: scanned.then(|| p.total_bytes.load(Ordering::Relaxed)),
                items: p.files.load(Ordering::Relaxed),
                total_items: scanned.then(|| p.total_files.load(Ordering::Relaxed)),
            }
        })
    };
    let result = if a.stdin_from_command {
        let (cmd, args) = a
            .paths
            .split_first()
            .context("--stdin-from-command needs a command after --")?;
        let mut child = Command::new(cmd)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", cmd.display()))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let name = if a.stdin_filename == "stdin" {
            cmd.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or(a.stdin_filename.clone())
        } else {
            a.stdin_filename.clone()
        };
        let mut wait = || -> bunker_repo::Result<()> {
            let status = child.wait().map_err(|e| {
                bunker_repo::Error::Invalid(format!("waiting for {}: {e}", cmd.display()))
            })?;
            if !status.success() {
                return Err(bunker_repo::Error::Invalid(format!(
                    "{} failed ({status}): no snapshot was written",
                    cmd.display()
                )));
            }
            Ok(())
        };
        backup_stream(repo.clone(), stdout, &name, &opts, &progress, &mut wait)
    } else if a.stdin {
        if !a.paths.is_empty() {
            bail!("--stdin takes no paths");
        }
        backup_stream(
            repo.clone(),
            std::io::stdin(),
            &a.stdin_filename,
            &opts,
            &progress,
            &mut || Ok(()),
        )
    } else {
        backup_paths(repo.clone(), &a.paths, &opts, &progress)
    };
    drop(ticker);
    let r = result?;
    report(g, &r, started.elapsed().as_secs_f64())?;
    if !r.warnings.is_empty() {
        return Err(Partial(format!(
            "snapshot {} saved, but {} file(s) could not be read",
            r.snapshot.short_id(),
            r.warnings.len()
        ))
        .into());
    }
    Ok(())
}

fn report(g: &Globals, r: &BackupResult, secs: f64) -> Result<()> {
    let s = r.snapshot.summary.clone().unwrap_or_default();
    if g.json {
        for w in &r.warnings {
            println!(
                "{}",
                serde_json::json!({"message_type": "error", "error": w})
            );
        }
        println!(
            "{}",
            serde_json::json!({
                "message_type": "summary",
                "files_new": s.files_new, "files_changed": s.files_changed, "files_unmodified": s.files_unmodified,
                "dirs_new": s.dirs_new, "dirs_changed": s.dirs_changed, "dirs_unmodified": s.dirs_unmodified,
                "data_blobs": s.data_blobs, "tree_blobs": s.tree_blobs,
                "data_added": s.data_added, "data_added_packed": s.data_added_packed,
                "total_files_processed": s.total_files_processed, "total_bytes_processed": s.total_bytes_processed,
                "total_duration": secs, "snapshot_id": r.snapshot.id,
            })
        );
        return Ok(());
    }
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    for c in &r.changed {
        eprintln!("note: {c} changed while it was read; stored as read");
    }
    g.say(format!(
        "Files:     {:>6} new, {:>6} changed, {:>6} unmodified",
        s.files_new, s.files_changed, s.files_unmodified
    ));
    g.say(format!(
        "Dirs:      {:>6} new, {:>6} changed, {:>6} unmodified",
        s.dirs_new, s.dirs_changed, s.dirs_unmodified
    ));
    g.say(format!(
        "Added to the repository: {} ({} stored)",
        bytes(s.data_added),
        bytes(s.data_added_packed)
    ));
    g.say(format!(
        "processed {} files, {} in {:.1}s",
        s.total_files_processed,
        bytes(s.total_bytes_processed),
        secs
    ));
    g.say(format!("snapshot {} saved", r.snapshot.short_id()));
    Ok(())
}
