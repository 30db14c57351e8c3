//! Arguments of the PostgreSQL commands (`pg backup|restore|export`) and of `drill`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::wal::{PgBasebackupArgs, PgInfoArgs, PgStandbyArgs};

/// How to reach the server.
#[derive(Args, Debug, Clone)]
pub struct PgConnArgs {
    /// libpq connection string (key=value or postgresql:// URI); empty: libpq's PG*
    /// environment variables. Passwords come best from ~/.pgpass or PGPASSWORD.
    /// (default with --job: the job's)
    #[arg(long, env = "BUNKER_PG_DSN")]
    pub dsn: Option<String>,
    /// Directory of the PostgreSQL client tools (pg_dump, pg_restore, psql) to use
    #[arg(long, env = "BUNKER_PG_BIN", value_name = "DIR")]
    pub pg_bin: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum PgCommand {
    /// Dump databases (and roles) into one snapshot, streamed, deduplicated across days
    Backup(PgBackupArgs),
    /// Restore a database from a snapshot: into a new database, or safely replacing one
    Restore(PgRestoreArgs),
    /// Write one table of a backed-up database as CSV to standard output
    Export(PgExportArgs),
    /// Physical base backup of the whole cluster (pg_backup_start/stop), for pitr
    Basebackup(PgBasebackupArgs),
    /// Base backups, timelines, the recoverable window, gaps and archive lag
    Info(PgInfoArgs),
    /// Build a standby (the DR site) from a base backup and the archive
    Standby(PgStandbyArgs),
}

#[derive(Args, Debug)]
pub struct PgBackupArgs {
    #[command(flatten)]
    pub conn: PgConnArgs,
    /// Database to dump (repeatable; default: the connection string's database)
    #[arg(long = "db", value_name = "NAME")]
    pub dbs: Vec<String>,
    /// Dump every database that accepts connections (templates excluded)
    #[arg(long, conflicts_with = "dbs")]
    pub all: bool,
    /// Do not save roles and tablespaces (pg_dumpall --globals-only)
    #[arg(long)]
    pub no_globals: bool,
    #[command(flatten)]
    pub snapshot: SnapshotArgs,
}

/// How a database backup's snapshot is labelled.
#[derive(Args, Debug)]
pub struct SnapshotArgs {
    /// Tag the snapshot (repeatable, or comma-separated)
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Host name to record (default: this machine's)
    #[arg(long)]
    pub host: Option<String>,
    /// Tag the snapshot NAME and "forever": no retention policy ever removes it
    /// (e.g. --label pre-migration)
    #[arg(long, value_name = "NAME")]
    pub label: Option<String>,
}

#[derive(Args, Debug)]
pub struct PgRestoreArgs {
    /// Snapshot id (or "latest")
    pub snapshot: String,
    #[command(flatten)]
    pub conn: PgConnArgs,
    /// Database of the snapshot to restore
    #[arg(long, value_name = "NAME", required_unless_present = "globals")]
    pub db: Option<String>,
    /// Name of the new database (default: NAME_restored_SNAPSHOT)
    #[arg(long, value_name = "NEWNAME", conflicts_with_all = ["replace", "table"])]
    pub to: Option<String>,
    /// Replace the existing database safely: safety snapshot, restore beside it, then
    /// swap by rename (the old one is kept as NAME_before_restore_TIME)
    #[arg(long, conflicts_with = "table")]
    pub replace: bool,
    /// With --replace: drop the old database after the swap instead of keeping it
    #[arg(long, requires = "replace")]
    pub drop_old: bool,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Parallel pg_restore jobs; above 1 the dump is first written to a temporary file
    /// (pg_restore needs to seek)
    #[arg(long, short = 'j', default_value_t = 1)]
    pub jobs: usize,
    /// Directory for that temporary file (default: the system's temporary directory)
    #[arg(long, value_name = "DIR")]
    pub spool_dir: Option<PathBuf>,
    /// Recover one table (TABLE or SCHEMA.TABLE) into --to-schema of the existing
    /// database
    #[arg(long, value_name = "TABLE")]
    pub table: Option<String>,
    /// Schema the recovered table goes to (created if missing)
    #[arg(
        long,
        value_name = "SCHEMA",
        default_value = "recovered",
        requires = "table"
    )]
    pub to_schema: String,
    /// Restore roles and tablespaces first (existing roles are reported, not fatal)
    #[arg(long)]
    pub globals: bool,
}

#[derive(Args, Debug)]
pub struct PgExportArgs {
    /// Snapshot id (or "latest")
    pub snapshot: String,
    #[command(flatten)]
    pub conn: PgConnArgs,
    /// Database of the snapshot
    #[arg(long, value_name = "NAME")]
    pub db: String,
    /// Table to export (TABLE or SCHEMA.TABLE)
    #[arg(long, value_name = "TABLE")]
    pub table: String,
    /// Write CSV with a header line (the only format today)
    #[arg(long, required = true)]
    pub csv: bool,
}

/// `drill`: a subcommand, or the drill of `--job NAME`.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DrillArgs {
    #[command(subcommand)]
    pub command: Option<DrillCommand>,
    /// Drill this snapshot of the job (default: its newest)
    #[arg(long, value_name = "ID", conflicts_with = "random")]
    pub snapshot: Option<String>,
    #[command(flatten)]
    pub pick: RandomPick,
}

/// A random snapshot instead of the newest.
#[derive(Args, Debug, Clone, Copy)]
pub struct RandomPick {
    /// Drill a snapshot chosen at random (the report names it)
    #[arg(long)]
    pub random: bool,
    /// With --random: only among snapshots younger than this (e.g. 30d, 12h)
    #[arg(long, value_name = "DURATION", requires = "random", value_parser = super::parse_duration)]
    pub within: Option<std::time::Duration>,
}

#[derive(Subcommand, Debug)]
pub enum DrillCommand {
    /// Restore PostgreSQL dumps into throwaway databases and check them
    Pg(DrillPgArgs),
    /// List the drill reports kept in the repository
    History(DrillHistoryArgs),
}

#[derive(Args, Debug)]
pub struct DrillPgArgs {
    /// Snapshot id, or "latest" (the newest snapshot tagged postgres; with --job, the
    /// job's newest)
    #[arg(default_value = "latest")]
    pub snapshot: String,
    #[command(flatten)]
    pub pick: RandomPick,
    #[command(flatten)]
    pub conn: PgConnArgs,
    /// Database of the snapshot to drill (repeatable; default: all of them)
    #[arg(long = "db", value_name = "NAME")]
    pub dbs: Vec<String>,
    /// A table that must exist and hold at least one row (repeatable; none given, with
    /// --job: the job's expect_tables, min_rows and sql)
    #[arg(long = "expect-table", value_name = "TABLE")]
    pub expect_tables: Vec<String>,
    /// A table that must hold at least N rows: TABLE=N (repeatable)
    #[arg(long = "min-rows", value_name = "TABLE=N")]
    pub min_rows: Vec<String>,
    /// An SQL query that must return true (repeatable)
    #[arg(long = "sql", value_name = "QUERY")]
    pub sql: Vec<String>,
}

#[derive(Args, Debug)]
pub struct DrillHistoryArgs {
    /// Show only the newest N reports
    #[arg(long, value_name = "N")]
    pub last: Option<usize>,
}
