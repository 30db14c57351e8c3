//! `pg basebackup`, `pg info`, `pitr`, `pg standby`: physical backups and point-in-time
//! recovery.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use bunker_jobs::postgres::system_report::{self, SystemReport};
use bunker_jobs::postgres::{self as pgjob, BaseBackupOptions, PitrOptions, PitrReport, Target};
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
        super::pg::with_progress(g, "files", |p| pgjob::basebackup(repo, &server, &opts, p))?;
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
        progress: Default::default(),
    })
}

/// Recovers with a progress bar for the restore of the base backup (on a terminal; the
/// `--json` report stays one object).
fn recover(
    g: &Globals,
    repo: std::sync::Arc<bunker_repo::Repository>,
    opts: &PitrOptions,
) -> Result<PitrReport> {
    let p = opts.progress.clone();
    let ticker = crate::output::meter(g.quiet || g.json, false, "files", move || {
        crate::output::Reading::of_restore(&p)
    });
    let report = pgjob::pitr(repo, opts);
    drop(ticker);
    Ok(report?)
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
    let report = recover(g, repo, &opts)?;
    print_report(g, &report);
    Ok(())
}

pub fn standby(g: &Globals, a: PgStandbyArgs) -> Result<()> {
    let repo = g.open()?;
    let mut opts = recovery_options(g, a.to.clone(), &a.common, Target::Latest)?;
    opts.standby = true;
    opts.primary_conninfo = a.primary_conninfo.clone();
    let report = recover(g, repo, &opts)?;
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
    let server = g.pg_server(&a.conn);
    let live = !(server.dsn().is_empty() && server.password().is_none());
    let out = system_report::systems(
        &repo,
        a.system.as_deref(),
        live.then_some(&server),
        a.read_data,
    )?;
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

/// A time as the JSON output writes it.
fn time_text(t: &DateTime<FixedOffset>) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

fn print_system(s: &SystemReport) {
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    println!(
        "system {} (newest timeline {})",
        s.system_identifier, s.newest_timeline
    );
    println!("  base backups:");
    if s.base_backups.is_empty() {
        println!("    none");
    }
    for b in &s.base_backups {
        println!(
            "    {}  {}  timeline {}  WAL {} to {}  {}",
            &b.snapshot[..8],
            time_text(&b.finished),
            b.timeline,
            b.start_wal,
            b.stop_wal,
            b.size.map(bytes).unwrap_or_default()
        );
    }
    for t in &s.timelines {
        println!(
            "  timeline {}: {} segments, {} to {}, {} stored",
            t.timeline,
            t.segments,
            or_dash(&t.first_segment),
            or_dash(&t.last_segment),
            bytes(t.bytes_stored)
        );
        let Some(w) = &t.window else {
            println!("    no base backup can be recovered along this timeline");
            continue;
        };
        println!(
            "    recoverable: {} ({}) to {} ({}){}",
            w.earliest_lsn,
            time_text(&w.earliest_time),
            w.latest_lsn,
            w.latest_time
                .as_ref()
                .map(time_text)
                .unwrap_or_else(|| "-".into()),
            w.streaming
                .as_ref()
                .map(|n| format!(" + streamed {n}"))
                .unwrap_or_default()
        );
        if let Some(gap) = &w.gap {
            println!(
                "    GAP: {} to {} missing from the archive",
                gap.first, gap.last
            );
        }
    }
    if !s.damaged.is_empty() {
        println!("  DAMAGED in the archive (counted as missing):");
        for d in &s.damaged {
            println!("    {}: {}", d.name, d.error);
        }
    } else if s.verified {
        println!("  every archived file read back intact");
    }
    if let Some(a) = &s.archive {
        println!(
            "  archiving: server at {} ({}), archive has {}, {} segments behind; {} archived, {} failed{}",
            or_dash(&a.current_lsn),
            or_dash(&a.current_wal_file),
            or_dash(&a.last_in_archive),
            a.segments_behind.map(|n| n.to_string()).unwrap_or_else(|| "null".into()),
            a.archived_count,
            a.failed_count,
            a.last_failed_wal.as_ref().map(|w| format!(" (last: {w} at {})", or_dash(&a.last_failed_time))).unwrap_or_default()
        );
    }
}
