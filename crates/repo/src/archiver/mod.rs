//! `backup`: file trees and streams into a snapshot.
//!
//! An `Archiver` holds what every kind of backup shares: it chunks byte streams into
//! data blobs and hands them, and the trees that list them, to its `BlobSaver`, which
//! compresses, encrypts and uploads behind; at the end it writes the snapshot. The tree
//! walk (`walk`) feeds it files from the file system, the stream sink (`stream`) the
//! output of commands and database dumps.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, FixedOffset, Local};
use ignore::gitignore::Gitignore;

use crate::blob::BlobType;
use crate::chunker::{ChunkSizes, Chunker};
use crate::error::{Error, Result};
use crate::fsnode::NameCache;
use crate::id::Id;
use crate::repository::Repository;
use crate::saver::BlobSaver;
use crate::snapshot::{Snapshot, SnapshotFilter, SnapshotSummary};
use crate::storage::FileType;
use crate::tree::Tree;

mod scan;
mod stream;
mod walk;

pub use stream::{backup_stream, backup_streams, StreamSink};
pub use walk::{backup_dir, backup_paths};

/// Which snapshot a backup compares against.
#[derive(Clone, Debug, Default)]
pub enum ParentChoice {
    /// The latest snapshot of the same host and paths.
    #[default]
    Auto,
    /// Read every file (`--force`).
    None,
    /// A snapshot id or unique prefix.
    Snapshot(String),
}

/// How to run a backup.
#[derive(Clone, Debug, Default)]
pub struct BackupOptions {
    pub host: String,
    pub tags: Vec<String>,
    /// gitignore-syntax patterns.
    pub excludes: Vec<String>,
    pub exclude_caches: bool,
    pub one_file_system: bool,
    pub exclude_larger_than: Option<u64>,
    pub parent: ParentChoice,
    pub threads: usize,
    pub time: Option<DateTime<FixedOffset>>,
    /// Extra snapshot fields (bunker's own; restic ignores them).
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// Chunk sizes for the streams of [`backup_streams`] (files always use restic's).
    pub stream_chunks: ChunkSizes,
    /// Count the files and bytes to back up beside the backup, for a progress total
    /// (one more metadata walk: only where progress is shown).
    pub scan: bool,
}

/// Live counters, read by progress displays.
#[derive(Debug, Default)]
pub struct BackupProgress {
    pub files: AtomicU64,
    pub dirs: AtomicU64,
    pub bytes: AtomicU64,
    pub files_new: AtomicU64,
    pub files_changed: AtomicU64,
    pub files_unmodified: AtomicU64,
    pub dirs_new: AtomicU64,
    pub dirs_changed: AtomicU64,
    pub dirs_unmodified: AtomicU64,
    /// What the size scan found so far (with [`BackupOptions::scan`]); final once
    /// `scanned` is set.
    pub total_files: AtomicU64,
    pub total_bytes: AtomicU64,
    pub scanned: std::sync::atomic::AtomicBool,
}

/// A finished backup.
#[derive(Debug)]
pub struct BackupResult {
    pub snapshot: Snapshot,
    /// Files that could not be read (the snapshot was written without them).
    pub warnings: Vec<String>,
    /// Files that changed while they were read (stored as read).
    pub changed: Vec<String>,
}

/// One backup in progress: its saver, its counters, and what went wrong along the way.
struct Archiver<'a> {
    repo: &'a Repository,
    saver: BlobSaver,
    names: NameCache,
    /// What the tree walk leaves out (empty for streams).
    excludes: Gitignore,
    opts: &'a BackupOptions,
    progress: &'a BackupProgress,
    warnings: Mutex<Vec<String>>,
    changed: Mutex<Vec<String>>,
}

impl<'a> Archiver<'a> {
    fn new(
        repo: &'a Arc<Repository>,
        opts: &'a BackupOptions,
        progress: &'a BackupProgress,
        excludes: Gitignore,
    ) -> Archiver<'a> {
        Archiver {
            repo,
            saver: BlobSaver::new(
                repo.clone(),
                effective_threads(opts),
                repo.storage().connections(),
            ),
            names: NameCache::default(),
            excludes,
            opts,
            progress,
            warnings: Mutex::default(),
            changed: Mutex::default(),
        }
    }

    fn warn(&self, msg: String) {
        self.warnings.lock().expect("warnings").push(msg);
    }

    fn save_tree(&self, mut tree: Tree) -> Result<Id> {
        tree.sort();
        let (id, _) = self.saver.save(BlobType::Tree, tree.to_blob())?;
        Ok(id)
    }

    /// Chunks a stream into data blobs; returns the content list and the byte count.
    fn save_stream(&self, rd: impl Read, size_hint: Option<u64>) -> Result<(Vec<Id>, u64)> {
        self.save_stream_with(rd, size_hint, ChunkSizes::RESTIC)
    }

    fn save_stream_with(
        &self,
        rd: impl Read,
        size_hint: Option<u64>,
        sizes: ChunkSizes,
    ) -> Result<(Vec<Id>, u64)> {
        let mut chunker = Chunker::with_sizes(rd, self.repo.chunker_tables(), size_hint, sizes);
        let mut content = Vec::new();
        let mut total = 0u64;
        let mut buf = Vec::new();
        while chunker
            .next_chunk(&mut buf)
            .map_err(|e| Error::io("read", e))?
        {
            total += buf.len() as u64;
            self.progress
                .bytes
                .fetch_add(buf.len() as u64, Ordering::Relaxed);
            // The next chunk's buffer: as large as what is left, at most a typical chunk.
            let left = size_hint.map_or(u64::MAX, |n| n.saturating_sub(total));
            let cap = left.min(sizes.min as u64 * 3) as usize;
            let data = std::mem::replace(&mut buf, Vec::with_capacity(cap));
            let (id, _) = self.saver.save(BlobType::Data, data)?;
            content.push(id);
        }
        Ok((content, total))
    }
}

fn summary(
    p: &BackupProgress,
    start: DateTime<FixedOffset>,
    stats: crate::saver::SaverStats,
) -> SnapshotSummary {
    let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
    SnapshotSummary {
        backup_start: Some(start),
        backup_end: Some(Local::now().fixed_offset()),
        files_new: g(&p.files_new),
        files_changed: g(&p.files_changed),
        files_unmodified: g(&p.files_unmodified),
        dirs_new: g(&p.dirs_new),
        dirs_changed: g(&p.dirs_changed),
        dirs_unmodified: g(&p.dirs_unmodified),
        data_blobs: stats.data_blobs,
        tree_blobs: stats.tree_blobs,
        data_added: stats.data_added,
        data_added_packed: stats.data_added_packed,
        total_files_processed: g(&p.files),
        total_bytes_processed: g(&p.bytes),
    }
}

fn thread_pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("bunker-read-{i}"))
        .build()
        .map_err(|e| Error::Invalid(format!("thread pool: {e}")))
}

fn effective_threads(opts: &BackupOptions) -> usize {
    crate::saver::worker_threads(opts.threads)
}

fn new_snapshot(
    opts: &BackupOptions,
    paths: Vec<String>,
    tree: Id,
    parent: Option<Id>,
    start: DateTime<FixedOffset>,
) -> Snapshot {
    Snapshot {
        time: opts.time.unwrap_or(start),
        parent,
        tree,
        paths,
        hostname: opts.host.clone(),
        username: crate::keys::whoami(),
        uid: nix::unistd::getuid().as_raw(),
        gid: nix::unistd::getgid().as_raw(),
        excludes: opts.excludes.clone(),
        tags: opts.tags.clone(),
        original: None,
        program_version: format!("bunker {}", env!("CARGO_PKG_VERSION")),
        summary: None,
        extra: opts.extra.clone(),
        id: Id::default(),
    }
}

fn find_parent(
    repo: &Repository,
    opts: &BackupOptions,
    paths: &[String],
) -> Result<Option<Snapshot>> {
    match &opts.parent {
        ParentChoice::None => Ok(None),
        ParentChoice::Snapshot(spec) => repo
            .find_snapshot(spec, &SnapshotFilter::default())
            .map(Some),
        ParentChoice::Auto => Ok(repo
            .snapshots()?
            .into_iter()
            .rfind(|s| s.hostname == opts.host && s.has_exactly_paths(paths))),
    }
}

fn finish(
    archiver: Archiver<'_>,
    opts: &BackupOptions,
    paths: Vec<String>,
    tree: Id,
    parent: Option<Id>,
    start: DateTime<FixedOffset>,
) -> Result<BackupResult> {
    let Archiver {
        repo,
        saver,
        warnings,
        changed,
        progress,
        ..
    } = archiver;
    // Packs, then index: both durable before the snapshot refers to them.
    let stats = saver.finish()?;
    let mut snap = new_snapshot(opts, paths, tree, parent, start);
    snap.summary = Some(summary(progress, start, stats));
    snap.id = repo.save_json(FileType::Snapshot, &snap)?;
    Ok(BackupResult {
        snapshot: snap,
        warnings: warnings.into_inner().expect("warnings"),
        changed: changed.into_inner().expect("changed"),
    })
}
