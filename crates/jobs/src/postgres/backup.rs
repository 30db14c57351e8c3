//! `pg backup`: globals and each database's `pg_dump` streamed into one snapshot.

use std::sync::Arc;

use bunker_repo::{backup_streams, BackupOptions, BackupProgress, BackupResult, Repository};
use bunker_sources::postgres::{Database, Server};
use chrono::Local;

use super::snapshot::{dump_file_name, DumpedDatabase, PgMeta, GLOBALS_FILE, META_KEY, TAG};
use crate::error::{Error, Result};

/// What to dump.
#[derive(Clone, Debug, Default)]
pub struct PgBackupOptions {
    /// Databases by name; empty means the connection string's own database.
    pub dbs: Vec<String>,
    /// Every database that accepts connections.
    pub all: bool,
    /// Save roles and tablespaces too.
    pub globals: bool,
    /// Host, tags and threads of the snapshot ([`TAG`] is added).
    pub backup: BackupOptions,
}

/// A finished PostgreSQL backup.
pub struct PgBackupResult {
    pub backup: BackupResult,
    pub meta: PgMeta,
    /// What the tools warned about (e.g. roles saved without passwords).
    pub warnings: Vec<String>,
}

/// Dumps the selected databases one after the other into one snapshot. If any dump
/// fails, no snapshot is written and the tool's message is the error.
pub fn backup(
    repo: Arc<Repository>,
    server: &Server,
    opts: &PgBackupOptions,
    progress: &BackupProgress,
) -> Result<PgBackupResult> {
    let info = server.info()?;
    let pg_dump = server.tool("pg_dump");
    server.check_client(&pg_dump, &info)?;
    let (_, pg_dump_version) = pg_dump.version()?;
    let all = server.databases()?;
    let selected: Vec<Database> = if opts.all {
        all
    } else {
        let wanted = if opts.dbs.is_empty() {
            vec![info.database.clone()]
        } else {
            opts.dbs.clone()
        };
        wanted
            .iter()
            .map(|name| {
                all.iter()
                    .find(|d| &d.name == name)
                    .cloned()
                    .ok_or_else(|| Error::NoDatabaseToDump(name.clone()))
            })
            .collect::<Result<_>>()?
    };
    if selected.is_empty() {
        return Err(Error::NothingToDump);
    }
    let mut bopts = opts.backup.clone();
    bopts.stream_chunks = bunker_repo::ChunkSizes::DUMPS;
    if !bopts.tags.iter().any(|t| t == TAG) {
        bopts.tags.insert(0, TAG.to_string());
    }
    let started = Local::now().fixed_offset();
    let mut warnings = Vec::new();
    let mut meta = None;
    let mut failure: Option<Error> = None;
    let result = backup_streams(repo, &bopts, progress, &mut |sink| {
        let mut globals = None;
        if opts.globals {
            let (sql, warning) = server.dump_globals().map_err(|e| stash(&mut failure, e))?;
            warnings.extend(warning);
            sink.add(GLOBALS_FILE, 0o600, sql.as_slice())?;
            globals = Some(GLOBALS_FILE.to_string());
        }
        let mut databases = Vec::new();
        for db in &selected {
            let file = dump_file_name(&db.name);
            let db_started = Local::now().fixed_offset();
            let mut dump = server.dump(&db.name).map_err(|e| stash(&mut failure, e))?;
            let added = sink.add(&file, 0o600, dump.take_stdout());
            let dump_bytes = match added {
                Ok(n) => n,
                Err(e) => {
                    dump.kill();
                    return Err(e);
                }
            };
            let stderr = dump.finish().map_err(|e| stash(&mut failure, e))?;
            warnings.extend(
                stderr
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(String::from),
            );
            databases.push(DumpedDatabase {
                database: db.clone(),
                file,
                dump_bytes,
                started: db_started,
                finished: Local::now().fixed_offset(),
            });
        }
        let m = PgMeta {
            server_version: info.version.clone(),
            server_version_num: info.version_num,
            pg_dump_version: pg_dump_version.clone(),
            started,
            finished: Local::now().fixed_offset(),
            globals,
            databases,
        };
        sink.set_extra(META_KEY, serde_json::to_value(&m).expect("serializable"));
        meta = Some(m);
        Ok(())
    });
    let backup = match result {
        Ok(b) => b,
        // The source's own error, not the engine's wrapper of it.
        Err(e) => return Err(failure.take().unwrap_or(Error::Repo(e))),
    };
    Ok(PgBackupResult {
        backup,
        meta: meta.expect("set when the streams succeeded"),
        warnings,
    })
}

/// Keeps a source error for the caller and gives the engine a stand-in that aborts the
/// snapshot.
fn stash(slot: &mut Option<Error>, e: bunker_sources::postgres::Error) -> bunker_repo::Error {
    let msg = e.to_string();
    *slot = Some(Error::Postgres(e));
    bunker_repo::Error::Invalid(msg)
}
