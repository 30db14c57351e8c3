//! The tree walk of a file system backup. Directories are walked with rayon, so files
//! anywhere in the tree are read, chunked and hashed in parallel. With a parent
//! snapshot, a file whose type, size, mtime, ctime and inode are unchanged keeps its
//! old content list and is not read again.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use chrono::Local;
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use rayon::prelude::*;

use super::{
    effective_threads, find_parent, finish, thread_pool, Archiver, BackupOptions, BackupProgress,
    BackupResult, StreamSink,
};
use crate::blob::BlobType;
use crate::error::{Error, Result};
use crate::fsnode::{is_cache_dir, node_from_metadata};
use crate::repository::Repository;
use crate::snapshot::Snapshot;
use crate::tree::{Node, NodeKind, Tree};

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

/// A path given to back up that is a symbolic link stands for what it points to (as
/// `find -H` and `tar -h` read their arguments): `/app/current -> releases/42` backs
/// up the release, not a link and "0 files". Links found inside the tree stay links.
/// A link whose target cannot be read is an error that says so.
fn follow_given_link(p: &Path) -> Result<PathBuf> {
    let meta = std::fs::symlink_metadata(p).map_err(|e| Error::io(p, e))?;
    if !meta.file_type().is_symlink() {
        return Ok(p.to_path_buf());
    }
    std::fs::canonicalize(p).map_err(|e| {
        let target = std::fs::read_link(p)
            .map(|t| t.display().to_string())
            .unwrap_or_default();
        Error::Invalid(format!(
            "{}: a symbolic link to {target}, which cannot be read ({e}): nothing to back up",
            p.display()
        ))
    })
}

impl Archiver<'_> {
    fn excluded(&self, path: &Path, is_dir: bool) -> bool {
        self.excludes
            .matched_path_or_any_parents(path, is_dir)
            .is_ignore()
    }

    fn parent_tree(&self, parent: Option<&Node>) -> Option<Tree> {
        let id = parent.filter(|n| n.kind == NodeKind::Dir)?.subtree?;
        self.repo.load_tree(&id).ok()
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

fn build_excludes(patterns: &[String]) -> Result<Gitignore> {
    let mut b = GitignoreBuilder::new("/");
    for p in patterns {
        b.add_line(None, p)
            .map_err(|e| Error::Invalid(format!("exclude pattern {p:?}: {e}")))?;
    }
    b.build()
        .map_err(|e| Error::Invalid(format!("exclude patterns: {e}")))
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
    let archiver = Archiver::new(repo, opts, progress, build_excludes(&opts.excludes)?);
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
    let paths = &paths
        .iter()
        .map(|p| follow_given_link(p))
        .collect::<Result<Vec<PathBuf>>>()?;
    let _lock = repo.lock(false)?;
    let start = Local::now().fixed_offset();
    let mut top = TopDir::default();
    let mut snap_paths = Vec::new();
    for p in paths {
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
    let tree = std::thread::scope(|s| {
        if opts.scan {
            let roots: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
            let excludes = &archiver.excludes;
            s.spawn(move || super::scan::scan(&roots, opts, excludes, progress));
        }
        pool.install(|| archiver.save_top(&top, parent_tree.as_ref()))
    })?;
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
    let mut sink = StreamSink::new(&archiver);
    after(&mut sink)?;
    let (nodes, extra) = sink.into_parts();
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
