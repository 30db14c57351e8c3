//! `pg backup | restore | export`: PostgreSQL logical backups.

use std::io::{IsTerminal, Write};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use bunker_jobs::choice::Choice;
use bunker_jobs::exit;
use bunker_jobs::postgres::{self as pgjob, PgBackupOptions, PgSnapshot};
use bunker_repo::{BackupProgress, Repository};
use bunker_sources::postgres::TableRef;

use super::{ExitWith, Globals};
use crate::cli::{FilterArgs, PgBackupArgs, PgCommand, PgExportArgs, PgRestoreArgs, SnapshotArgs};
use crate::output::{bytes, meter, Reading};

pub fn run(g: &Globals, c: PgCommand) -> Result<()> {
    match c {
        PgCommand::Backup(a) => backup(g, a),
        PgCommand::Restore(a) => restore(g, a),
        PgCommand::Export(a) => export(g, a),
        PgCommand::Basebackup(a) => super::pg_physical::basebackup(g, a),
        PgCommand::Info(a) => super::pg_physical::info(g, a),
        PgCommand::Standby(a) => super::pg_physical::standby(g, a),
    }
}

impl SnapshotArgs {
    /// The snapshot settings of a database backup.
    pub fn options(&self, g: &Globals) -> Result<bunker_repo::BackupOptions> {
        Ok(bunker_repo::BackupOptions {
            host: self.host.clone().unwrap_or_else(bunker_repo::hostname),
            tags: super::backup::tags(&self.tags, self.label.as_deref())?,
            threads: g.threads,
            ..Default::default()
        })
    }
}

/// Runs a database backup with a progress line (bytes `read`, rate, files); returns its
/// result and its duration in seconds. A dump's size is not known before it ends: no
/// total, no ETA.
pub fn with_progress<T, E>(
    g: &Globals,
    items: &'static str,
    run: impl FnOnce(&BackupProgress) -> std::result::Result<T, E>,
) -> std::result::Result<(T, f64), E> {
    let progress = Arc::new(BackupProgress::default());
    let started = Instant::now();
    let ticker = {
        let p = progress.clone();
        meter(g.quiet, g.json, items, move || Reading {
            bytes: p.bytes.load(Ordering::Relaxed),
            total_bytes: None,
            items: p.files.load(Ordering::Relaxed),
            total_items: None,
        })
    };
    let result = run(&progress);
    drop(ticker);
    Ok((result?, started.elapsed().as_secs_f64()))
}

/// The PostgreSQL snapshot `spec` names ("latest": the newest, of the job with --job).
pub fn find(g: &Globals, repo: Arc<Repository>, spec: &str) -> Result<PgSnapshot> {
    let filter = g.filter(&FilterArgs::default());
    Ok(PgSnapshot::find(repo, &Choice::from_spec(spec), &filter)?)
}

fn backup(g: &Globals, a: PgBackupArgs) -> Result<()> {
    if let Some((job, _)) = g.job() {
        return Err(ExitWith(
            exit::USAGE,
            format!("pg backup takes no --job: back the job up with `bunker run {job}`"),
        )
        .into());
    }
    let repo = g.open()?;
    let server = g.pg_server(&a.conn);
    let opts = PgBackupOptions {
        dbs: a.dbs.clone(),
        all: a.all,
        globals: !a.no_globals,
        backup: a.snapshot.options(g)?,
    };
    let (r, secs) = with_progress(g, "files", |p| pgjob::backup(repo, &server, &opts, p))?;
    let s = r.backup.snapshot.summary.clone().unwrap_or_default();
    if g.json {
        println!(
            "{}",
            serde_json::json!({
                "message_type": "summary",
                "snapshot_id": r.backup.snapshot.id,
                "postgres": r.meta,
                "data_added": s.data_added,
                "data_added_packed": s.data_added_packed,
                "total_bytes_processed": s.total_bytes_processed,
                "total_duration": secs,
                "warnings": r.warnings,
            })
        );
        return Ok(());
    }
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    for d in &r.meta.databases {
        g.say(format!(
            "{:<24} {:>12} dumped ({} on disk)",
            d.database.name,
            bytes(d.dump_bytes),
            bytes(d.database.size)
        ));
    }
    g.say(format!(
        "Added to the repository: {} ({} stored)",
        bytes(s.data_added),
        bytes(s.data_added_packed)
    ));
    g.say(format!(
        "PostgreSQL {}: {} database(s), {} in {secs:.1}s",
        r.meta.server_version,
        r.meta.databases.len(),
        bytes(s.total_bytes_processed)
    ));
    g.say(format!("snapshot {} saved", r.backup.snapshot.short_id()));
    Ok(())
}

/// Asks on the terminal; without one, `--yes` is required.
fn confirm(question: &str, yes: bool) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!("{question}: not confirmed (no terminal); pass --yes to confirm in scripts");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        bail!("not confirmed; nothing was changed");
    }
    Ok(())
}

fn restore(g: &Globals, a: PgRestoreArgs) -> Result<()> {
    let repo = g.open()?;
    let server = g.pg_server(&a.conn);
    let snap = find(g, repo.clone(), &a.snapshot)?;
    let short = snap.snapshot.short_id();
    if a.globals {
        let file = snap.meta.globals.clone().with_context(|| {
            format!("snapshot {short} has no globals (it was made with --no-globals)")
        })?;
        let mut rd = snap.open(&file)?;
        let errors = server.restore_globals(&mut rd)?;
        for e in &errors {
            eprintln!("note: {e}");
        }
        g.say(format!(
            "globals restored ({} statement(s) reported errors, e.g. roles that already exist)",
            errors.len()
        ));
    }
    let Some(db) = a.db.as_deref() else {
        return Ok(());
    };
    if let Some(t) = &a.table {
        let table: TableRef = t.parse()?;
        let rows = pgjob::recover_table(&snap, &server, db, db, &table, &a.to_schema)?;
        g.say(format!(
            "table {table} of snapshot {short} recovered as {}.{} in database {db}: {rows} rows",
            a.to_schema, table.name
        ));
        return Ok(());
    }
    let started = Instant::now();
    if a.replace {
        confirm(
            &format!(
                "Replace database {db:?} with its copy from snapshot {short} ({})? A safety snapshot is taken first",
                snap.snapshot.time.format("%Y-%m-%d %H:%M:%S")
            ),
            a.yes,
        )?;
        let host = bunker_repo::hostname();
        let out = pgjob::restore_replace(
            repo,
            &snap,
            &server,
            db,
            a.jobs,
            a.spool_dir.as_deref(),
            a.drop_old,
            host,
        )?;
        g.say(format!(
            "safety snapshot {} of the old {db:?} saved (tag pre-restore)",
            &out.safety_snapshot[..8]
        ));
        g.say(format!(
            "database {db:?} replaced by snapshot {short} in {:.1}s; {}",
            started.elapsed().as_secs_f64(),
            match &out.old_database {
                Some(old) => format!("the old one is kept as {old:?}"),
                None => "the old one was dropped".to_string(),
            }
        ));
        return Ok(());
    }
    let to =
        a.to.clone()
            .unwrap_or_else(|| format!("{db}_restored_{short}"));
    pgjob::restore_new(&snap, &server, db, &to, a.jobs, a.spool_dir.as_deref())?;
    g.say(format!(
        "database {db:?} of snapshot {short} restored as {to:?} in {:.1}s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

fn export(g: &Globals, a: PgExportArgs) -> Result<()> {
    let repo = g.open()?;
    let server = g.pg_server(&a.conn);
    let snap = find(g, repo, &a.snapshot)?;
    let table: TableRef = a.table.parse()?;
    let mut out = std::io::stdout().lock();
    pgjob::export_csv(&snap, &server, &a.db, &table, &mut out)?;
    out.flush()?;
    Ok(())
}
