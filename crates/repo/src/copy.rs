//! `copy`: snapshots from one repository into another (the runbooks' "secondary
//! location"). Blobs the destination already has are skipped. When both repositories
//! chunk with the same polynomial, trees and blobs keep their ids and are only
//! re-encrypted; when the polynomials differ, file contents are re-chunked with the
//! destination's so that they deduplicate there, and trees are rewritten.

use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::blob::BlobType;
use crate::chunker::Chunker;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::repository::Repository;
use crate::saver::BlobSaver;
use crate::snapshot::Snapshot;
use crate::storage::FileType;
use crate::tree::{NodeKind, Tree};

/// What a copy did.
#[derive(Debug, Default)]
pub struct CopyReport {
    /// (source id, destination id) of each snapshot copied.
    pub copied: Vec<(Id, Id)>,
    /// Source snapshots the destination already had.
    pub skipped: Vec<Id>,
    pub rechunked: bool,
}

/// Live counters of a copy, read by progress displays.
#[derive(Debug, Default)]
pub struct CopyProgress {
    /// Snapshots whose data is copied, of those the destination lacks.
    pub snapshots: AtomicU64,
    pub total_snapshots: AtomicU64,
    /// File content read from the source and stored in the destination.
    pub bytes: AtomicU64,
}

/// Reads a file's content blob by blob from the source repository.
struct ContentReader<'a> {
    repo: &'a Repository,
    blobs: std::slice::Iter<'a, Id>,
    current: Vec<u8>,
    pos: usize,
}

impl Read for ContentReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.current.len() {
            let Some(id) = self.blobs.next() else {
                return Ok(0);
            };
            self.current = self
                .repo
                .read_blob(BlobType::Data, id)
                .map_err(std::io::Error::other)?;
            self.pos = 0;
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

struct Copier<'a> {
    src: &'a Repository,
    dst: &'a Repository,
    saver: BlobSaver,
    rechunk: bool,
    /// Source tree id → destination tree id (identity without re-chunking).
    trees: Mutex<HashMap<Id, Id>>,
    progress: &'a CopyProgress,
}

impl Copier<'_> {
    fn copy_tree(&self, id: &Id) -> Result<Id> {
        if let Some(done) = self.trees.lock().expect("trees").get(id) {
            return Ok(*done);
        }
        if !self.rechunk && self.dst.index().has(BlobType::Tree, id) {
            // A tree the destination has comes with everything below it.
            return Ok(*id);
        }
        let raw = self.src.read_blob(BlobType::Tree, id)?;
        let mut tree =
            Tree::from_blob(&raw).map_err(|e| Error::corrupt("tree", id, e.to_string()))?;
        for node in &mut tree.nodes {
            if let Some(sub) = node.subtree {
                node.subtree = Some(self.copy_tree(&sub)?);
            }
            if node.kind != NodeKind::File {
                continue;
            }
            if self.rechunk {
                let rd = ContentReader {
                    repo: self.src,
                    blobs: node.content.iter(),
                    current: Vec::new(),
                    pos: 0,
                };
                let mut chunker = Chunker::new(rd, self.dst.chunker_tables(), Some(node.size));
                let mut content = Vec::new();
                let mut buf = Vec::new();
                while chunker.next_chunk(&mut buf).map_err(|e| {
                    Error::Invalid(format!("re-chunking {}: {e}", node.name_lossy()))
                })? {
                    self.progress
                        .bytes
                        .fetch_add(buf.len() as u64, Ordering::Relaxed);
                    let (cid, _) = self.saver.save(BlobType::Data, std::mem::take(&mut buf))?;
                    content.push(cid);
                }
                node.content = content;
            } else {
                for blob in &node.content {
                    if !self.dst.index().has(BlobType::Data, blob) {
                        let data = self.src.read_blob(BlobType::Data, blob)?;
                        self.progress
                            .bytes
                            .fetch_add(data.len() as u64, Ordering::Relaxed);
                        self.saver.save_with_id(BlobType::Data, *blob, data)?;
                    }
                }
            }
        }
        let new_id = if self.rechunk {
            tree.sort();
            self.saver.save(BlobType::Tree, tree.to_blob())?.0
        } else {
            // Same bytes, same id: restic's tree encoding and ours may differ, so the
            // original bytes are stored.
            self.saver.save_with_id(BlobType::Tree, *id, raw)?;
            *id
        };
        self.trees.lock().expect("trees").insert(*id, new_id);
        Ok(new_id)
    }
}

/// The id a snapshot descends from: its `original`, or itself.
fn lineage(s: &Snapshot) -> Id {
    s.original.unwrap_or(s.id)
}

/// Copies `snapshots` of `src` into `dst`, skipping those `dst` already has a copy of.
pub fn copy(
    src: &Repository,
    dst: Arc<Repository>,
    snapshots: &[Snapshot],
    threads: usize,
    progress: &CopyProgress,
) -> Result<CopyReport> {
    let _src_lock = src.lock(false)?;
    let _dst_lock = dst.lock(false)?;
    src.load_index()?;
    dst.load_index()?;
    let have: std::collections::HashSet<Id> = dst.snapshots()?.iter().map(lineage).collect();
    let rechunk = src.polynomial() != dst.polynomial();
    let threads = crate::saver::worker_threads(threads);
    let copier = Copier {
        src,
        dst: &dst,
        saver: BlobSaver::new(dst.clone(), threads, dst.storage().connections()),
        rechunk,
        trees: Mutex::default(),
        progress,
    };
    let mut report = CopyReport {
        rechunked: rechunk,
        ..Default::default()
    };
    let mut pending = Vec::new();
    let todo = snapshots
        .iter()
        .filter(|s| !have.contains(&lineage(s)))
        .count();
    progress
        .total_snapshots
        .store(todo as u64, Ordering::Relaxed);
    for s in snapshots {
        if have.contains(&lineage(s)) {
            report.skipped.push(s.id);
            continue;
        }
        let tree = copier.copy_tree(&s.tree)?;
        progress.snapshots.fetch_add(1, Ordering::Relaxed);
        pending.push((s, tree));
    }
    // Data and index first; snapshots only once all they refer to is durable.
    copier.saver.finish()?;
    for (s, tree) in pending {
        let mut copy = s.clone();
        copy.tree = tree;
        copy.original = Some(lineage(s));
        copy.parent = None;
        let id = dst.save_json(FileType::Snapshot, &copy)?;
        report.copied.push((s.id, id));
    }
    Ok(report)
}
