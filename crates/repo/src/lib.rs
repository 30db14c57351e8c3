//! bunker's repository engine: the restic repository format (version 2) and every
//! operation on a repository. It knows nothing of databases, schedules or HTTP.

mod archiver;
mod check;
mod chunker;
mod config;
mod crypto;
mod error;
mod fsnode;
mod gostring;
mod id;
mod index;
mod keys;
mod lock;
mod pack;
mod repository;
mod restorer;
mod saver;
mod snapshot;
mod storage;
mod tree;
mod unpacked;

pub use archiver::{
    backup_paths, backup_stream, BackupOptions, BackupProgress, BackupResult, ParentChoice,
};
pub use check::{check, CheckProgress, CheckReport, ReadData};
pub use chunker::{Chunker, Polynomial};
pub use config::Config;
pub use crypto::Key;
pub use error::{Error, Result};
pub use id::Id;
pub use index::{IndexFile, MasterIndex};
pub use keys::{hostname, KeyFile};
pub use lock::{list_locks, remove_locks, Lock, LockFile};
pub use pack::{parse_header, BlobType, PackedBlob};
pub use repository::Repository;
pub use restorer::{restore, RestoreOptions, RestoreProgress, RestoreResult};
pub use snapshot::{Snapshot, SnapshotFilter, SnapshotSummary};
pub use storage::{FileType, Storage};
pub use tree::{Node, NodeKind, Tree};
pub use unpacked::open_bytes as open_unpacked;
