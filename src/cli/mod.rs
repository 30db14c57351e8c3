//! Command-line arguments, restic-style.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod jobs;
mod pg;
mod repair;
mod wal;

pub use jobs::*;
pub use pg::*;
pub use repair::*;
pub use wal::*;

#[derive(Parser, Debug)]
#[command(
    name = "bunker",
    version,
    about = "Backups that restore: encrypted, deduplicated repositories in the restic format"
)]
pub struct Cli {
    /// Repository: the name of one in the configuration file, or a location: a local
    /// path, s3:https://host/bucket/prefix, gs:bucket:/prefix, azure:container:/prefix or
    /// sftp:user@host:/path (a value without '/' or ':' is a name when the configuration
    /// declares it; write ./DIR for such a directory)
    #[arg(short = 'r', long = "repo", env = "BUNKER_REPOSITORY", global = true)]
    pub repo: Option<String>,
    /// A job of the configuration file: its repository (unless -r), its snapshots
    /// ("latest" is the job's newest), its PostgreSQL server and its drill checks
    #[arg(long, value_name = "NAME", global = true)]
    pub job: Option<String>,
    /// Configuration file of the job commands (run, daemon, status, ...); default:
    /// ~/.config/bunker/bunker.toml
    #[arg(long, env = "BUNKER_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Storage option KEY=VALUE (repeatable), e.g. s3.region=eu-west-1, connections=8;
    /// see docs/storage.md
    #[arg(short = 'o', long = "option", value_name = "KEY=VALUE", global = true)]
    pub options: Vec<String>,
    /// S3 storage class for data packs (e.g. STANDARD_IA); metadata stays in STANDARD
    #[arg(long, value_name = "CLASS", global = true)]
    pub s3_storage_class: Option<String>,
    /// Do not keep a local copy of a remote repository's index and snapshot files
    #[arg(long, global = true)]
    pub no_cache: bool,
    /// Never delete or overwrite anything: for credentials that may only add files
    /// (forget, prune and unlock then run from a place that may delete)
    #[arg(long, global = true)]
    pub append_only: bool,
    /// Read the password from this file (first line)
    #[arg(long, env = "BUNKER_PASSWORD_FILE", global = true)]
    pub password_file: Option<PathBuf>,
    /// Run this shell command and use its output as the password
    #[arg(long, env = "BUNKER_PASSWORD_COMMAND", global = true)]
    pub password_command: Option<String>,
    /// Stop a password command that has not answered after this long (e.g. 30s, 2m)
    #[arg(
        long,
        env = "BUNKER_PASSWORD_TIMEOUT",
        global = true,
        value_parser = parse_duration,
        default_value = "60s"
    )]
    pub password_timeout: std::time::Duration,
    /// Print results as JSON
    #[arg(long, global = true)]
    pub json: bool,
    /// Print nothing but errors and requested output
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Do not take shared locks (read a repository on a read-only disk); maintenance
    /// commands still lock
    #[arg(long, global = true)]
    pub no_lock: bool,
    /// Keep trying this long when the repository is locked (e.g. 30s, 10m, 1h)
    #[arg(long, global = true, value_parser = parse_duration)]
    pub retry_lock: Option<std::time::Duration>,
    /// Worker threads (default: one per core)
    #[arg(long, global = true, default_value_t = 0)]
    pub threads: usize,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a new repository
    Init(InitArgs),
    /// Back up files, directories, standard input or a command's output
    Backup(BackupArgs),
    /// List snapshots
    Snapshots(SnapshotsArgs),
    /// Restore a snapshot into a directory
    Restore(RestoreArgs),
    /// List the files of a snapshot
    Ls(LsArgs),
    /// Write one file of a snapshot to standard output
    Dump(DumpArgs),
    /// Print repository internals: config, snapshot, index, pack, blob, key, lock
    Cat(CatArgs),
    /// Verify the repository's structure and, with --read-data, every byte
    Check(CheckArgs),
    /// Add, remove or replace the tags of snapshots
    Tag(TagArgs),
    /// Show what changed between two snapshots
    Diff(DiffArgs),
    /// Sizes, file counts, deduplication and compression of snapshots and the repository
    Stats(StatsArgs),
    /// Manage the keys (passwords) that open the repository
    #[command(subcommand)]
    Key(KeyCommand),
    /// Remove stale locks
    Unlock(UnlockArgs),
    /// Remove snapshots by retention policy (restic's rules) or by id
    Forget(ForgetArgs),
    /// Remove data no snapshot uses; repack mostly unused packs
    Prune(PruneArgs),
    /// Copy snapshots to another repository
    Copy(CopyArgs),
    /// Mend a damaged repository: the index, damaged packs, snapshots that refer to
    /// lost data (in that order)
    #[command(subcommand)]
    Repair(RepairCommand),
    /// PostgreSQL: logical dumps and restores, base backups, archive status
    #[command(subcommand)]
    Pg(PgCommand),
    /// archive_command: store one WAL file in the repository ('bunker wal-push %p')
    WalPush(WalPushArgs),
    /// restore_command: fetch one WAL file ('bunker wal-fetch %f %p'); exit 1 when the
    /// archive does not have it, 128 on any other error
    WalFetch(WalFetchArgs),
    /// Stream WAL from the server (pg_receivewal) into the archive as it is written
    WalReceive(WalReceiveArgs),
    /// Point-in-time recovery into a new data directory from a base backup and the archive
    Pitr(PitrArgs),
    /// Prove that backups restore: restore into a throwaway target and check it
    /// (`drill --job NAME`: as the job's verify section says)
    Drill(DrillArgs),
    /// Check or show the configuration file
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run jobs of the configuration now: hooks, backup, copies, retention, verification
    Run(RunArgs),
    /// Run every job on its schedule; serve health, metrics and the job API
    Daemon,
    /// Where each job stands: one state with its reasons, last success, age, next run,
    /// size, objectives, last drill (--check: exit 0 ok, 1 warning, 2 critical)
    Status(StatusArgs),
    /// Evaluate lateness, objectives and quotas once and send the alerts through the
    /// outbox, for jobs run by cron or systemd instead of the daemon (run it from a timer)
    Watch,
    /// Export a job's schedule to systemd, cron or Kubernetes
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// The local catalog of runs, drills and the audit log
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Notification targets
    #[command(subcommand)]
    Notify(NotifyCommand),
    /// Per job: runs, successes, failures, late runs, bytes added, drills, RPO/RTO; per
    /// repository: size, growth, quota; the open incidents
    Report(ReportArgs),
    /// The web dashboard the daemon serves
    #[command(subcommand)]
    Dashboard(DashboardCommand),
    /// First run: create ./bunker-repo with a generated password, back up a directory, list it
    Quickstart(QuickstartArgs),
}

#[derive(Args, Debug, Default, Clone)]
pub struct FilterArgs {
    /// Only snapshots of this host (repeatable)
    #[arg(long = "host", short = 'H')]
    pub hosts: Vec<String>,
    /// Only snapshots with these tags (comma-separated: all of them; repeat: any set)
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Only snapshots of exactly these paths (repeatable)
    #[arg(long = "path")]
    pub paths: Vec<String>,
}

#[derive(Args, Debug)]
pub struct BackupArgs {
    /// Files and directories to back up
    pub paths: Vec<PathBuf>,
    /// Tag the snapshot (repeatable, or comma-separated)
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Host name to record (default: this machine's)
    #[arg(long)]
    pub host: Option<String>,
    /// Exclude paths matching a pattern (gitignore syntax; repeatable)
    #[arg(long = "exclude", short = 'e')]
    pub excludes: Vec<String>,
    /// Read exclude patterns from a file (one per line, # comments)
    #[arg(long = "exclude-file")]
    pub exclude_files: Vec<PathBuf>,
    /// Skip the contents of directories that hold a CACHEDIR.TAG
    #[arg(long)]
    pub exclude_caches: bool,
    /// Do not cross file system boundaries
    #[arg(short = 'x', long)]
    pub one_file_system: bool,
    /// Skip files larger than this (e.g. 500K, 2G)
    #[arg(long, value_parser = parse_size)]
    pub exclude_larger_than: Option<u64>,
    /// Compare with this snapshot instead of the latest one of the same host and paths
    #[arg(long)]
    pub parent: Option<String>,
    /// Read every file, ignoring the parent snapshot
    #[arg(long)]
    pub force: bool,
    /// Back up standard input
    #[arg(long)]
    pub stdin: bool,
    /// File name for standard input in the snapshot
    #[arg(long, default_value = "stdin")]
    pub stdin_filename: String,
    /// Back up the standard output of a command (give it after --)
    #[arg(long)]
    pub stdin_from_command: bool,
    /// Time to record instead of now (RFC 3339 or "YYYY-MM-DD HH:MM:SS")
    #[arg(long)]
    pub time: Option<String>,
    /// Tag the snapshot NAME and "forever": no retention policy ever removes it
    /// (e.g. --label pre-migration before a risky change)
    #[arg(long, value_name = "NAME")]
    pub label: Option<String>,
}

#[derive(Args, Debug)]
pub struct SnapshotsArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Only the latest N snapshots
    #[arg(long)]
    pub latest: Option<usize>,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// Snapshot id (or a unique prefix), or "latest"
    pub snapshot: String,
    /// Directory to restore into
    #[arg(long, short = 't')]
    pub target: PathBuf,
    /// Restore only paths matching a pattern (repeatable)
    #[arg(long = "include", short = 'i')]
    pub includes: Vec<String>,
    /// Do not restore paths matching a pattern (repeatable)
    #[arg(long = "exclude", short = 'e')]
    pub excludes: Vec<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Snapshot id (or a unique prefix), or "latest"
    pub snapshot: String,
    /// Only list below this directory
    pub dir: Option<String>,
    /// Long listing: mode, owner, size, time
    #[arg(short, long)]
    pub long: bool,
    #[command(flatten)]
    pub filter: FilterArgs,
}

#[derive(Args, Debug)]
pub struct DumpArgs {
    /// Snapshot id (or a unique prefix), or "latest"
    pub snapshot: String,
    /// Path of a file inside the snapshot
    pub path: String,
    #[command(flatten)]
    pub filter: FilterArgs,
}

#[derive(Args, Debug)]
pub struct CatArgs {
    /// config | masterkey | snapshot ID | index ID | pack ID | blob ID | tree ID | key ID | lock ID
    pub kind: String,
    pub id: Option<String>,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Read and verify every pack
    #[arg(long)]
    pub read_data: bool,
    /// Read a subset of the packs: n/m (group n of m) or p% (random share)
    #[arg(long)]
    pub read_data_subset: Option<String>,
}

#[derive(Args, Debug)]
pub struct TagArgs {
    /// Snapshots to change (default: all that match the filters)
    pub snapshots: Vec<String>,
    /// Add these tags (repeatable, or comma-separated)
    #[arg(long)]
    pub add: Vec<String>,
    /// Remove these tags (repeatable, or comma-separated)
    #[arg(long)]
    pub remove: Vec<String>,
    /// Replace all tags with these (repeatable, or comma-separated; "" removes all)
    #[arg(long, conflicts_with_all = ["add", "remove"])]
    pub set: Vec<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The earlier snapshot (ID, prefix or "latest"; ID:subfolder compares a directory)
    pub from: String,
    /// The later snapshot
    pub to: String,
    /// Also list nodes whose metadata changed (mode, owner, times, attributes): U
    #[arg(long)]
    pub metadata: bool,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Snapshots to count (default: all that match the filters)
    pub snapshots: Vec<String>,
    /// restore-size, files-by-contents, blobs-per-file or raw-data
    #[arg(long, default_value = "restore-size")]
    pub mode: bunker_repo::StatsMode,
    #[command(flatten)]
    pub filter: FilterArgs,
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// List keys
    List,
    /// Add a key with a new password
    Add(NewPasswordArgs),
    /// Remove a key (not the one in use)
    Remove { id: String },
    /// Change the password: add a new key, remove the current one
    Passwd(NewPasswordArgs),
}

#[derive(Args, Debug)]
pub struct NewPasswordArgs {
    /// Read the new password from this file
    #[arg(long)]
    pub new_password_file: Option<PathBuf>,
}

#[derive(Args, Debug, Default)]
pub struct InitArgs {
    /// Chunk like the repository given with --from (so `copy` keeps blobs as they are)
    #[arg(long)]
    pub copy_chunker_params: bool,
    /// The repository to take chunker parameters from
    #[arg(long)]
    pub from: Option<String>,
    /// Its password file (else BUNKER_FROM_PASSWORD)
    #[arg(long)]
    pub from_password_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct CopyArgs {
    /// Snapshots to copy (default: all that match the filters)
    pub snapshots: Vec<String>,
    /// Destination repository: a repository of the configuration by name (its password
    /// and options), or a location
    #[arg(long)]
    pub to: String,
    /// Destination password file (else BUNKER_TO_PASSWORD)
    #[arg(long)]
    pub to_password_file: Option<PathBuf>,
    /// Destination password command
    #[arg(long)]
    pub to_password_command: Option<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// `forget`: restic's flags, with the same short forms.
#[derive(Args, Debug)]
pub struct ForgetArgs {
    /// Remove these snapshots (ids, unique prefixes or "latest") instead of a policy
    pub snapshots: Vec<String>,
    /// Keep the last N snapshots
    #[arg(short = 'l', long, value_name = "N", default_value_t = 0)]
    pub keep_last: u32,
    /// Keep the last N hourly snapshots
    #[arg(short = 'H', long, value_name = "N", default_value_t = 0)]
    pub keep_hourly: u32,
    /// Keep the last N daily snapshots
    #[arg(short = 'd', long, value_name = "N", default_value_t = 0)]
    pub keep_daily: u32,
    /// Keep the last N weekly (ISO week) snapshots
    #[arg(short = 'w', long, value_name = "N", default_value_t = 0)]
    pub keep_weekly: u32,
    /// Keep the last N monthly snapshots
    #[arg(short = 'm', long, value_name = "N", default_value_t = 0)]
    pub keep_monthly: u32,
    /// Keep the last N yearly snapshots
    #[arg(short = 'y', long, value_name = "N", default_value_t = 0)]
    pub keep_yearly: u32,
    /// Keep snapshots newer than DURATION (e.g. 1y5m7d2h; m = months) before the newest
    #[arg(long, value_name = "DURATION")]
    pub keep_within: Option<bunker_repo::RetentionDuration>,
    /// Keep hourly snapshots newer than DURATION before the newest
    #[arg(long, value_name = "DURATION")]
    pub keep_within_hourly: Option<bunker_repo::RetentionDuration>,
    /// Keep daily snapshots newer than DURATION before the newest
    #[arg(long, value_name = "DURATION")]
    pub keep_within_daily: Option<bunker_repo::RetentionDuration>,
    /// Keep weekly snapshots newer than DURATION before the newest
    #[arg(long, value_name = "DURATION")]
    pub keep_within_weekly: Option<bunker_repo::RetentionDuration>,
    /// Keep monthly snapshots newer than DURATION before the newest
    #[arg(long, value_name = "DURATION")]
    pub keep_within_monthly: Option<bunker_repo::RetentionDuration>,
    /// Keep yearly snapshots newer than DURATION before the newest
    #[arg(long, value_name = "DURATION")]
    pub keep_within_yearly: Option<bunker_repo::RetentionDuration>,
    /// Keep snapshots with all these tags (comma-separated; repeat: any of the sets)
    #[arg(long = "keep-tag", value_name = "TAGS")]
    pub keep_tags: Vec<String>,
    /// Apply the policy to groups of snapshots with the same host, paths and/or tags
    /// ("" for one group)
    #[arg(short = 'g', long, default_value = "host,paths")]
    pub group_by: bunker_repo::GroupBy,
    /// Only snapshots of this host (repeatable)
    #[arg(long = "host")]
    pub hosts: Vec<String>,
    /// Only snapshots with these tags (comma-separated: all of them; repeat: any set)
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Only snapshots that include this path (repeatable: all of them)
    #[arg(long = "path")]
    pub paths: Vec<String>,
    /// Show what would be removed; remove nothing
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Run prune after removing snapshots
    #[arg(long)]
    pub prune: bool,
}

#[derive(Args, Debug, Clone)]
pub struct PruneArgs {
    /// Unused space to tolerate in partly used packs: a percentage of the used size,
    /// a size (e.g. 1G), or "unlimited" (never repack)
    #[arg(long, default_value = "5%")]
    pub max_unused: String,
    /// Repack at most this much in one run (e.g. 10G)
    #[arg(long)]
    pub max_repack_size: Option<String>,
    /// Only show what would be deleted and repacked
    #[arg(short = 'n', long)]
    pub dry_run: bool,
}

#[derive(Args, Debug)]
pub struct UnlockArgs {
    /// Remove all locks, even live ones
    #[arg(long)]
    pub remove_all: bool,
}

#[derive(Args, Debug)]
pub struct QuickstartArgs {
    /// Directory to back up (default: the current directory)
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Repository location
    #[arg(long, default_value = "bunker-repo")]
    pub at: PathBuf,
    /// Where the generated password is kept
    #[arg(long, default_value = "bunker-password")]
    pub password_out: PathBuf,
}

/// Parses sizes like 1024, 500K, 2M, 3G, 1T (powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    bunker_repo::parse_bytes(s)
}

/// Durations like 200ms, 90s, 10m, 1h30m: the configuration file's syntax.
pub use bunker_jobs::config::parse_duration;
