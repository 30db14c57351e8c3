//! PostgreSQL through its own client tools: `pg_dump`, `pg_dumpall`, `pg_restore` and
//! `psql`, so that connection strings, `.pgpass`, `PG*` variables and TLS settings mean
//! exactly what they mean to those tools.

mod conninfo;
mod error;
mod pg_ctl;
mod physical;
mod restore;
mod server;
mod tools;
pub mod wal;

pub use error::{Error, Result};
pub use pg_ctl::{is_root, DataDirectory, Recovered};
pub use physical::{
    ArchiverStatus, BackupSession, BackupStop, ClusterFacts, Tablespace, WalReceiver,
};
pub use restore::{ArchiveInput, RestoreOptions, ScratchDatabase, TableRef};
pub use server::{quote_ident, quote_literal, Database, Server, ServerInfo};
pub use tools::{Dump, Tool};
