//! `backup`: file trees and streams into a snapshot.
//!
//! Directories are walked with rayon, so files anywhere in the tree are read, chunked
//! and hashed in parallel; the [`BlobSaver`] compresses, encrypts and uploads behind.
//! With a parent snapshot, a file whose type, size, mtime, ctime and inode are unchanged
//! keeps its old content list and is not read again.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, FixedOffset, Local};
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use rayon::prelude::*;

use crate::blob::BlobType;
use crate::chunker::{ChunkSizes, Chunker};
use crate::error::{Error, Result};
use crate::fsnode::{is_cache_dir, node_from_metadata, NameCache};
use crate::id::Id;
use crate::repository::Repository;
use crate::saver::BlobSaver;
use crate::snapshot::{Snapshot, SnapshotFilter, SnapshotSummary};
use crate::storage::FileType;
use crate::tree::{Node, NodeKind, Tree};

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

struct Archiver<'a> {
    repo: &'a Repository,
    saver: BlobSaver,
    names: NameCache,
    excludes: Gitignore,
    opts: &'a BackupOptions,
    progress: &'a BackupProgress,
    warnings: Mutex<Vec<String>>,
    changed: Mutex<Vec<String>>,
}

/// A directory of the snapshot's top: either a real path or a virtual parent of one.
#[derive(Default)]
struct TopDir {
    children: BTreeMap<Vec<u8>, TopEntry>,
}

enum TopEntry {
    Real(PathBuf),
    Virtual(PathBuf, TopDir),
}

fn clean_path(p: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(p).map_err(|e| Error::io(p, e))?;
    let mut out = PathBuf::from("/");
    for c in abs.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    Ok(out)
}

impl<'a> Archiver<'a> {
    fn warn(&self, msg: String) {
        self.warnings.lock().expect("warnings").push(msg);
    }

    fn excluded(&self, path: &Path, is_dir: bool) -> bool {
        self.excludes
            .matched_path_or_any_parents(path, is_dir)
            .is_ignore()
    }

    fn parent_tree(&self, parent: Option<&Node>) -> Option<Tree> {
        let id = parent.filter(|n| n.kind == NodeKind::Dir)?.subtree?;
        self.repo.load_tree(&id).ok()
    }

    fn save_tree(&self, mut tree: Tree) -> Result<Id> {
        tree.sort();
        let (id, _) = self.saver.save(BlobType::Tree, tree.to_blob())?;
        Ok(id)
    }

    /// Saves one file system object; `None` when it is skipped (excluded, unreadable).
    fn save_path(
        &self,
        name: &[u8],
        path: &Path,
        parent: Option<&Node>,
        root_dev: u64,
    ) -> Result<Option<Node>> {
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) => {
                self.warn(format!("{}: {e}", path.display()));
                return Ok(None);
            }
        };
        if self.opts.one_file_system && meta.dev() != root_dev {
            return Ok(None);
        }
        let mut node = node_from_metadata(name, path, &meta, &self.names);
        match node.kind {
            NodeKind::Dir => {
                let parent_tree = self.parent_tree(parent);
                let tree = self.save_dir_contents(path, parent_tree.as_ref(), root_dev)?;
                let id = self.save_tree(tree)?;
                let counter = match parent.and_then(|p| p.subtree) {
                    Some(old) if old == id => &self.progress.dirs_unmodified,
                    Some(_) => &self.progress.dirs_changed,
                    None => &self.progress.dirs_new,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                self.progress.dirs.fetch_add(1, Ordering::Relaxed);
                node.subtree = Some(id);
            }
            NodeKind::File => {
                if let Some(limit) = self.opts.exclude_larger_than {
                    if meta.len() > limit {
                        return Ok(None);
                    }
                }
                if !self.save_file(path, &mut node, parent)? {
                    return Ok(None);
                }
            }
            _ => {}
        }
        Ok(Some(node))
    }

    fn save_dir_contents(&self, dir: &Path, parent: Option<&Tree>, root_dev: u64) -> Result<Tree> {
        let rd = match std::fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) => {
                self.warn(format!("{}: {e}", dir.display()));
                return Ok(Tree::default());
            }
        };
        let cache = self.opts.exclude_caches && is_cache_dir(dir);
        let mut entries: Vec<(Vec<u8>, PathBuf)> = Vec::new();
        for e in rd {
            let e = match e {
                Ok(e) => e,
                Err(err) => {
                    self.warn(format!("{}: {err}", dir.display()));
                    continue;
                }
            };
            let name = e.file_name().as_bytes().to_vec();
            if cache && name != b"CACHEDIR.TAG" {
                continue;
            }
            let path = e.path();
            let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if self.excluded(&path, is_dir) {
                continue;
            }
            entries.push((name, path));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let nodes: Vec<Option<Node>> = entries
            .par_iter()
            .map(|(name, path)| {
                self.save_path(name, path, parent.and_then(|t| t.find(name)), root_dev)
            })
            .collect::<Result<_>>()?;
        Ok(Tree {
            nodes: nodes.into_iter().flatten().collect(),
        })
    }

    /// Reads and chunks a file, or reuses the parent's content when it is unchanged.
    /// Returns false when the file could not be read at all.
    fn save_file(&self, path: &Path, node: &mut Node, parent: Option<&Node>) -> Result<bool> {
        self.progress.files.fetch_add(1, Ordering::Relaxed);
        if let Some(p) = parent {
            let same = p.kind == NodeKind::File
                && p.size == node.size
                && p.mtime == node.mtime
                && p.ctime == node.ctime
                && p.inode == node.inode;
            if same
                && p.content
                    .iter()
                    .all(|id| self.repo.index().has(BlobType::Data, id))
            {
                node.content = p.content.clone();
                self.progress
                    .files_unmodified
                    .fetch_add(1, Ordering::Relaxed);
                self.progress.bytes.fetch_add(node.size, Ordering::Relaxed);
                return Ok(true);
            }
        }
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) => {
                self.warn(format!("{}: {e}", path.display()));
                return Ok(false);
            }
        };
        match self.save_stream(file, Some(node.size)) {
            Ok((content, size)) => {
                node.content = content;
                let moved = std::fs::symlink_metadata(path).map(|m| {
                    m.len() != node.size
                        || m.mtime() != node.mtime.timestamp()
                        || m.mtime_nsec() != node.mtime.timestamp_subsec_nanos() as i64
                });
                if size != node.size || moved.unwrap_or(false) {
                    self.changed
                        .lock()
                        .expect("changed")
                        .push(path.display().to_string());
                }
                node.size = size;
            }
            Err(Error::Io { source, .. }) => {
                self.warn(format!("{}: {source}", path.display()));
                return Ok(false);
            }
            Err(e) => return Err(e),
        }
        let counter = if parent.is_some() {
            &self.progress.files_changed
        } else {
            &self.progress.files_new
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(true)
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

    fn save_top(&self, dir: &TopDir, parent: Option<&Tree>) -> Result<Tree> {
        let nodes: Vec<Option<Node>> = dir
            .children
            .par_iter()
            .map(|(name, entry)| {
                let pnode = parent.and_then(|t| t.find(name));
                match entry {
                    TopEntry::Real(path) => {
                        let dev = std::fs::symlink_metadata(path)
                            .map(|m| m.dev())
                            .unwrap_or(0);
                        self.save_path(name, path, pnode, dev)
                    }
                    TopEntry::Virtual(path, sub) => {
                        let meta =
                            std::fs::symlink_metadata(path).map_err(|e| Error::io(path, e))?;
                        let mut node = node_from_metadata(name, path, &meta, &self.names);
                        let ptree = self.parent_tree(pnode);
                        let tree = self.save_top(sub, ptree.as_ref())?;
                        node.subtree = Some(self.save_tree(tree)?);
                        Ok(Some(node))
                    }
                }
            })
            .collect::<Result<_>>()?;
        Ok(Tree {
            nodes: nodes.into_iter().flatten().collect(),
        })
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

fn build_excludes(patterns: &[String]) -> Result<Gitignore> {
    let mut b = GitignoreBuilder::new("/");
    for p in patterns {
        b.add_line(None, p)
            .map_err(|e| Error::Invalid(format!("exclude pattern {p:?}: {e}")))?;
    }
    b.build()
        .map_err(|e| Error::Invalid(format!("exclude patterns: {e}")))
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

/// The archiver of a file system backup, with its parent snapshot and that one's root
/// tree. The parent first, then the index (read in reverse): whatever the parent refers
/// to is in an index file written before it.
fn walker<'a>(
    repo: &'a Arc<Repository>,
    opts: &'a BackupOptions,
    progress: &'a BackupProgress,
    snap_paths: &[String],
) -> Result<(Archiver<'a>, Option<Snapshot>, Option<Tree>)> {
    let parent = find_parent(repo, opts, snap_paths)?;
    repo.load_index()?;
    let archiver = Archiver {
        repo,
        saver: BlobSaver::new(
            repo.clone(),
            effective_threads(opts),
            repo.storage().connections(),
        ),
        names: NameCache::default(),
        excludes: build_excludes(&opts.excludes)?,
        opts,
        progress,
        warnings: Mutex::default(),
        changed: Mutex::default(),
    };
    let parent_tree = match &parent {
        Some(p) => Some(repo.load_tree(&p.tree)?),
        None => None,
    };
    Ok((archiver, parent, parent_tree))
}

/// Backs up file system paths into a new snapshot.
pub fn backup_paths(
    repo: Arc<Repository>,
    paths: &[PathBuf],
    opts: &BackupOptions,
    progress: &BackupProgress,
) -> Result<BackupResult> {
    if paths.is_empty() {
        return Err(Error::Invalid(
            "nothing to back up: give at least one path".into(),
        ));
    }
    let _lock = repo.lock(false)?;
    let start = Local::now().fixed_offset();
    let mut top = TopDir::default();
    let mut snap_paths = Vec::new();
    for p in paths {
        std::fs::symlink_metadata(p).map_err(|e| Error::io(p, e))?;
        let clean = clean_path(p)?;
        snap_paths.push(clean.to_string_lossy().into_owned());
        let comps: Vec<&std::ffi::OsStr> = clean.iter().skip(1).collect();
        let mut dir = &mut top;
        let mut so_far = PathBuf::from("/");
        for (i, c) in comps.iter().enumerate() {
            so_far.push(c);
            let key = c.as_bytes().to_vec();
            if i + 1 == comps.len() {
                dir.children.insert(key, TopEntry::Real(so_far.clone()));
                break;
            }
            let entry = dir
                .children
                .entry(key)
                .or_insert_with(|| TopEntry::Virtual(so_far.clone(), TopDir::default()));
            match entry {
                TopEntry::Virtual(_, sub) => dir = sub,
                TopEntry::Real(_) => break,
            }
        }
    }
    snap_paths.sort();
    snap_paths.dedup();
    let (archiver, parent, parent_tree) = walker(&repo, opts, progress, &snap_paths)?;
    let pool = thread_pool(effective_threads(opts))?;
    let tree = pool.install(|| archiver.save_top(&top, parent_tree.as_ref()))?;
    let tree_id = archiver.save_tree(tree)?;
    finish(
        archiver,
        opts,
        snap_paths,
        tree_id,
        parent.map(|p| p.id),
        start,
    )
}

/// Backs up the contents of the directory `root` as the snapshot's root, so that
/// restoring to a target recreates the directory there (`paths` records `root`). Then
/// `after` adds streams at the root: what only the end of the walk can give, such as
/// the `backup_label` a PostgreSQL base backup ends with. An error from `after` leaves
/// no snapshot. The parent is chosen as for [`backup_paths`].
pub fn backup_dir(
    repo: Arc<Repository>,
    root: &Path,
    opts: &BackupOptions,
    progress: &BackupProgress,
    after: &mut dyn FnMut(&mut StreamSink<'_, '_>) -> Result<()>,
) -> Result<BackupResult> {
    let _lock = repo.lock(false)?;
    let start = Local::now().fixed_offset();
    let clean = clean_path(root)?;
    let meta = std::fs::metadata(&clean).map_err(|e| Error::io(&clean, e))?;
    if !meta.is_dir() {
        return Err(Error::Invalid(format!(
            "{}: not a directory",
            clean.display()
        )));
    }
    let snap_paths = vec![clean.to_string_lossy().into_owned()];
    let (archiver, parent, parent_tree) = walker(&repo, opts, progress, &snap_paths)?;
    let pool = thread_pool(effective_threads(opts))?;
    let mut tree =
        pool.install(|| archiver.save_dir_contents(&clean, parent_tree.as_ref(), meta.dev()))?;
    let mut sink = StreamSink {
        archiver: &archiver,
        nodes: Vec::new(),
        extra: serde_json::Map::new(),
    };
    after(&mut sink)?;
    let StreamSink { nodes, extra, .. } = sink;
    for mut node in nodes {
        // The added files belong to the directory's owner, as its other files do.
        (node.uid, node.gid) = (meta.uid(), meta.gid());
        node.user = archiver.names.user(node.uid);
        node.group = archiver.names.group(node.gid);
        if tree.find(&node.name).is_some() {
            return Err(Error::Invalid(format!(
                "{}: {} exists in the directory and as a stream",
                clean.display(),
                String::from_utf8_lossy(&node.name)
            )));
        }
        tree.nodes.push(node);
    }
    let mut snap_opts = opts.clone();
    snap_opts.extra.extend(extra);
    let tree_id = archiver.save_tree(tree)?;
    finish(
        archiver,
        &snap_opts,
        snap_paths,
        tree_id,
        parent.map(|p| p.id),
        start,
    )
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

/// Backs up one stream as a file named `filename` at the snapshot's root. `check` runs
/// after the stream ended and before the snapshot is written; an error from it (a
/// command that exited non-zero) leaves no snapshot.
pub fn backup_stream(
    repo: Arc<Repository>,
    rd: impl Read + Send,
    filename: &str,
    opts: &BackupOptions,
    progress: &BackupProgress,
    check: &mut dyn FnMut() -> Result<()>,
) -> Result<BackupResult> {
    let mut rd = Some(rd);
    backup_streams(repo, opts, progress, &mut |sink| {
        let rd = rd.take().expect("one stream");
        sink.add(filename, 0o644, rd)?;
        check()
    })
}

/// Receives the streams of a [`backup_streams`] run: each becomes one file at the
/// snapshot's root.
pub struct StreamSink<'s, 'a> {
    archiver: &'s Archiver<'a>,
    nodes: Vec<Node>,
    extra: serde_json::Map<String, serde_json::Value>,
}

impl StreamSink<'_, '_> {
    /// Records a field in the snapshot (what only the end of the streams tells: sizes,
    /// end times), beside the options' own extra fields.
    pub fn set_extra(&mut self, key: &str, value: serde_json::Value) {
        self.extra.insert(key.to_string(), value);
    }

    /// Reads `rd` to its end into a file `filename` with permission bits `mode`;
    /// returns its size.
    pub fn add(&mut self, filename: &str, mode: u32, rd: impl Read + Send) -> Result<u64> {
        if filename.is_empty() || filename.contains('/') || filename == "." || filename == ".." {
            return Err(Error::Invalid(format!(
                "invalid stream file name {filename:?}"
            )));
        }
        if self.nodes.iter().any(|n| n.name == filename.as_bytes()) {
            return Err(Error::Invalid(format!("two streams named {filename:?}")));
        }
        let sizes = self.archiver.opts.stream_chunks;
        let (content, size) = crate::read_ahead::with_read_ahead(rd, |rd| {
            self.archiver.save_stream_with(rd, None, sizes)
        })?;
        let mut node = Node::new(filename.as_bytes().to_vec(), NodeKind::File);
        let now = Local::now().fixed_offset();
        node.mode = mode;
        node.mtime = now;
        node.atime = now;
        node.ctime = now;
        node.uid = nix::unistd::getuid().as_raw();
        node.gid = nix::unistd::getgid().as_raw();
        node.user = self.archiver.names.user(node.uid);
        node.group = self.archiver.names.group(node.gid);
        node.size = size;
        node.content = content;
        let progress = self.archiver.progress;
        progress.files.fetch_add(1, Ordering::Relaxed);
        progress.files_new.fetch_add(1, Ordering::Relaxed);
        self.nodes.push(node);
        Ok(size)
    }
}

/// Backs up several streams (database dumps, command outputs) into one snapshot whose
/// root holds one file per stream. `body` adds the streams; if it fails (a dump tool
/// exited non-zero) no snapshot is written, and the data already stored is reused by
/// the next run.
pub fn backup_streams(
    repo: Arc<Repository>,
    opts: &BackupOptions,
    progress: &BackupProgress,
    body: &mut dyn FnMut(&mut StreamSink<'_, '_>) -> Result<()>,
) -> Result<BackupResult> {
    let _lock = repo.lock(false)?;
    let start = Local::now().fixed_offset();
    repo.load_index()?;
    let archiver = Archiver {
        repo: &repo,
        saver: BlobSaver::new(
            repo.clone(),
            effective_threads(opts),
            repo.storage().connections(),
        ),
        names: NameCache::default(),
        excludes: build_excludes(&[])?,
        opts,
        progress,
        warnings: Mutex::default(),
        changed: Mutex::default(),
    };
    let mut sink = StreamSink {
        archiver: &archiver,
        nodes: Vec::new(),
        extra: serde_json::Map::new(),
    };
    body(&mut sink)?;
    let StreamSink {
        mut nodes, extra, ..
    } = sink;
    let mut snap_opts = opts.clone();
    snap_opts.extra.extend(extra);
    if nodes.is_empty() {
        return Err(Error::Invalid(
            "nothing to back up: no stream was given".into(),
        ));
    }
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    let paths: Vec<String> = nodes
        .iter()
        .map(|n| format!("/{}", String::from_utf8_lossy(&n.name)))
        .collect();
    // Streams reuse nothing of a parent but the record of it: the newest snapshot of
    // the same host and files.
    let parent = find_parent(&repo, opts, &paths)?;
    let tree_id = archiver.save_tree(Tree { nodes })?;
    finish(
        archiver,
        &snap_opts,
        paths,
        tree_id,
        parent.map(|p| p.id),
        start,
    )
}
