//! bunker's repository engine: the restic repository format (version 2) and every
//! operation on a repository. It knows nothing of databases, schedules or HTTP.

mod archiver;
mod blob;
mod check;
mod chunker;
mod config;
mod copy;
mod crypto;
mod diff;
mod error;
mod file_cache;
mod file_reader;
mod forget;
mod fsnode;
mod gostring;
mod id;
mod index;
mod key_cache;
mod keys;
mod lock;
mod pack;
mod prune;
mod read_ahead;
mod reindex;
mod repair;
mod repository;
mod restorer;
mod retention;
mod saver;
mod snapshot;
mod stats;
mod storage;
mod tag;
mod tree;
mod unpacked;

pub use archiver::{
    backup_dir, backup_paths, backup_stream, backup_streams, BackupOptions, BackupProgress,
    BackupResult, ParentChoice, StreamSink,
};
pub use blob::BlobType;
pub use check::{check, CheckProgress, CheckReport, ReadData};
pub use chunker::{ChunkSizes, Chunker, Polynomial};
pub use config::Config;
pub use copy::{copy, CopyProgress, CopyReport};
pub use crypto::Key;
pub use diff::{diff, subtree_at, Change, DiffOptions, DiffStat, DiffStats};
pub use error::{Error, Result};
pub use file_reader::FileReader;
pub use forget::forget;
pub use id::Id;
pub use index::{IndexFile, MasterIndex};
pub use keys::{hostname, KeyFile};
pub use lock::{list_locks, remove_locks, Lock, LockFile};
pub use pack::{parse_header, PackedBlob};
pub use prune::{parse_bytes, prune, MaxUnused, PruneOptions, PrunePlan, PruneProgress};
pub use repair::{
    repair_index, repair_packs, repair_snapshots, IndexRepair, Outcome, PackRepair,
    RepairIndexOptions, RepairProgress, RepairSnapshotsOptions, SnapshotRepair, REPAIRED_TAG,
};
pub use repository::{DamagedIndex, IndexFiles, Repository};
pub use restorer::{restore, RestoreOptions, RestoreProgress, RestoreResult};
pub use retention::{
    apply_policy, is_protected, select_for_forget, Counters, GroupBy, GroupDecision, GroupKey,
    KeptSnapshot, RetentionDuration, RetentionPolicy, PROTECTED_REASON, PROTECTED_TAG,
};
pub use snapshot::{Snapshot, SnapshotFilter, SnapshotSummary};
pub use stats::{stats, RepoStats, StatsMode};
pub use storage::{FileType, Location, ObjectEntry, Storage, StorageOptions};
pub use tag::{retag, Retagged, TagChange};
pub use tree::{Node, NodeKind, Tree};
pub use unpacked::open_bytes as open_unpacked;
