//! Putting PostgreSQL backups back: into a new database, replacing a database safely,
//! one table into a schema of its own, one table as CSV.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use bunker_repo::{BackupProgress, Repository};
use bunker_sources::postgres::{ArchiveInput, RestoreOptions, ScratchDatabase, Server, TableRef};
use chrono::Local;

use super::backup::{backup, PgBackupOptions};
use super::snapshot::{DumpedDatabase, PgSnapshot};
use crate::choice::SAFETY_TAG;
use crate::error::{Error, Result};

/// PostgreSQL truncates longer names (NAMEDATALEN - 1).
const MAX_NAME: usize = 63;

/// `base` cut (at a character boundary) so that `base + suffix` fits in a name.
pub(crate) fn name_with_suffix(base: &str, suffix: &str) -> String {
    let room = MAX_NAME.saturating_sub(suffix.len());
    let mut end = base.len().min(room);
    while !base.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{suffix}", &base[..end])
}

fn stamp() -> String {
    Local::now().format("%Y%m%d_%H%M%S").to_string()
}

/// A name for a throwaway database that cannot collide with a real one:
/// `PREFIX_DB_TIME_RANDOM`, within PostgreSQL's name length.
pub(crate) fn scratch_name(prefix: &str, db: &str) -> String {
    name_with_suffix(
        &format!("{prefix}_{db}"),
        &format!("_{}_{:04x}", stamp(), rand::random::<u16>()),
    )
}

/// Restores `dumped` from the snapshot into the existing, empty database `target`.
/// With `jobs > 1` the archive is first written to a temporary file in `spool_dir`,
/// because pg_restore seeks in it.
pub(crate) fn restore_archive(
    snap: &PgSnapshot,
    server: &Server,
    dumped: &DumpedDatabase,
    target: &str,
    jobs: usize,
    spool_dir: Option<&Path>,
) -> Result<()> {
    let opts = RestoreOptions {
        jobs,
        exit_on_error: true,
        ..Default::default()
    };
    let mut rd = snap.open(&dumped.file)?;
    if jobs <= 1 {
        server.restore(target, ArchiveInput::Stream(&mut rd), &opts)?;
        return Ok(());
    }
    let dir = spool_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    let spool = Spool::create(&dir, target)?;
    let mut f = std::fs::File::create(&spool.0).map_err(|e| spool_err(&spool.0, e))?;
    std::io::copy(&mut rd, &mut f).map_err(|e| spool_err(&spool.0, e))?;
    f.flush().map_err(|e| spool_err(&spool.0, e))?;
    drop(f);
    server.restore(target, ArchiveInput::File(&spool.0), &opts)?;
    Ok(())
}

fn spool_err(p: &Path, e: std::io::Error) -> Error {
    Error::Spool {
        path: p.to_path_buf(),
        source: e,
    }
}

/// A temporary archive file, removed when dropped.
struct Spool(std::path::PathBuf);

impl Spool {
    fn create(dir: &Path, name: &str) -> Result<Spool> {
        let file = format!(
            "bunker-restore-{}-{}.dump",
            name.replace('/', "_"),
            std::process::id()
        );
        Ok(Spool(dir.join(file)))
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Restores database `db` of the snapshot into a new database `to`, which must not
/// exist. A failed restore leaves nothing behind.
pub fn restore_new(
    snap: &PgSnapshot,
    server: &Server,
    db: &str,
    to: &str,
    jobs: usize,
    spool_dir: Option<&Path>,
) -> Result<()> {
    let _lock = snap.repo().lock(false)?;
    let dumped = snap.database(db)?;
    if server.database_exists(to)? {
        return Err(Error::DatabaseExists(to.to_string()));
    }
    let scratch = ScratchDatabase::create(server, to, &dumped.database)?;
    restore_archive(snap, server, dumped, scratch.name(), jobs, spool_dir)?;
    scratch.keep();
    Ok(())
}

/// What a safe replace did.
#[derive(Debug)]
pub struct ReplaceOutcome {
    /// The snapshot of the database as it was, tagged [`SAFETY_TAG`].
    pub safety_snapshot: String,
    /// The old database's new name, unless it was dropped.
    pub old_database: Option<String>,
}

/// Replaces database `db` with its copy from the snapshot, safely: a safety snapshot of
/// the current database first, then a restore into a new database beside it, and only
/// when that succeeded, the swap by rename. The swap runs from a maintenance database
/// when the connection string names `db` itself. A failure before the swap leaves the
/// original untouched and serving, and removes the safety snapshot again (it would only
/// pile up); a failure during the swap that cannot be rolled back keeps it.
#[allow(clippy::too_many_arguments)]
pub fn restore_replace(
    repo: Arc<Repository>,
    snap: &PgSnapshot,
    server: &Server,
    db: &str,
    jobs: usize,
    spool_dir: Option<&Path>,
    drop_old: bool,
    host: String,
) -> Result<ReplaceOutcome> {
    let dumped = snap.database(db)?;
    if !server.database_exists(db)? {
        return Err(Error::NoDatabaseToReplace(db.to_string()));
    }
    let ts = stamp();
    let new = name_with_suffix(db, &format!("_bunker_restore_{ts}"));
    let old = name_with_suffix(db, &format!("_before_restore_{ts}"));
    // What the swap needs is checked before anything is written.
    let admin = server.maintenance(&[db, &new, &old])?;
    if !admin.may_replace_database(db)? {
        return Err(Error::MayNotReplace(db.to_string()));
    }
    let safety = backup(
        repo.clone(),
        server,
        &PgBackupOptions {
            dbs: vec![db.to_string()],
            all: false,
            globals: false,
            backup: bunker_repo::BackupOptions {
                host,
                tags: vec![SAFETY_TAG.to_string()],
                ..Default::default()
            },
        },
        &BackupProgress::default(),
    )?;
    let safety_snapshot = safety.backup.snapshot;
    let swapped = {
        let _lock = repo.lock(false)?;
        swap_in(snap, &admin, dumped, db, &new, &old, jobs, spool_dir)
    };
    match swapped {
        Ok(()) => {}
        Err(Swap::Untouched(e)) => {
            // The original serves as before: its safety snapshot is not needed.
            let forgotten = bunker_repo::forget(
                &repo,
                &[bunker_repo::GroupDecision {
                    remove: vec![safety_snapshot.clone()],
                    ..Default::default()
                }],
                false,
            );
            return Err(match forgotten {
                Ok(_) => e,
                Err(f) => Error::SafetyKept {
                    error: Box::new(e),
                    snapshot: safety_snapshot.short_id(),
                    reason: f.to_string(),
                },
            });
        }
        Err(Swap::Broken(e)) => {
            return Err(Error::SwapBroken {
                error: Box::new(e),
                db: db.to_string(),
                old,
                snapshot: safety_snapshot.short_id(),
            })
        }
    }
    let old_database = if drop_old {
        admin.drop_database(&old)?;
        None
    } else {
        Some(old)
    };
    Ok(ReplaceOutcome {
        safety_snapshot: safety_snapshot.id.to_hex(),
        old_database,
    })
}

/// How a swap failed: with the original database in place, or not.
enum Swap {
    Untouched(Error),
    Broken(Error),
}

/// Restores into `new` beside `db`, then renames `db` to `old` and `new` to `db`.
#[allow(clippy::too_many_arguments)]
fn swap_in(
    snap: &PgSnapshot,
    admin: &Server,
    dumped: &DumpedDatabase,
    db: &str,
    new: &str,
    old: &str,
    jobs: usize,
    spool_dir: Option<&Path>,
) -> Result<(), Swap> {
    let untouched = |e: bunker_sources::postgres::Error| Swap::Untouched(e.into());
    let scratch = ScratchDatabase::create(admin, new, &dumped.database).map_err(untouched)?;
    restore_archive(snap, admin, dumped, scratch.name(), jobs, spool_dir)
        .map_err(Swap::Untouched)?;
    admin.rename_database(db, old).map_err(untouched)?;
    if let Err(e) = admin.rename_database(new, db) {
        // Put the original back under its name; the restored copy is dropped.
        return Err(match admin.rename_database(old, db) {
            Ok(()) => Swap::Untouched(e.into()),
            Err(_) => Swap::Broken(e.into()),
        });
    }
    scratch.keep();
    Ok(())
}

/// Restores `table` of database `db` from the snapshot into a throwaway database.
fn scratch_with_table(
    snap: &PgSnapshot,
    server: &Server,
    db: &str,
    table: &TableRef,
) -> Result<ScratchDatabase> {
    let dumped = snap.database(db)?;
    let name = scratch_name("bunker_table", db);
    let scratch = ScratchDatabase::create(server, &name, &dumped.database)?;
    let mut open = || -> std::io::Result<Box<dyn Read>> {
        snap.open(&dumped.file)
            .map(|r| Box::new(r) as Box<dyn Read>)
            .map_err(std::io::Error::other)
    };
    server.restore_one_table(scratch.name(), table, &mut open)?;
    Ok(scratch)
}

/// Brings back one table as it was in the snapshot, as `to_schema.TABLE` in the live
/// database `target` (the "accidental DELETE" recovery). Returns the rows recovered.
pub fn recover_table(
    snap: &PgSnapshot,
    server: &Server,
    db: &str,
    target: &str,
    table: &TableRef,
    to_schema: &str,
) -> Result<u64> {
    let _lock = snap.repo().lock(false)?;
    let scratch = scratch_with_table(snap, server, db, table)?;
    Ok(server.move_table(scratch.name(), table, target, to_schema)?)
}

/// Writes one table of the snapshot as CSV with a header line.
pub fn export_csv(
    snap: &PgSnapshot,
    server: &Server,
    db: &str,
    table: &TableRef,
    out: &mut dyn Write,
) -> Result<()> {
    let _lock = snap.repo().lock(false)?;
    let scratch = scratch_with_table(snap, server, db, table)?;
    server.export_csv(scratch.name(), table, out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_in_63_bytes() {
        let long = "é".repeat(40);
        let n = name_with_suffix(&long, "_before_restore_20261121_120000");
        assert!(n.len() <= MAX_NAME);
        assert!(n.ends_with("_before_restore_20261121_120000"));
        assert_eq!(name_with_suffix("app", "_x"), "app_x");
    }
}
