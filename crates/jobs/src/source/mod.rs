//! Sources: where a job's data comes from, all of one shape. Each kind of source is one
//! module holding its configuration (the `source = { type = ... }` table) and its
//! [`Source`] implementation, plus one arm of [`SourceConfig`]; the runner, drills and
//! `config check` see only the trait.

mod command;
mod files;
mod postgres;
mod postgres_physical;
mod sqlite;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod toy;
mod tree;

use std::path::Path;
use std::sync::Arc;

use bunker_repo::{BackupOptions, BackupProgress, BackupResult, Repository, Snapshot};
use serde::{Deserialize, Serialize};

pub use command::Command;
pub use files::Files;
pub use postgres::Postgres;
pub use postgres_physical::PostgresPhysical;
pub use sqlite::Sqlite;

use crate::drill::{Assertions, DrillReport};
use crate::error::Result;

/// What every source does: back its data up into one snapshot, put it back, prove a
/// snapshot restores, and say what a snapshot holds.
pub trait Source {
    /// The `type` of the source in the configuration.
    fn kind(&self) -> &'static str;

    /// What `config check` refuses besides bad values: the problem, without the job's
    /// name (the caller adds it).
    fn check(&self) -> std::result::Result<(), String>;

    /// Backs the source up into one snapshot of `repo` (one or more streams, or a
    /// tree), with the source's own record in the snapshot. `opts` carries the job's
    /// host and tags; the source adds its own.
    fn backup(
        &self,
        repo: Arc<Repository>,
        opts: BackupOptions,
        progress: &BackupProgress,
    ) -> Result<Backup>;

    /// Puts a snapshot of this source back at `target`.
    fn restore(
        &self,
        repo: &Arc<Repository>,
        snapshot: &Snapshot,
        target: &Target,
    ) -> Result<Restored>;

    /// Restores a snapshot into scratch space (a directory under `scratch`, or a
    /// throwaway database), runs the source's checks and the job's `assertions` (those
    /// the source understands), measures the restore, and cleans up.
    fn drill(
        &self,
        repo: &Arc<Repository>,
        snapshot: &Snapshot,
        scratch: &Path,
        assertions: &Assertions,
    ) -> Result<DrillReport>;

    /// What a snapshot of this source holds, in the source's own terms.
    fn contents(&self, repo: &Arc<Repository>, snapshot: &Snapshot) -> Result<Vec<Item>>;
}

/// Where a job's data comes from: `source = { type = "...", ... }`. One arm per kind of
/// source, each holding that source's settings.
#[derive(Debug, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum SourceConfig {
    /// File trees.
    Files(Files),
    /// PostgreSQL logical dumps (`pg_dump`, one snapshot for all databases).
    Postgres(Postgres),
    /// PostgreSQL base backups of a whole cluster, for point-in-time recovery.
    PostgresPhysical(PostgresPhysical),
    /// One SQLite database, copied with the online backup API.
    Sqlite(Sqlite),
    /// The standard output of a command, stored as one file.
    Command(Command),
    /// What a new source costs (see `toy.rs`).
    #[cfg(test)]
    Toy(toy::Toy),
}

impl SourceConfig {
    /// The source behind the configuration.
    pub fn source(&self) -> &dyn Source {
        match self {
            SourceConfig::Files(s) => s,
            SourceConfig::Postgres(s) => s,
            SourceConfig::PostgresPhysical(s) => s,
            SourceConfig::Sqlite(s) => s,
            SourceConfig::Command(s) => s,
            #[cfg(test)]
            SourceConfig::Toy(s) => s,
        }
    }
}

/// What a backup made.
pub struct Backup {
    pub result: BackupResult,
    /// What could not be read (the snapshot was saved without it): such a run is
    /// partial.
    pub warnings: Vec<String>,
}

/// Where a restore puts a snapshot.
#[derive(Clone, Debug)]
pub enum Target {
    /// Somewhere new, which must not exist yet: a directory for trees and streams, a
    /// database name for a database (`item` names which one of the snapshot, when it
    /// holds several).
    New { to: String, item: Option<String> },
    /// Over what the source backs up, after a safety snapshot of it as it is now (for
    /// the sources that can: see [`Error::Unsupported`](crate::Error::Unsupported)).
    InPlace { item: Option<String> },
}

/// What a restore did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Restored {
    /// Where the data is now.
    pub to: String,
    pub files: u64,
    pub bytes: u64,
    /// What was not restored, and why.
    pub damaged: Vec<String>,
    /// The snapshot of what a restore in place replaced.
    pub safety_snapshot: Option<String>,
}

/// One thing a snapshot holds: a path, a file, a database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Item {
    pub name: String,
    /// What it is: `path`, `file`, `database`, `globals`, ...
    pub what: &'static str,
    /// Its size, when the snapshot records it.
    pub bytes: Option<u64>,
}
