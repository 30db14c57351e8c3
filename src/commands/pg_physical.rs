//! `pg basebackup`, `pg info`, `pitr`, `pg standby`: physical backups and point-in-time
//! recovery.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use bunker_jobs::postgres::wal_archive;
use bunker_jobs::postgres::window::{base_backups, chain, latest_timeline, reach, BaseBackup};
use bunker_jobs::postgres::{self as pgjob, BaseBackupOptions, PitrOptions, PitrReport, Target};
use bunker_sources::postgres::wal::DEFAULT_SEGMENT_SIZE;
use chrono::{DateTime, FixedOffset, Local, NaiveDateTime, TimeZone};
use serde_json::json;

use super::Globals;
use crate::cli::{PgBasebackupArgs, PgInfoArgs, PgStandbyArgs, PitrArgs, RecoveryArgs};
use crate::output::bytes;

pub fn basebackup(g: &Globals, a: PgBasebackupArgs) -> Result<()> {
    let repo = g.open()?;
    let server = g.pg_server(&a.conn);
    let opts = BaseBackupOptions {
        pgdata: a.pgdata.clone(),
        stream: a.stream,
        fast_checkpoint: !a.spread_checkpoint,
        archive_timeout: (!a.archive_timeout.is_zero()).then_some(a.archive_timeout),
        backup: a.snapshot.options(g)?,
    };
    let (r, secs) =
        super::pg::with_progress(g, "read", |p| pgjob::basebackup(repo, &server, &opts, p))?;
    let s = r.backup.snapshot.summary.clone().unwrap_or_default();
    if g.json {
        println!(
            "{}",
            json!({
                "message_type": "summary",
                "snapshot_id": r.backup.snapshot.id,
                "postgres_base": r.meta,
                "data_added": s.data_added,
                "data_added_packed": s.data_added_packed,
                "total_bytes_processed": s.total_bytes_processed,
                "total_duration": secs,
            })
        );
        return Ok(());
    }
    let m = &r.meta;
    g.say(format!(
        "base backup of system {} (timeline {}): WAL {} to {} ({} to {})",
        m.system_identifier, m.timeline, m.start_lsn, m.stop_lsn, m.start_wal, m.stop_wal
    ));
    g.say(format!(
        "read {} in {:.1}s, added {} ({} stored)",
        bytes(s.total_bytes_processed),
        secs,
        bytes(s.data_added),
        bytes(s.data_added_packed)
    ));
    g.say(format!("snapshot {} saved", r.backup.snapshot.short_id()));
    Ok(())
}

/// Parses a recovery target time: RFC 3339, `YYYY-MM-DD HH:MM:SS[.f][+TZ]`, or that
/// without a zone in local time.
fn parse_time(s: &str) -> Result<DateTime<FixedOffset>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t);
    }
    for f in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%#z"] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Ok(t);
        }
    }
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .with_context(|| format!("cannot read the time {s:?} (e.g. \"2026-11-21 14:05:00+03\")"))?;
    Local
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.fixed_offset())
        .with_context(|| format!("{s:?} is ambiguous in the local time zone: give an offset"))
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The restore_command the recovered server runs, and the password it needs written
/// beside it: this binary, the repository and the password source given to this
/// command; a repository of the configuration as `--config FILE -r NAME`, so that the
/// password stays in the configuration. A password from the environment or a prompt,
/// which the server does not have, goes into a 0600 file in the data directory
/// ([`pgjob::RESTORE_PASSWORD_FILE`]) that the command names.
fn restore_command(g: &Globals, to: &Path) -> Result<(String, Option<String>)> {
    let exe = std::env::current_exe().context("locating the bunker binary")?;
    let mut cmd = vec![shell_quote(&exe.to_string_lossy())];
    if let Some(c) = g.configured.as_deref() {
        if let Some((name, _)) = c.repository() {
            let file = std::path::absolute(&c.config.path)?;
            cmd.push(format!(
                "--config {} -r {}",
                shell_quote(&file.to_string_lossy()),
                shell_quote(name)
            ));
            cmd.push("wal-fetch %f %p".into());
            return Ok((cmd.join(" "), None));
        }
    }
    let location = g.location()?;
    let location = match Path::new(location.strip_prefix("local:").unwrap_or(&location)) {
        p if p.is_relative() => std::path::absolute(p)?.to_string_lossy().into_owned(),
        _ => location,
    };
    cmd.push(format!("-r {}", shell_quote(&location)));
    let mut password = None;
    if let Some(f) = &g.password_file {
        cmd.push(format!(
            "--password-file {}",
            shell_quote(&std::path::absolute(f)?.to_string_lossy())
        ));
    } else if let Some(c) = &g.password_command {
        cmd.push(format!("--password-command {}", shell_quote(c)));
    } else {
        let file = std::path::absolute(to)?.join(pgjob::RESTORE_PASSWORD_FILE);
        cmd.push(format!(
            "--password-file {}",
            shell_quote(&file.to_string_lossy())
        ));
        password = Some(g.password()?);
    }
    cmd.push("wal-fetch %f %p".into());
    Ok((cmd.join(" "), password))
}

fn settings(list: &[String]) -> Result<Vec<(String, String)>> {
    list.iter()
        .map(|s| {
            let (k, v) = s
                .split_once('=')
                .with_context(|| format!("--set {s:?}: expected NAME=VALUE"))?;
            Ok((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

fn recovery_options(
    g: &Globals,
    to: PathBuf,
    c: &RecoveryArgs,
    target: Target,
) -> Result<PitrOptions> {
    let (restore_command, restore_password) = restore_command(g, &to)?;
    Ok(PitrOptions {
        to,
        target,
        timeline: c.timeline,
        base: c.base.clone(),
        system: c.system.clone(),
        restore_command,
        restore_password,
        settings: settings(&c.settings)?,
        standby: false,
        primary_conninfo: None,
        start: c.start,
        server_bin: c.pg_server_bin.clone(),
        start_timeout: c.start_timeout,
        threads: g.threads,
    })
}

pub fn pitr(g: &Globals, a: PitrArgs) -> Result<()> {
    let target = if let Some(t) = &a.time {
        Target::Time(parse_time(t)?)
    } else if let Some(l) = &a.lsn {
        Target::Lsn(l.parse()?)
    } else if let Some(x) = &a.xid {
        Target::Xid(x.clone())
    } else if let Some(n) = &a.name {
        Target::Name(n.clone())
    } else if a.immediate {
        Target::Immediate
    } else {
        Target::Latest
    };
    let repo = g.open()?;
    let opts = recovery_options(g, a.to.clone(), &a.common, target)?;
    let report = pgjob::pitr(repo, &opts)?;
    print_report(g, &report);
    Ok(())
}

pub fn standby(g: &Globals, a: PgStandbyArgs) -> Result<()> {
    let repo = g.open()?;
    let mut opts = recovery_options(g, a.to.clone(), &a.common, Target::Latest)?;
    opts.standby = true;
    opts.primary_conninfo = a.primary_conninfo.clone();
    let report = pgjob::pitr(repo, &opts)?;
    print_report(g, &report);
    Ok(())
}

fn print_report(g: &Globals, r: &PitrReport) {
    if g.json {
        println!("{}", serde_json::to_string(r).expect("json"));
        return;
    }
    g.say(format!(
        "restored base backup {} (system {}, timeline {}) into {} in {:.1}s",
        &r.base_snapshot[..8],
        r.system_identifier,
        r.base_timeline,
        r.data_directory.display(),
        r.restore_seconds
    ));
    let end_time = r
        .window_end_time
        .map(|t| format!(" (archived {})", t.format("%Y-%m-%d %H:%M:%S%:z")))
        .unwrap_or_default();
    g.say(format!(
        "recoverable with this backup: {} to {}{end_time}{}",
        r.window_start,
        r.window_end,
        r.streamed_segment
            .as_ref()
            .map(|s| format!(", plus the streamed segment {s} placed in pg_wal"))
            .unwrap_or_default()
    ));
    g.say(format!("target: {}", r.target));
    match &r.reached {
        Some(x) if x.in_recovery => g.say(format!(
            "standby running after {:.1}s, replaying the archive: timeline {}, replayed to LSN {}, last transaction {}; the server runs on port {} ({})",
            x.recovery_seconds,
            x.timeline,
            x.lsn,
            x.last_transaction.as_deref().unwrap_or("none replayed yet"),
            x.port,
            x.socket_dir
        )),
        Some(x) => g.say(format!(
            "recovery finished in {:.1}s: timeline {}, LSN {}, last transaction {}; the server runs on port {} ({})",
            x.recovery_seconds,
            x.timeline,
            x.lsn,
            x.last_transaction.as_deref().unwrap_or("none replayed"),
            x.port,
            x.socket_dir
        )),
        None => g.say(format!(
            "start the server to recover: pg_ctl -D {} start",
            r.data_directory.display()
        )),
    }
}

pub fn info(g: &Globals, a: PgInfoArgs) -> Result<()> {
    let repo = g.open()?;
    let bases = base_backups(&repo)?;
    let mut systems: Vec<String> = bases
        .iter()
        .map(|b| b.meta.system_identifier.clone())
        .collect();
    systems.extend(wal_archive::systems(&repo)?);
    systems.sort();
    systems.dedup();
    if let Some(s) = &a.system {
        systems.retain(|x| x == s);
    }
    let server = g.pg_server(&a.conn);
    let archiver = if server.dsn().is_empty() && server.password().is_none() {
        None
    } else {
        Some((server.cluster_facts()?, server.archiver_status()?))
    };
    let mut out = Vec::new();
    for system in &systems {
        let mine: Vec<&BaseBackup> = bases
            .iter()
            .filter(|b| &b.meta.system_identifier == system)
            .collect();
        let seg = mine
            .first()
            .map(|b| b.meta.wal_segment_size)
            .unwrap_or(DEFAULT_SEGMENT_SIZE);
        let mut listing = wal_archive::list(&repo, system, seg)?;
        let damaged = if a.read_data {
            wal_archive::verify(&repo, system, &mut listing)
        } else {
            Vec::new()
        };
        let newest = latest_timeline(&listing);
        let mut timelines = Vec::new();
        for tli in listing.timelines() {
            let segs = listing.segments(tli);
            let links = chain(&repo, system, tli, seg).ok();
            let window = links.as_ref().and_then(|links| {
                let usable: Vec<_> = mine
                    .iter()
                    .filter(|b| {
                        links.iter().any(|l| {
                            l.tli == b.meta.timeline && l.end.is_none_or(|e| b.meta.stop_lsn <= e)
                        })
                    })
                    .map(|b| (b, reach(&listing, &b.meta, links)))
                    .filter(|(_, r)| r.consistent)
                    .collect();
                let (oldest, _) = usable.first()?;
                let (_, newest_reach) = usable.last()?;
                Some(json!({
                    "earliest_lsn": oldest.meta.stop_lsn.to_string(),
                    "earliest_time": oldest.meta.finished,
                    "latest_lsn": newest_reach.end_lsn.to_string(),
                    "latest_time": newest_reach.end_time,
                    "latest_segment": newest_reach.last_segment,
                    "streaming": newest_reach.streaming,
                    "gap": newest_reach.gap,
                }))
            });
            timelines.push(json!({
                "timeline": tli,
                "segments": segs.len(),
                "first_segment": segs.values().next().map(|a| a.name.clone()),
                "last_segment": segs.values().last().map(|a| a.name.clone()),
                "bytes_stored": listing.files.iter().filter(|f| f.file.timeline() == tli).map(|f| f.size).sum::<u64>(),
                "history": listing.has_history(tli),
                "window": window,
            }));
        }
        let lag = archiver
            .as_ref()
            .filter(|(f, _)| &f.system_identifier == system)
            .map(|(_, st)| {
                let last = listing
                    .segments(newest)
                    .values()
                    .last()
                    .map(|a| a.name.clone());
                let behind = match (&st.current_wal_file, &last) {
                    (Some(cur), Some(last)) => segment_distance(last, cur, seg),
                    _ => None,
                };
                json!({
                    "current_lsn": st.current_lsn.map(|l| l.to_string()),
                    "current_wal_file": st.current_wal_file,
                    "last_in_archive": last,
                    "segments_behind": behind,
                    "archived_count": st.archived_count,
                    "last_archived_time": st.last_archived_time,
                    "failed_count": st.failed_count,
                    "last_failed_wal": st.last_failed_wal,
                    "last_failed_time": st.last_failed_time,
                })
            });
        out.push(json!({
            "system_identifier": system,
            "wal_segment_size": seg,
            "newest_timeline": newest,
            "base_backups": mine.iter().map(|b| json!({
                "snapshot": b.snapshot.id.to_hex(),
                "time": b.snapshot.time,
                "timeline": b.meta.timeline,
                "start_lsn": b.meta.start_lsn.to_string(),
                "stop_lsn": b.meta.stop_lsn.to_string(),
                "start_wal": b.meta.start_wal,
                "stop_wal": b.meta.stop_wal,
                "finished": b.meta.finished,
                "method": b.meta.method,
                "size": b.snapshot.summary.as_ref().map(|s| s.total_bytes_processed),
            })).collect::<Vec<_>>(),
            "timelines": timelines,
            "archive": lag,
            "verified": a.read_data,
            "damaged": damaged,
        }));
    }
    if g.json {
        println!("{}", serde_json::to_string(&out)?);
        return Ok(());
    }
    if out.is_empty() {
        bail!("no base backup and no WAL in the repository: run `bunker pg basebackup` and set archive_command = 'bunker wal-push %p'");
    }
    for s in &out {
        print_system(s);
    }
    Ok(())
}

/// How many segments `last` is behind `current` (same timeline assumed).
fn segment_distance(last: &str, current: &str, seg: u64) -> Option<i64> {
    use bunker_sources::postgres::wal::WalFile;
    match (WalFile::parse(last, seg)?, WalFile::parse(current, seg)?) {
        // The server's current file is the one it writes; the archive can already hold
        // it when a switch just happened: never fewer than 0 behind.
        (WalFile::Segment { segno: a, .. }, WalFile::Segment { segno: b, .. }) => {
            Some((b as i64 - a as i64 - 1).max(0))
        }
        _ => None,
    }
}

fn print_system(s: &serde_json::Value) {
    let str_of = |v: &serde_json::Value| v.as_str().map(String::from).unwrap_or_else(|| "-".into());
    println!(
        "system {} (newest timeline {})",
        str_of(&s["system_identifier"]),
        s["newest_timeline"]
    );
    println!("  base backups:");
    let bases = s["base_backups"].as_array().cloned().unwrap_or_default();
    if bases.is_empty() {
        println!("    none");
    }
    for b in &bases {
        println!(
            "    {}  {}  timeline {}  WAL {} to {}  {}",
            &str_of(&b["snapshot"])[..8],
            str_of(&b["finished"]),
            b["timeline"],
            str_of(&b["start_wal"]),
            str_of(&b["stop_wal"]),
            b["size"].as_u64().map(bytes).unwrap_or_default()
        );
    }
    for t in s["timelines"].as_array().cloned().unwrap_or_default() {
        println!(
            "  timeline {}: {} segments, {} to {}, {} stored",
            t["timeline"],
            t["segments"],
            str_of(&t["first_segment"]),
            str_of(&t["last_segment"]),
            bytes(t["bytes_stored"].as_u64().unwrap_or(0))
        );
        let w = &t["window"];
        if w.is_null() {
            println!("    no base backup can be recovered along this timeline");
            continue;
        }
        println!(
            "    recoverable: {} ({}) to {} ({}){}",
            str_of(&w["earliest_lsn"]),
            str_of(&w["earliest_time"]),
            str_of(&w["latest_lsn"]),
            str_of(&w["latest_time"]),
            w["streaming"]
                .as_str()
                .map(|n| format!(" + streamed {n}"))
                .unwrap_or_default()
        );
        if !w["gap"].is_null() {
            println!(
                "    GAP: {} to {} missing from the archive",
                str_of(&w["gap"]["first"]),
                str_of(&w["gap"]["last"])
            );
        }
    }
    if let Some(list) = s["damaged"].as_array().filter(|l| !l.is_empty()) {
        println!("  DAMAGED in the archive (counted as missing):");
        for d in list {
            println!("    {}: {}", str_of(&d["name"]), str_of(&d["error"]));
        }
    } else if s["verified"].as_bool() == Some(true) {
        println!("  every archived file read back intact");
    }
    let a = &s["archive"];
    if !a.is_null() {
        println!(
            "  archiving: server at {} ({}), archive has {}, {} segments behind; {} archived, {} failed{}",
            str_of(&a["current_lsn"]),
            str_of(&a["current_wal_file"]),
            str_of(&a["last_in_archive"]),
            a["segments_behind"],
            a["archived_count"],
            a["failed_count"],
            a["last_failed_wal"].as_str().map(|w| format!(" (last: {w} at {})", str_of(&a["last_failed_time"]))).unwrap_or_default()
        );
    }
}
