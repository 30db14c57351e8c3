//! Arguments of the physical PostgreSQL commands: base backups, the WAL archive
//! (`wal-push`, `wal-fetch`, `wal-receive`), `pg info`, `pitr` and `pg standby`.

use std::path::PathBuf;

use clap::{ArgGroup, Args};

use super::{parse_duration, PgConnArgs, SnapshotArgs};

#[derive(Args, Debug)]
pub struct PgBasebackupArgs {
    #[command(flatten)]
    pub conn: PgConnArgs,
    /// The data directory, read in parallel by bunker (default: the server's
    /// data_directory if readable here; otherwise pg_basebackup streams it)
    #[arg(long, value_name = "DIR")]
    pub pgdata: Option<PathBuf>,
    /// Stream the backup with pg_basebackup (-Ft -X none) even if the data directory is
    /// readable here
    #[arg(long, conflicts_with = "pgdata")]
    pub stream: bool,
    /// Spread the starting checkpoint (default: an immediate one)
    #[arg(long)]
    pub spread_checkpoint: bool,
    /// How long to wait for the backup's last WAL segment to reach the archive (0: do
    /// not wait; the backup is then restorable only with WAL from elsewhere)
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    pub archive_timeout: std::time::Duration,
    #[command(flatten)]
    pub snapshot: SnapshotArgs,
}

#[derive(Args, Debug)]
pub struct PgInfoArgs {
    /// Also show the server's archiving status (needs --dsn or BUNKER_PG_DSN)
    #[command(flatten)]
    pub conn: PgConnArgs,
    /// Only this database system (system identifier)
    #[arg(long)]
    pub system: Option<String>,
    /// Read and authenticate every archived WAL file: a damaged one counts as missing
    /// (the window ends, or a gap opens, there) and is listed
    #[arg(long)]
    pub read_data: bool,
}

#[derive(Args, Debug)]
pub struct WalPushArgs {
    /// The WAL file (PostgreSQL's %p, relative to the data directory)
    pub path: PathBuf,
    /// The data directory (default: the current directory, where PostgreSQL runs
    /// archive_command)
    #[arg(long, value_name = "DIR")]
    pub pgdata: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct WalFetchArgs {
    /// The WAL file to fetch (PostgreSQL's %f)
    pub name: String,
    /// Where to write it (PostgreSQL's %p)
    pub dest: PathBuf,
    /// Segments to fetch ahead, in parallel, into pg_wal/bunker-prefetch
    #[arg(long, default_value_t = 8)]
    pub prefetch: usize,
    /// The data directory (default: the current directory)
    #[arg(long, value_name = "DIR")]
    pub pgdata: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct WalReceiveArgs {
    #[command(flatten)]
    pub conn: PgConnArgs,
    /// Replication slot to stream from (created if missing)
    #[arg(long, default_value = "bunker")]
    pub slot: String,
    /// Local directory pg_receivewal writes into (default: in bunker's cache directory)
    #[arg(long, value_name = "DIR")]
    pub spool: Option<PathBuf>,
    /// How often the segment in progress is stored in the repository
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    pub interval: std::time::Duration,
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("target").required(true).args(["time", "lsn", "xid", "name", "immediate", "latest"])))]
pub struct PitrArgs {
    /// New data directory to recover into (must be empty or absent)
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Recover to this time (e.g. "2026-11-21 14:05:00+03", RFC 3339 too)
    #[arg(long)]
    pub time: Option<String>,
    /// Recover to this WAL position (e.g. 0/3000060)
    #[arg(long)]
    pub lsn: Option<String>,
    /// Recover to the commit of this transaction id
    #[arg(long)]
    pub xid: Option<String>,
    /// Recover to a restore point made with pg_create_restore_point()
    #[arg(long)]
    pub name: Option<String>,
    /// Stop as soon as the base backup is consistent
    #[arg(long)]
    pub immediate: bool,
    /// Recover everything the archive has, including the segment wal-receive keeps in
    /// progress
    #[arg(long)]
    pub latest: bool,
    #[command(flatten)]
    pub common: RecoveryArgs,
}

#[derive(Args, Debug)]
pub struct PgStandbyArgs {
    /// New data directory for the standby (must be empty or absent)
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Stream from the primary too, not only replay the archive
    #[arg(long, value_name = "CONNINFO")]
    pub primary_conninfo: Option<String>,
    #[command(flatten)]
    pub common: RecoveryArgs,
}

/// What `pitr` and `pg standby` share.
#[derive(Args, Debug)]
pub struct RecoveryArgs {
    /// Recover along this timeline (default: the newest in the archive)
    #[arg(long)]
    pub timeline: Option<u32>,
    /// Use this base backup snapshot (default: the newest that ends before the target)
    #[arg(long, value_name = "ID")]
    pub base: Option<String>,
    /// The database system, when the repository holds several
    #[arg(long)]
    pub system: Option<String>,
    /// A setting for the recovered server, written to postgresql.auto.conf
    /// (repeatable; e.g. --set port=5433 --set archive_mode=off)
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub settings: Vec<String>,
    /// Start the server and wait until recovery has finished, then report the point
    /// reached
    #[arg(long)]
    pub start: bool,
    /// Directory of the PostgreSQL server programs (pg_ctl) for --start
    #[arg(long, env = "BUNKER_PG_SERVER_BIN", value_name = "DIR")]
    pub pg_server_bin: Option<PathBuf>,
    /// How long --start waits for recovery
    #[arg(long, value_parser = parse_duration, default_value = "1h")]
    pub start_timeout: std::time::Duration,
}
