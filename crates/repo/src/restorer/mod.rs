//! `restore`: a snapshot (or part of it) back onto the file system, with content,
//! metadata, hard links and holes. Damage spoils only what needs it: a damaged blob
//! its file, a damaged tree its directory; everything else is restored and what is not
//! is listed. A file that cannot be restored whole is not left behind (a full-size file
//! of zeros with the original times would pass for the real one), and nothing already
//! in the target is written through (see `place`).

mod place;
mod walk;

use std::collections::{HashMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;

use crate::blob::BlobType;
use crate::error::{Error, Result};
use crate::fsnode::apply_metadata;
use crate::id::Id;
use crate::index::BlobLocation;
use crate::repository::Repository;
use crate::snapshot::Snapshot;
use crate::storage::FileType;
use crate::tree::{Node, NodeKind};

/// Longest run of adjacent blobs fetched with one storage request.
const MAX_READ: u64 = 8 * 1024 * 1024;
/// Largest window of one pack held in memory while its small files are written.
const PACK_WINDOW: u64 = 4 * 1024 * 1024;
/// Both, on a remote store: a whole pack per request, where every request costs a
/// round trip (restic reads whole packs too); the memory is that of one pack per thread.
const REMOTE_READ: u64 = 32 * 1024 * 1024;

/// The longest read and the small-file window for this repository's storage.
fn read_sizes(repo: &Repository) -> (u64, u64) {
    match repo.storage().local_root() {
        Some(_) => (MAX_READ, PACK_WINDOW),
        None => (REMOTE_READ, REMOTE_READ),
    }
}

#[derive(Clone, Debug, Default)]
pub struct RestoreOptions {
    /// gitignore-syntax patterns on snapshot paths (`/home/user/file`).
    pub includes: Vec<String>,
    pub excludes: Vec<String>,
    pub threads: usize,
}

#[derive(Debug, Default)]
pub struct RestoreProgress {
    pub files: AtomicU64,
    pub bytes: AtomicU64,
    /// What the restore will write, known once the snapshot's trees are read.
    pub total_files: AtomicU64,
    pub total_bytes: AtomicU64,
}

#[derive(Debug, Default)]
pub struct RestoreResult {
    pub files: u64,
    pub dirs: u64,
    pub bytes: u64,
    /// What was not restored, with the reason: files whose content could not be read
    /// back in full (no file is left at their name) and directories whose tree could not
    /// be read (nothing below them is restored).
    pub damaged: Vec<String>,
    /// Metadata that could not be applied (ownership without root, devices...).
    pub warnings: Vec<String>,
}

/// A file to restore (its index in the walk) with where each of its blobs lives.
type FileJob = (usize, Vec<(Id, Option<BlobLocation>)>);

/// Whether a block is all zeros (such blocks are left as holes).
fn is_zero(b: &[u8]) -> bool {
    let words = b.chunks_exact(64);
    let rest = words.remainder();
    words
        .into_iter()
        .all(|c| c.iter().fold(0u8, |acc, &x| acc | x) == 0)
        && rest.iter().all(|&x| x == 0)
}

struct Restorer<'a> {
    repo: &'a Repository,
    target: PathBuf,
    progress: &'a RestoreProgress,
    damaged: Mutex<Vec<String>>,
    warnings: Mutex<Vec<String>>,
}

impl Restorer<'_> {
    fn dest(&self, p: &Path) -> PathBuf {
        self.target.join(p.strip_prefix("/").unwrap_or(p))
    }

    fn warn(&self, path: &Path, problems: Vec<String>) {
        if !problems.is_empty() {
            self.warnings.lock().expect("warnings").push(format!(
                "{}: {}",
                path.display(),
                problems.join(", ")
            ));
        }
    }

    /// Writes a file's content; returns the first reason it is incomplete, if any.
    /// `preloaded` is a range of one pack already in memory: (pack, offset, bytes).
    fn write_file(
        &self,
        dest: &Path,
        node: &Node,
        locs: &[(Id, Option<BlobLocation>)],
        preloaded: Option<(&Id, u64, &[u8])>,
    ) -> std::result::Result<(), String> {
        let f = place::new_file(dest).map_err(|e| format!("create: {e}"))?;
        let mut offset = 0u64;
        let mut first_err = None;
        let mut i = 0;
        while i < locs.len() {
            let (_, Some(loc)) = locs[i] else {
                first_err.get_or_insert(format!("blob {} is missing from the index", locs[i].0));
                // Unknown size: the rest of the file cannot be placed.
                break;
            };
            // Extend the run while the next blob follows directly in the same pack.
            let mut j = i + 1;
            let mut end = loc.offset as u64 + loc.length as u64;
            while j < locs.len() {
                match locs[j].1 {
                    Some(l)
                        if l.pack == loc.pack
                            && l.offset as u64 == end
                            && end - loc.offset as u64 + l.length as u64
                                <= read_sizes(self.repo).0 =>
                    {
                        end += l.length as u64;
                        j += 1;
                    }
                    _ => break,
                }
            }
            let start = loc.offset as u64;
            let raw: Result<std::borrow::Cow<'_, [u8]>> = match preloaded {
                Some((pack, base, bytes))
                    if *pack == loc.pack && start >= base && end <= base + bytes.len() as u64 =>
                {
                    Ok(std::borrow::Cow::Borrowed(
                        &bytes[(start - base) as usize..(end - base) as usize],
                    ))
                }
                _ => self
                    .repo
                    .storage()
                    .read_range(FileType::Pack, &loc.pack, start, end - start)
                    .map(std::borrow::Cow::Owned),
            };
            for (bid, bloc) in &locs[i..j] {
                let bloc = bloc.expect("located");
                let size = bloc.plain_size() as u64;
                let plain = raw.as_ref().map_err(|e| e.to_string()).and_then(|raw| {
                    let start = (bloc.offset - loc.offset) as usize;
                    self.repo
                        .decode_blob(bid, &bloc, &raw[start..start + bloc.length as usize])
                        .map_err(|e| e.to_string())
                });
                match plain {
                    Ok(data) => {
                        if !is_zero(&data) {
                            if let Err(e) = f.write_all_at(&data, offset) {
                                return Err(format!("write: {e}"));
                            }
                        }
                        self.progress
                            .bytes
                            .fetch_add(data.len() as u64, Ordering::Relaxed);
                        offset += data.len() as u64;
                    }
                    Err(e) => {
                        first_err.get_or_insert(e);
                        offset += size;
                    }
                }
            }
            i = j;
        }
        // Holes at the end (and all-zero blobs skipped above) stay sparse.
        f.set_len(node.size.max(offset))
            .map_err(|e| format!("truncate: {e}"))?;
        self.progress.files.fetch_add(1, Ordering::Relaxed);
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn restore_special(&self, dest: &Path, node: &Node) -> std::result::Result<(), String> {
        use nix::sys::stat::{mknod, Mode, SFlag};
        place::free_name(dest).map_err(|e| e.to_string())?;
        let mode = Mode::from_bits_truncate(node.mode & 0o7777);
        let r = match node.kind {
            NodeKind::Symlink => {
                std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&node.link_target), dest)
                    .map_err(|e| e.to_string())
            }
            NodeKind::Fifo => nix::unistd::mkfifo(dest, mode).map_err(|e| e.to_string()),
            NodeKind::Dev => {
                mknod(dest, SFlag::S_IFBLK, mode, node.device as _).map_err(|e| e.to_string())
            }
            NodeKind::Chardev => {
                mknod(dest, SFlag::S_IFCHR, mode, node.device as _).map_err(|e| e.to_string())
            }
            _ => return Ok(()),
        };
        r
    }
}

/// Restores `snapshot` below `target`.
pub fn restore(
    repo: &Repository,
    snapshot: &Snapshot,
    target: &Path,
    opts: &RestoreOptions,
    progress: &RestoreProgress,
) -> Result<RestoreResult> {
    let _lock = repo.lock(false)?;
    repo.load_index()?;
    let inc = walk::matcher(&opts.includes)?;
    let exc = walk::matcher(&opts.excludes)?;
    let walk::Walk { items, unreadable } =
        walk::Walk::snapshot(repo, &snapshot.tree, inc.as_ref(), exc.as_ref())?;
    std::fs::create_dir_all(target).map_err(|e| Error::io(target, e))?;
    let r = Restorer {
        repo,
        target: target.to_path_buf(),
        progress,
        damaged: Mutex::new(unreadable),
        warnings: Mutex::default(),
    };
    let mut result = RestoreResult::default();
    // Parents before children: each directory is made real before anything goes in.
    for it in items.iter().filter(|i| i.node.kind == NodeKind::Dir) {
        let d = r.dest(&it.path);
        place::real_dir(&d).map_err(|e| Error::io(&d, e))?;
        result.dirs += 1;
    }
    // Hard links: the first path of an inode gets the content, later ones link to it.
    let mut first_of: HashMap<(u64, u64), usize> = HashMap::new();
    let mut links: Vec<(usize, usize)> = Vec::new();
    let mut files: Vec<usize> = Vec::new();
    for (i, it) in items.iter().enumerate() {
        if it.node.kind == NodeKind::File {
            if it.node.links > 1 && it.node.inode != 0 {
                if let Some(&p) = first_of.get(&(it.node.device_id, it.node.inode)) {
                    links.push((i, p));
                    continue;
                }
                first_of.insert((it.node.device_id, it.node.inode), i);
            }
            files.push(i);
        }
    }
    progress
        .total_files
        .store(files.len() as u64, Ordering::Relaxed);
    progress.total_bytes.store(
        files.iter().map(|&i| items[i].node.size).sum(),
        Ordering::Relaxed,
    );
    // Restore waits on the file system more than on the CPU: at least four workers
    // (measured: 2 threads 14 s, 4 threads 6.7 s for the toolchain tree).
    let threads = if opts.threads > 0 {
        opts.threads
    } else {
        crate::saver::worker_threads(0).max(4)
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::Invalid(e.to_string()))?;
    // Files whose content lies in one pack (most small files) are restored pack by pack:
    // one read per pack instead of one per file. Larger files read their own runs.
    let mut by_pack: HashMap<Id, Vec<FileJob>> = HashMap::new();
    let mut own: Vec<FileJob> = Vec::new();
    {
        let idx = repo.index();
        for &i in &files {
            let locs: Vec<(Id, Option<BlobLocation>)> = items[i]
                .node
                .content
                .iter()
                .map(|id| (*id, idx.get(BlobType::Data, id)))
                .collect();
            let one_pack = locs
                .first()
                .and_then(|(_, l)| l.map(|l| l.pack))
                .filter(|p| locs.iter().all(|(_, l)| l.is_some_and(|l| l.pack == *p)));
            match one_pack {
                Some(p) => by_pack.entry(p).or_default().push((i, locs)),
                None => own.push((i, locs)),
            }
        }
    }
    // Files not restored (by their index), whose hard links are not made either.
    let spoiled: Mutex<HashSet<usize>> = Mutex::default();
    let finish_file = |i: usize, outcome: std::result::Result<(), String>| {
        let it = &items[i];
        let dest = r.dest(&it.path);
        match outcome {
            Ok(()) => r.warn(&it.path, apply_metadata(&dest, &it.node)),
            Err(e) => {
                let _ = std::fs::remove_file(&dest);
                spoiled.lock().expect("spoiled").insert(i);
                r.damaged
                    .lock()
                    .expect("damaged")
                    .push(format!("{}: not restored: {e}", it.path.display()));
            }
        }
    };
    pool.install(|| {
        by_pack.par_iter_mut().for_each(|(pack, group)| {
            // Files in pack order, read in windows of at most PACK_WINDOW bytes.
            let span = |locs: &[(Id, Option<BlobLocation>)]| {
                let lo = locs
                    .iter()
                    .map(|(_, l)| l.expect("located").offset as u64)
                    .min()
                    .unwrap_or(0);
                let hi = locs
                    .iter()
                    .map(|(_, l)| {
                        l.map(|l| l.offset as u64 + l.length as u64)
                            .expect("located")
                    })
                    .max()
                    .unwrap_or(0);
                (lo, hi)
            };
            group.sort_by_key(|(_, locs)| span(locs).0);
            let mut start = 0;
            while start < group.len() {
                let (lo, mut hi) = span(&group[start].1);
                let mut end = start + 1;
                while end < group.len() {
                    let (l, h) = span(&group[end].1);
                    if h.max(hi) - lo.min(l) > read_sizes(repo).1 {
                        break;
                    }
                    hi = hi.max(h);
                    end += 1;
                }
                let buf = (hi > lo)
                    .then(|| {
                        repo.storage()
                            .read_range(FileType::Pack, pack, lo, hi - lo)
                            .ok()
                    })
                    .flatten();
                for (i, locs) in &group[start..end] {
                    let pre = buf.as_deref().map(|b| (&*pack, lo, b));
                    finish_file(
                        *i,
                        r.write_file(&r.dest(&items[*i].path), &items[*i].node, locs, pre),
                    );
                }
                start = end;
            }
        });
        own.par_iter().for_each(|(i, locs)| {
            finish_file(
                *i,
                r.write_file(&r.dest(&items[*i].path), &items[*i].node, locs, None),
            );
        });
    });
    let spoiled = spoiled.into_inner().expect("spoiled");
    result.files = (files.len() - spoiled.len()) as u64;
    for (i, p) in links {
        if spoiled.contains(&p) {
            r.damaged.lock().expect("damaged").push(format!(
                "{}: not restored: hard link to {}, which was not restored",
                items[i].path.display(),
                items[p].path.display()
            ));
            continue;
        }
        let (dest, src) = (r.dest(&items[i].path), r.dest(&items[p].path));
        let linked = place::free_name(&dest).and_then(|()| std::fs::hard_link(&src, &dest));
        if let Err(e) = linked {
            r.warn(&items[i].path, vec![format!("hard link: {e}")]);
        }
        result.files += 1;
    }
    for it in items
        .iter()
        .filter(|i| !matches!(i.node.kind, NodeKind::File | NodeKind::Dir))
    {
        let dest = r.dest(&it.path);
        match r.restore_special(&dest, &it.node) {
            Ok(()) => r.warn(&it.path, apply_metadata(&dest, &it.node)),
            Err(e) => r.warn(&it.path, vec![e]),
        }
    }
    // Directories last, deepest first, so their times are not disturbed by children.
    for it in items.iter().rev().filter(|i| i.node.kind == NodeKind::Dir) {
        r.warn(&it.path, apply_metadata(&r.dest(&it.path), &it.node));
    }
    result.bytes = progress.bytes.load(Ordering::Relaxed);
    result.damaged = r.damaged.into_inner().expect("damaged");
    result.warnings = r.warnings.into_inner().expect("warnings");
    result.damaged.sort();
    Ok(result)
}
