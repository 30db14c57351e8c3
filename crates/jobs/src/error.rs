//! Errors of jobs: the engine's, the source's, or a request that cannot be done.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Repo(#[from] bunker_repo::Error),

    #[error(transparent)]
    Postgres(#[from] bunker_sources::postgres::Error),

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A program a source runs could not be started.
    #[error("starting {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },

    /// A restore to a new place found something there.
    #[error("{0} already exists and is not empty: restore into a new place")]
    TargetExists(String),

    /// What a kind of source cannot do (a restore in place of a command's output).
    #[error("a {kind} source cannot {what}")]
    Unsupported {
        kind: &'static str,
        what: &'static str,
    },

    /// What `latest`, `--random` or `--within` chose from is empty.
    #[error("no {what} in the repository")]
    NoSnapshot { what: String },
    #[error("no {what} in the last {within}")]
    NoneWithin { what: String, within: String },

    /// A drill assertion of the command line.
    #[error("--min-rows needs TABLE=N, got {0:?}")]
    MinRowsForm(String),
    #[error("--min-rows: {0:?} is not a row count")]
    RowCount(String),

    // PostgreSQL logical backups.
    #[error("snapshot {snapshot} is not a PostgreSQL backup (made by `bunker pg backup`)")]
    NotPostgres { snapshot: String },
    /// The record a snapshot keeps of its source (`what`: "postgres", "base backup").
    #[error("snapshot {snapshot} has an unreadable {what} record: {reason}")]
    UnreadableRecord {
        snapshot: String,
        what: &'static str,
        reason: String,
    },
    #[error("snapshot {snapshot} has no database {name:?} (it has: {})", .has.join(", "))]
    NoSuchDatabase {
        snapshot: String,
        name: String,
        has: Vec<String>,
    },
    #[error("snapshot {snapshot} holds {count} databases: name the one to restore")]
    WhichDatabase { snapshot: String, count: usize },
    #[error("snapshot {snapshot} has no file {file}")]
    NoSuchFile { snapshot: String, file: String },
    #[error("database {0:?} does not exist or does not accept connections")]
    NoDatabaseToDump(String),
    #[error("no database to back up")]
    NothingToDump,
    #[error("database {0:?} already exists: choose another --to, or use --replace")]
    DatabaseExists(String),
    #[error("database {0:?} does not exist: restore it without --replace")]
    NoDatabaseToReplace(String),
    #[error("cannot replace database {0:?}: the connecting role must own it and have CREATEDB (or be a superuser); nothing was changed")]
    MayNotReplace(String),
    /// A replace that failed before the swap, whose safety snapshot then stayed.
    #[error("{error} (the safety snapshot {snapshot} could not be removed again: {reason})")]
    SafetyKept {
        error: Box<Error>,
        snapshot: String,
        reason: String,
    },
    /// A swap that failed half-way and could not be rolled back.
    #[error("{error}; database {db:?} may be missing: the old one is {old:?}, and the safety snapshot {snapshot} holds it")]
    SwapBroken {
        error: Box<Error>,
        db: String,
        old: String,
        snapshot: String,
    },
    #[error("writing the archive to {path} for a parallel restore: {source} (use --spool-dir, or --jobs 1 to stream)")]
    Spool {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    // The WAL archive and base backups.
    #[error("{0:?} is not a WAL file name")]
    NotWalName(String),
    #[error(
        "{name} belongs to database system {belongs_to}, not {system}: refusing to archive it"
    )]
    OtherSystem {
        name: String,
        belongs_to: String,
        system: String,
    },
    #[error("{name} is already archived with different contents ({there} bytes there, {here} here): refusing to overwrite it")]
    ArchivedDifferently {
        name: String,
        there: usize,
        here: usize,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("moving {from} to {to}: {source}")]
    Move {
        from: PathBuf,
        to: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} thread panicked")]
    Panicked(&'static str),
    #[error("timeline {tli} has no history file ({name}) in the archive")]
    NoHistory { tli: u32, name: String },
    #[error("the server is a standby: take base backups from the primary")]
    Standby,
    #[error("the cluster has tablespaces ({}): file-level base backups read only the data directory so far; use --stream", .0.join(", "))]
    Tablespaces(Vec<String>),
    #[error("{dir} holds database system {found}, but the server runs {server}: wrong --pgdata?")]
    WrongDataDirectory {
        dir: PathBuf,
        found: String,
        server: String,
    },
    /// The base backup's last segment did not reach the archive in time.
    #[error("WAL segment {segment} (the end of this backup) did not reach the archive within {seconds}s: set archive_command = 'bunker wal-push %p' (see pg_stat_archiver for failures) or run bunker wal-receive; no snapshot was written")]
    NotArchived { segment: String, seconds: u64 },
    #[error("the backup history file of {label:?} did not reach the archive{within}: a streamed base backup needs archive_command = 'bunker wal-push %p' (see pg_stat_archiver for failures); no snapshot was written")]
    HistoryNotArchived { label: String, within: String },

    // Point-in-time recovery.
    #[error("no base backup in the repository: run `bunker pg basebackup` first")]
    NoBaseBackup,
    #[error("the repository holds several database systems ({}): choose one with --system", .0.join(", "))]
    SeveralSystems(Vec<String>),
    #[error("no base backup of system {0} in the repository")]
    NoBaseOfSystem(String),
    #[error("no base backup {id} of system {system}")]
    NoSuchBase { id: String, system: String },
    #[error("base backup {snapshot} cannot be recovered: the archive lacks WAL it needs ({start_wal} to {stop_wal})")]
    BaseIncomplete {
        snapshot: String,
        start_wal: String,
        stop_wal: String,
    },
    /// `window` is the archive's recoverable window, `along` the timelines considered.
    #[error(
        "{target} is before the earliest recoverable point: the archive covers {window} {along}"
    )]
    BeforeWindow {
        target: String,
        window: String,
        along: String,
    },
    #[error("no base backup can be recovered {along}: none has its WAL complete in the archive")]
    NoRecoverableBase { along: String },
    #[error("{target} is past the recoverable window {window}: {why}")]
    PastWindow {
        target: String,
        window: String,
        why: String,
    },
    #[error("{0} is not empty: recover into a new directory")]
    NotEmpty(PathBuf),
    #[error("the base backup links tablespace {name} to {target}, outside the recovered directory; bunker does not recover tablespaces from file-level base backups (use pg basebackup --stream)")]
    TablespaceLink { name: String, target: PathBuf },
    #[error("snapshot {snapshot} has no {file}")]
    NoBaseTar {
        snapshot: String,
        file: &'static str,
    },
    #[error("waiting for {program}: {source}")]
    Wait {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("extracting {file}: {source}")]
    Extract {
        file: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("tar failed extracting {file} ({status})")]
    TarFailed { file: &'static str, status: String },
    #[error("the base backup could not be restored completely: {}", .0.join("; "))]
    BaseDamaged(Vec<String>),

    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
