//! `check`: the repository's structure (every index, pack, snapshot and tree, every
//! referenced blob present, bunker's own objects listed) and, with `read_data`, every
//! byte of the selected packs and objects.
//!
//! Damage is reported with what is known and the repair that mends it: a pack no index
//! mentions may be left by an interrupted backup, or be one a damaged or lost index
//! file described; `check` never calls data garbage because the index failed to
//! describe it.

mod objects;
mod packs;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;

use crate::blob::BlobType;
use crate::error::Result;
use crate::id::Id;
use crate::index::IndexBlob;
use crate::repository::Repository;
use crate::storage::FileType;

pub(crate) use packs::expected_pack_size;

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

impl ReadData {
    /// Whether the file with this id (a pack's, or the hash of an object's path) is
    /// read in full.
    pub(crate) fn selects(self, id: &Id) -> bool {
        match self {
            ReadData::None => false,
            ReadData::All => true,
            ReadData::Subset(n, m) => id.0[0] as u32 % m == n - 1,
            ReadData::Percent(p) => rand::random::<f64>() * 100.0 < p,
        }
    }
}

#[derive(Debug, Default)]
pub struct CheckProgress {
    pub packs_read: AtomicU64,
    pub bytes_read: AtomicU64,
    /// bunker's own objects (WAL segments, drill reports, audit events) read.
    pub objects_read: AtomicU64,
    /// What `--read-data` will read: packs and their stored bytes.
    pub packs_total: AtomicU64,
    pub bytes_total: AtomicU64,
}

#[derive(Debug, Default)]
pub struct CheckReport {
    pub errors: Vec<String>,
    /// Not damage: packs no index mentions (a backup was interrupted), and the like.
    pub warnings: Vec<String>,
    /// The repairs that mend what was found, in the order to run them.
    pub remedies: Vec<String>,
    pub snapshots: usize,
    pub trees: usize,
    pub packs: usize,
    pub packs_read: usize,
    /// bunker's own objects listed, and read in full.
    pub objects: usize,
    pub objects_read: usize,
}

impl CheckReport {
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Kinds of damage found, for choosing the remedies.
#[derive(Default)]
struct Found {
    damaged_index: bool,
    index_mismatch: bool,
    unindexed_packs: bool,
    damaged_packs: BTreeSet<Id>,
    snapshot_damage: bool,
}

/// Checks the repository; damage is reported in the result, not as an `Err`.
pub fn check(repo: &Repository, read: ReadData, progress: &CheckProgress) -> Result<CheckReport> {
    let _lock = repo.lock(false)?;
    // Snapshots first, then the index: a snapshot a concurrent backup writes later is
    // not checked, rather than checked against an index that predates it.
    let snapshots = repo.storage().list(FileType::Snapshot)?;
    let mut report = CheckReport::default();
    let mut found = Found::default();
    let errors = Mutex::new(Vec::<String>::new());
    let err = |m: String| errors.lock().expect("errors").push(m);

    // Every index file, one by one: a damaged file is named and the rest still load.
    let index_files = repo.index_files()?;
    found.damaged_index = !index_files.damaged.is_empty();
    for d in index_files.damaged {
        err(d.into_error().to_string());
    }
    let mut packs: HashMap<Id, Vec<IndexBlob>> = HashMap::new();
    for (_, f) in index_files.readable {
        for p in f.packs {
            packs.entry(p.id).or_insert(p.blobs);
        }
    }

    // Packs on storage against packs in the index.
    let stored: HashMap<Id, u64> = repo.storage().list(FileType::Pack)?.into_iter().collect();
    report.packs = stored.len();
    for (id, blobs) in &packs {
        let expected = expected_pack_size(blobs);
        match stored.get(id) {
            None => err(format!(
                "pack {id}: listed in the index but missing from storage"
            )),
            Some(&size) if size != expected => err(format!(
                "pack {id}: size {size} does not match the index (expected {expected})"
            )),
            _ => continue,
        }
        found.index_mismatch = true;
    }
    let mut unindexed: Vec<&Id> = stored.keys().filter(|id| !packs.contains_key(id)).collect();
    unindexed.sort();
    found.unindexed_packs = !unindexed.is_empty();
    for id in unindexed {
        report.warnings.push(if found.damaged_index {
            format!("pack {id}: not in any readable index; a damaged index file may describe it, and `bunker repair index` reads its header to index it again")
        } else {
            format!("pack {id}: not in any index (an interrupted backup leaves such packs, and so does a lost index file; `bunker repair index` indexes what it holds)")
        });
    }

    // The tree walk, the pack reads and bunker's objects are independent: run them
    // side by side.
    let walk = || -> (usize, usize, bool) {
        let mut trees = 0usize;
        let mut damage = false;
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
                .map(|(id, at)| {
                    // Not through `read_blob`: it would reload the index and report
                    // a damaged index file instead of the missing tree.
                    let tree = match repo.index().has(BlobType::Tree, id) {
                        true => repo.load_tree(id).map_err(|e| e.to_string()),
                        false => Err("not in any index".to_string()),
                    };
                    (id, at, tree)
                })
                .collect();
            for (id, at, tree) in results {
                trees += 1;
                let tree = match tree {
                    Ok(t) => t,
                    Err(e) => {
                        err(format!("tree {id} (in {at}): {e}"));
                        damage = true;
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
                            damage = true;
                        }
                    }
                    if let Some(sub) = n.subtree {
                        todo.push((sub, format!("{at}/{}", n.name_lossy())));
                    }
                }
            }
        }
        (snapshots.len(), trees, damage)
    };
    let read_packs = || {
        let selected: Vec<(&Id, &Vec<IndexBlob>)> = packs
            .iter()
            .filter(|(id, _)| stored.contains_key(*id) && read.selects(id))
            .collect();
        progress
            .packs_total
            .store(selected.len() as u64, Ordering::Relaxed);
        progress.bytes_total.store(
            selected.iter().map(|(id, _)| stored[*id]).sum(),
            Ordering::Relaxed,
        );
        let damaged: Vec<Id> = selected
            .par_iter()
            .filter_map(|(id, blobs)| {
                let problems = packs::read_pack(repo, id, blobs);
                progress.packs_read.fetch_add(1, Ordering::Relaxed);
                progress
                    .bytes_read
                    .fetch_add(stored[*id], Ordering::Relaxed);
                if problems.is_empty() {
                    return None;
                }
                problems.into_iter().for_each(&err);
                Some(**id)
            })
            .collect();
        (selected.len(), damaged)
    };
    let mut warnings = Vec::new();
    let objects = || objects::check_objects(repo, read, progress, &err, &mut warnings);
    let (walked, (read_packs, objects)) = rayon::join(walk, || rayon::join(read_packs, objects));
    let objects = objects?;
    (report.snapshots, report.trees, found.snapshot_damage) = walked;
    (report.packs_read, found.damaged_packs) = (read_packs.0, read_packs.1.into_iter().collect());
    (report.objects, report.objects_read) = (objects.listed, objects.read);
    report.warnings.extend(warnings);
    report.errors = errors.into_inner().expect("errors");
    report.errors.sort();
    report.remedies = found.remedies();
    Ok(report)
}

impl Found {
    /// restic's order of repairs: the index first (everything else reads it), then
    /// damaged packs, then the snapshots that still refer to what is lost.
    fn remedies(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.damaged_index
            || self.index_mismatch
            || (self.unindexed_packs && self.snapshot_damage)
        {
            out.push("`bunker repair index`: rebuild the index from the packs' headers (nothing is deleted but index files it replaces)".to_string());
        }
        if !self.damaged_packs.is_empty() {
            let ids: Vec<String> = self.damaged_packs.iter().map(Id::to_hex).collect();
            out.push(format!(
                "`bunker repair packs {}`: move the readable blobs of the damaged packs into new ones",
                ids.join(" ")
            ));
        }
        if self.snapshot_damage || !self.damaged_packs.is_empty() {
            out.push(match out.is_empty() {
                true => "`bunker repair snapshots --forget`: rewrite the snapshots without what cannot be read (that part is lost)".to_string(),
                false => "then `bunker check`; if snapshots still refer to what cannot be read, `bunker repair snapshots --forget` rewrites them without it (that part is lost)".to_string(),
            });
        }
        out
    }
}
