//! `type = "postgres"`: logical backups, one `pg_dump` archive per database (and the
//! globals) in one snapshot; restored into a new database or in place of one.

use std::path::Path;
use std::sync::Arc;

use bunker_repo::{BackupOptions, BackupProgress, Repository, Snapshot};
use bunker_sources::postgres::Server;
use serde::{Deserialize, Serialize};

use super::{Backup, Item, Restored, Source, Target};
use crate::drill::{self, Assertions, DrillReport};
use crate::error::{Error, Result};
use crate::postgres::{self as pg, PgBackupOptions, PgSnapshot};
use crate::value::{Secret, Text};

/// The server and what of it to dump.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Postgres {
    /// libpq connection string or URI.
    pub dsn: Secret,
    /// Databases to dump. A source gives these or `all = true`: `config check`
    /// refuses one that gives neither.
    #[serde(default)]
    pub databases: Vec<Text>,
    /// Every database that accepts connections (templates excluded).
    #[serde(default)]
    pub all: bool,
    /// Also save roles and tablespaces.
    #[serde(default = "yes")]
    pub globals: bool,
    /// Directory of the PostgreSQL client tools.
    pub pg_bin: Option<Text>,
}

fn yes() -> bool {
    true
}

impl Postgres {
    /// The server the source reaches.
    pub fn server(&self) -> Server {
        Server::new(self.dsn.expose(), self.pg_bin.as_deref().map(Path::new))
    }

    /// The database of the snapshot a restore means: the one named, else the only one.
    fn database<'a>(&self, snap: &'a PgSnapshot, item: Option<&'a str>) -> Result<&'a str> {
        if let Some(db) = item {
            return Ok(snap.database(db)?.database.name.as_str());
        }
        match snap.meta.databases.as_slice() {
            [one] => Ok(one.database.name.as_str()),
            many => Err(Error::WhichDatabase {
                snapshot: snap.snapshot.short_id(),
                count: many.len(),
            }),
        }
    }
}

impl Source for Postgres {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn check(&self) -> std::result::Result<(), String> {
        match (self.databases.is_empty(), self.all) {
            // Once, such a source backed up the connection's own database only (often
            // the empty `postgres`) and reported success.
            (true, false) => Err("say which databases to back up: \
                 databases = [\"app\", ...] or all = true"
                .into()),
            (false, true) => Err("give databases = [...] or all = true, not both".into()),
            _ => Ok(()),
        }
    }

    /// What the dump tools warn about (roles saved without passwords) does not make
    /// the backup partial.
    fn backup(
        &self,
        repo: Arc<Repository>,
        opts: BackupOptions,
        progress: &BackupProgress,
    ) -> Result<Backup> {
        let pg_opts = PgBackupOptions {
            dbs: self.databases.iter().map(|d| d.0.clone()).collect(),
            all: self.all,
            globals: self.globals,
            backup: opts,
        };
        let r = pg::backup(repo, &self.server(), &pg_opts, progress)?;
        Ok(Backup {
            result: r.backup,
            warnings: Vec::new(),
        })
    }

    /// A new database `to` that must not exist, or in place of the database behind a
    /// safety snapshot of it (the old one is kept beside it, renamed).
    fn restore(
        &self,
        repo: &Arc<Repository>,
        snapshot: &Snapshot,
        target: &Target,
    ) -> Result<Restored> {
        let snap = PgSnapshot::load(repo.clone(), snapshot.clone())?;
        let server = self.server();
        let item = match target {
            Target::New { item, .. } | Target::InPlace { item } => item.as_deref(),
        };
        let db = self.database(&snap, item)?;
        let bytes = snap.database(db)?.dump_bytes;
        let (to, safety_snapshot) = match target {
            Target::New { to, .. } => {
                pg::restore_new(&snap, &server, db, to, 1, None)?;
                (to.clone(), None)
            }
            Target::InPlace { .. } => {
                let host = snapshot.hostname.clone();
                let done =
                    pg::restore_replace(repo.clone(), &snap, &server, db, 1, None, false, host)?;
                (db.to_string(), Some(done.safety_snapshot))
            }
        };
        Ok(Restored {
            to,
            files: 1,
            bytes,
            damaged: Vec::new(),
            safety_snapshot,
        })
    }

    /// Each database into a throwaway database on the source's server, checked with
    /// the job's tables, row counts and queries.
    fn drill(
        &self,
        repo: &Arc<Repository>,
        snapshot: &Snapshot,
        _scratch: &Path,
        assertions: &Assertions,
    ) -> Result<DrillReport> {
        let snap = PgSnapshot::load(repo.clone(), snapshot.clone())?;
        drill::drill_pg(
            &snap,
            &self.server(),
            &[],
            assertions,
            bunker_repo::hostname(),
        )
    }

    /// The databases with their dump sizes, and the globals.
    fn contents(&self, repo: &Arc<Repository>, snapshot: &Snapshot) -> Result<Vec<Item>> {
        let snap = PgSnapshot::load(repo.clone(), snapshot.clone())?;
        let mut items: Vec<Item> = snap
            .meta
            .databases
            .iter()
            .map(|d| Item {
                name: d.database.name.clone(),
                what: "database",
                bytes: Some(d.dump_bytes),
            })
            .collect();
        if let Some(g) = &snap.meta.globals {
            items.push(Item {
                name: g.clone(),
                what: "globals",
                bytes: None,
            });
        }
        Ok(items)
    }
}
