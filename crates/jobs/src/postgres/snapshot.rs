//! How a PostgreSQL backup looks in a snapshot: one file per database (`NAME.dump`, the
//! custom-format archive) plus `globals.sql`, and a `postgres` record of what was dumped.

use std::sync::Arc;

use bunker_repo::{FileReader, NodeKind, Repository, Snapshot, SnapshotFilter, Tree};
use bunker_sources::postgres::Database;
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use crate::choice::{choose, Choice};
use crate::error::{Error, Result};

/// Every PostgreSQL snapshot carries this tag.
pub const TAG: &str = "postgres";
/// The snapshot field holding [`PgMeta`].
pub const META_KEY: &str = "postgres";
/// Roles and tablespaces, as `pg_dumpall --globals-only` wrote them.
pub const GLOBALS_FILE: &str = "globals.sql";

/// What a PostgreSQL snapshot records besides its files.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PgMeta {
    pub server_version: String,
    pub server_version_num: u32,
    pub pg_dump_version: String,
    /// When the first dump started: the newest data in the snapshot is at least this old
    /// (each database's own dump start is the point it shows).
    pub started: DateTime<FixedOffset>,
    pub finished: DateTime<FixedOffset>,
    /// The globals file, when globals were saved.
    #[serde(default)]
    pub globals: Option<String>,
    pub databases: Vec<DumpedDatabase>,
}

/// One dumped database.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DumpedDatabase {
    #[serde(flatten)]
    pub database: Database,
    pub file: String,
    pub dump_bytes: u64,
    pub started: DateTime<FixedOffset>,
    pub finished: DateTime<FixedOffset>,
}

/// The snapshot file name of a database's archive: `NAME.dump`, with `%` and `/`
/// percent-encoded (a file name cannot hold a slash).
pub fn dump_file_name(db: &str) -> String {
    let mut s = String::new();
    for c in db.chars() {
        match c {
            '%' => s.push_str("%25"),
            '/' => s.push_str("%2F"),
            c => s.push(c),
        }
    }
    if s.starts_with('.') {
        s.replace_range(0..1, "%2E");
    }
    s + ".dump"
}

/// A PostgreSQL snapshot opened for reading.
pub struct PgSnapshot {
    repo: Arc<Repository>,
    pub snapshot: Snapshot,
    pub meta: PgMeta,
    tree: Tree,
}

impl PgSnapshot {
    /// Finds the snapshot `choice` names among the PostgreSQL backups `filter` selects
    /// (`latest`: the newest of them that is not a safety snapshot) and loads the index.
    pub fn find(
        repo: Arc<Repository>,
        choice: &Choice,
        filter: &SnapshotFilter,
    ) -> Result<PgSnapshot> {
        let mut filter = filter.clone();
        filter.tags = if filter.tags.is_empty() {
            vec![TAG.to_string()]
        } else {
            filter
                .tags
                .iter()
                .map(|set| format!("{set},{TAG}"))
                .collect()
        };
        let snapshot = choose(&repo, choice, &filter, "PostgreSQL backup")?;
        Self::load(repo, snapshot)
    }

    /// Opens a snapshot made by `pg backup` (or a job of a `postgres` source).
    pub fn load(repo: Arc<Repository>, snapshot: Snapshot) -> Result<PgSnapshot> {
        let meta = snapshot
            .extra
            .get(META_KEY)
            .cloned()
            .ok_or_else(|| Error::NotPostgres {
                snapshot: snapshot.short_id(),
            })?;
        let meta: PgMeta = serde_json::from_value(meta).map_err(|e| Error::UnreadableRecord {
            snapshot: snapshot.short_id(),
            what: "postgres",
            reason: e.to_string(),
        })?;
        repo.load_index()?;
        let tree = repo.load_tree(&snapshot.tree)?;
        Ok(PgSnapshot {
            repo,
            snapshot,
            meta,
            tree,
        })
    }

    pub fn repo(&self) -> &Arc<Repository> {
        &self.repo
    }

    /// The record of database `name`; the error lists the databases there are.
    pub fn database(&self, name: &str) -> Result<&DumpedDatabase> {
        self.meta
            .databases
            .iter()
            .find(|d| d.database.name == name)
            .ok_or_else(|| {
                let has = self
                    .meta
                    .databases
                    .iter()
                    .map(|d| d.database.name.clone())
                    .collect();
                Error::NoSuchDatabase {
                    snapshot: self.snapshot.short_id(),
                    name: name.to_string(),
                    has,
                }
            })
    }

    /// A stream of one file of the snapshot.
    pub fn open(&self, file: &str) -> Result<FileReader> {
        let node = self
            .tree
            .find(file.as_bytes())
            .filter(|n| n.kind == NodeKind::File)
            .ok_or_else(|| Error::NoSuchFile {
                snapshot: self.snapshot.short_id(),
                file: file.to_string(),
            })?;
        Ok(FileReader::new(self.repo.clone(), node.content.clone()))
    }

    /// The age of the data: from the dump's start to now.
    pub fn age(&self) -> chrono::Duration {
        chrono::Local::now().fixed_offset() - self.meta.started
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_file_names_are_plain_file_names() {
        assert_eq!(dump_file_name("app"), "app.dump");
        assert_eq!(dump_file_name("a/b%c"), "a%2Fb%25c.dump");
        assert_eq!(dump_file_name(".."), "%2E..dump");
    }
}
