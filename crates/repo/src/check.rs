//! `check`: the repository's structure (every index, pack, snapshot and tree, every
//! referenced blob present) and, with `read_data`, every byte of the selected packs.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;

use crate::crypto::OVERHEAD;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::index::{IndexBlob, IndexFile};
use crate::pack::{parse_header, BlobType};
use crate::repository::Repository;
use crate::storage::FileType;

/// Which packs `check` reads in full.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum ReadData {
    #[default]
    None,
    All,
    /// Group `n` of `m` (1-based), by the first byte of the pack id, as restic does.
    Subset(u32, u32),
    /// A random share of the packs, in percent.
    Percent(f64),
}

impl std::str::FromStr for ReadData {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<ReadData, String> {
        if let Some(p) = s.strip_suffix('%') {
            let v: f64 = p.parse().map_err(|_| format!("invalid percentage {s:?}"))?;
            if !(v > 0.0 && v <= 100.0) {
                return Err(format!("percentage {s:?} must be in (0, 100]"));
            }
            return Ok(ReadData::Percent(v));
        }
        let (n, m) = s
            .split_once('/')
            .ok_or_else(|| format!("invalid subset {s:?}: use n/m or p%"))?;
        let (n, m): (u32, u32) = (
            n.parse().map_err(|_| format!("invalid subset {s:?}"))?,
            m.parse().map_err(|_| format!("invalid subset {s:?}"))?,
        );
        if n == 0 || m == 0 || n > m || m > 256 {
            return Err(format!("invalid subset {s:?}: need 1 <= n <= m <= 256"));
        }
        Ok(ReadData::Subset(n, m))
    }
}

#[derive(Debug, Default)]
pub struct CheckProgress {
    pub packs_read: AtomicU64,
    pub bytes_read: AtomicU64,
}

#[derive(Debug, Default)]
pub struct CheckReport {
    pub errors: Vec<String>,
    /// Not damage: packs no index mentions (a backup was interrupted), and the like.
    pub warnings: Vec<String>,
    pub snapshots: usize,
    pub trees: usize,
    pub packs: usize,
    pub packs_read: usize,
}

impl CheckReport {
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

fn expected_pack_size(blobs: &[IndexBlob]) -> u64 {
    let data: u64 = blobs.iter().map(|b| b.length as u64).sum();
    let header: u64 = blobs
        .iter()
        .map(|b| if b.uncompressed_length != 0 { 41 } else { 37 })
        .sum();
    data + header + OVERHEAD as u64 + 4
}

/// Checks the repository; damage is reported in the result, not as an `Err`.
pub fn check(repo: &Repository, read: ReadData, progress: &CheckProgress) -> Result<CheckReport> {
    let _lock = repo.lock(false)?;
    // Snapshots first, then the index: a snapshot a concurrent backup writes later is
    // not checked, rather than checked against an index that predates it.
    let snapshots = repo.storage().list(FileType::Snapshot)?;
    let mut report = CheckReport::default();
    let errors = Mutex::new(Vec::<String>::new());
    let err = |m: String| errors.lock().expect("errors").push(m);

    // Index files, one by one, so that one damaged file is named and the rest still load.
    let mut packs: HashMap<Id, Vec<IndexBlob>> = HashMap::new();
    let index_files = repo.storage().list(FileType::Index)?;
    let loaded: Vec<(Id, Result<IndexFile>)> = index_files
        .par_iter()
        .map(|(id, _)| (*id, repo.load_json::<IndexFile>(FileType::Index, id)))
        .collect();
    for (id, f) in loaded {
        match f {
            Ok(f) => {
                for p in f.packs {
                    packs.entry(p.id).or_insert(p.blobs);
                }
            }
            Err(e) => err(format!("index {id}: {e}")),
        }
    }
    repo.load_index().or_else(|e| match e {
        Error::Corrupt { .. } => Ok(()),
        e => Err(e),
    })?;

    // Packs on storage against packs in the index.
    let stored: HashMap<Id, u64> = repo.storage().list(FileType::Pack)?.into_iter().collect();
    report.packs = stored.len();
    for (id, blobs) in &packs {
        match stored.get(id) {
            None => err(format!(
                "pack {id}: listed in the index but missing from storage"
            )),
            Some(&size) if size != expected_pack_size(blobs) => err(format!(
                "pack {id}: size {size} does not match the index (expected {})",
                expected_pack_size(blobs)
            )),
            _ => {}
        }
    }
    for id in stored.keys().filter(|id| !packs.contains_key(id)) {
        report.warnings.push(format!("pack {id}: not referenced by any index (left by an interrupted run; `prune` removes it)"));
    }

    // The tree walk and the pack reads are independent: run them side by side.
    let walk = || -> Result<(usize, usize)> {
        let mut trees = 0usize;
        let mut todo: Vec<(Id, String)> = Vec::new();
        for (id, _) in &snapshots {
            match repo.load_json::<crate::snapshot::Snapshot>(FileType::Snapshot, id) {
                Ok(s) => todo.push((s.tree, format!("snapshot {}", id.short()))),
                Err(e) => err(format!("snapshot {id}: {e}")),
            }
        }
        let mut seen: HashSet<Id> = HashSet::new();
        while !todo.is_empty() {
            let batch: Vec<(Id, String)> = std::mem::take(&mut todo)
                .into_iter()
                .filter(|(id, _)| seen.insert(*id))
                .collect();
            let results: Vec<_> = batch
                .par_iter()
                .map(|(id, at)| (id, at, repo.load_tree(id)))
                .collect();
            for (id, at, tree) in results {
                trees += 1;
                let tree = match tree {
                    Ok(t) => t,
                    Err(e) => {
                        err(format!("tree {id} (in {at}): {e}"));
                        continue;
                    }
                };
                let idx = repo.index();
                for n in &tree.nodes {
                    for blob in &n.content {
                        if !idx.has(BlobType::Data, blob) {
                            err(format!(
                                "data blob {blob} of {at}/{}: not in any index",
                                n.name_lossy()
                            ));
                        }
                    }
                    if let Some(sub) = n.subtree {
                        todo.push((sub, format!("{at}/{}", n.name_lossy())));
                    }
                }
            }
        }

        Ok((snapshots.len(), trees))
    };
    let read_packs = || {
        let selected: Vec<(&Id, &Vec<IndexBlob>)> = packs
            .iter()
            .filter(|(id, _)| stored.contains_key(*id))
            .filter(|(id, _)| match read {
                ReadData::None => false,
                ReadData::All => true,
                ReadData::Subset(n, m) => id.0[0] as u32 % m == n - 1,
                ReadData::Percent(p) => rand::random::<f64>() * 100.0 < p,
            })
            .collect();
        selected.par_iter().for_each(|(id, blobs)| {
            if let Err(m) = read_pack(repo, id, blobs) {
                err(m);
            }
            progress.packs_read.fetch_add(1, Ordering::Relaxed);
        });
        selected.len()
    };
    let (walked, packs_read) = rayon::join(walk, read_packs);
    (report.snapshots, report.trees) = walked?;
    report.packs_read = packs_read;
    report.errors = errors.into_inner().expect("errors");
    report.errors.sort();
    Ok(report)
}

/// Reads one pack and verifies its id, its header against the index and every blob.
fn read_pack(
    repo: &Repository,
    id: &Id,
    index_blobs: &[IndexBlob],
) -> std::result::Result<(), String> {
    let data = repo
        .storage()
        .read(FileType::Pack, id)
        .map_err(|e| format!("pack {id}: {e}"))?;
    // The pack's own hash and its blobs are checked side by side, blobs in parallel,
    // so that a few large packs keep every core busy to the end.
    let (hash_ok, blob_problems) = rayon::join(
        || Id::hash(&data) == *id,
        || -> Vec<String> {
            index_blobs
                .par_iter()
                .filter_map(|b| {
                    let (start, end) = (b.offset as usize, b.offset as usize + b.length as usize);
                    if end > data.len() {
                        return Some(format!(
                            "pack {id}: blob {}: extends past the end of the pack",
                            b.id
                        ));
                    }
                    let loc = crate::index::BlobLocation {
                        pack: *id,
                        offset: b.offset,
                        length: b.length,
                        uncompressed_length: b.uncompressed_length,
                    };
                    repo.decode_blob(&b.id, &loc, &data[start..end])
                        .err()
                        .map(|e| format!("pack {id}: blob {} ({:?}): {e}", b.id, b.blob_type))
                })
                .collect()
        },
    );
    let mut problems = Vec::new();
    if !hash_ok {
        problems.push(format!("pack {id}: content does not match its id"));
    }
    match parse_header(repo.key(), id, &data, data.len() as u64) {
        Ok(header) => {
            let mut h: Vec<_> = header.iter().map(|b| (b.id, b.offset, b.length)).collect();
            let mut x: Vec<_> = index_blobs
                .iter()
                .map(|b| (b.id, b.offset, b.length))
                .collect();
            h.sort();
            x.sort();
            if h != x {
                problems.push(format!("pack {id}: header does not match the index"));
            }
        }
        Err(e) => problems.push(format!("pack {id}: {e}")),
    }
    problems.extend(blob_problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}
