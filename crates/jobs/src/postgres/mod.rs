//! PostgreSQL: logical backups (`pg_dump` archives streamed into snapshots) and the ways
//! to put them back; physical base backups, the WAL archive and point-in-time recovery.

mod backup;
mod basebackup;
mod pitr;
mod restore;
mod snapshot;
pub mod system_report;
pub mod wal_archive;
pub mod wal_expiry;
pub mod wal_receive;
pub mod window;

pub use backup::{backup, PgBackupOptions, PgBackupResult};
pub use basebackup::{
    basebackup, BaseBackupOptions, BaseBackupResult, BaseMeta, BASE_META_KEY, BASE_TAG, BASE_TAR,
    RESTORE_PASSWORD_FILE,
};
pub use pitr::{pitr, PitrOptions, PitrReport, Reached, Target};
pub use restore::{export_csv, recover_table, restore_new, restore_replace, ReplaceOutcome};
pub(crate) use restore::{restore_archive, scratch_name};
pub use snapshot::{
    dump_file_name, DumpedDatabase, PgMeta, PgSnapshot, GLOBALS_FILE, META_KEY, TAG,
};
