//! PostgreSQL logical backups: `pg_dump` archives streamed into snapshots, and the ways
//! to put them back.

mod backup;
mod restore;
mod snapshot;

pub use backup::{backup, PgBackupOptions, PgBackupResult};
pub use restore::{export_csv, recover_table, restore_new, restore_replace, ReplaceOutcome};
pub(crate) use restore::{restore_archive, scratch_name};
pub use snapshot::{
    dump_file_name, DumpedDatabase, PgMeta, PgSnapshot, GLOBALS_FILE, META_KEY, TAG,
};
