//! `prune`: removes data no snapshot references, and repacks packs that are mostly
//! unused.
//!
//! Safety rests on restic's locks: prune holds the exclusive lock, so no backup (which
//! holds a shared lock) can add packs or snapshots while it decides what is unused. A
//! lock of a process that died is stale and ignored; that process writes nothing more.
//! The order of work makes every interruption harmless:
//!
//! 1. live blobs of packs to repack are written into new packs (and an index for them);
//! 2. a complete new index is written, then the old index files are deleted;
//! 3. only then are packs deleted.
//!
//! Killed in 1, the repository has extra packs and index entries (duplicates, which
//! `check` accepts); in 2, two index generations describe the same packs; in 3, packs
//! no index mentions. Each state checks clean, and the next prune finishes the job.
//!
//! Prune decides from the whole index or not at all: with an index file it cannot read,
//! packs that file describes would look unused, so it stops and names the file (the
//! remedy is `repair index`). Packs the index lists but storage has lost are dropped
//! from the new index when nothing uses them; when something does, prune stops.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rayon::prelude::*;

use crate::blob::BlobType;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::index::{IndexFile, IndexPack};
use crate::reindex::replace_index;
use crate::repository::Repository;
use crate::saver::BlobSaver;
use crate::storage::FileType;

/// How much unused space prune may leave in partly used packs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MaxUnused {
    /// A share of the repository's used size, in percent (restic's default: 5%).
    Percent(f64),
    Bytes(u64),
    /// Never repack; only delete packs that are entirely unused.
    Unlimited,
}

impl Default for MaxUnused {
    fn default() -> Self {
        MaxUnused::Percent(5.0)
    }
}

impl std::str::FromStr for MaxUnused {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let s = s.trim();
        if s == "unlimited" {
            return Ok(MaxUnused::Unlimited);
        }
        if let Some(p) = s.strip_suffix('%') {
            let v: f64 = p
                .trim()
                .parse()
                .map_err(|_| format!("invalid percentage {s:?}"))?;
            if !(0.0..=100.0).contains(&v) {
                return Err(format!("percentage {s:?} must be between 0 and 100"));
            }
            return Ok(MaxUnused::Percent(v));
        }
        parse_bytes(s).map(MaxUnused::Bytes)
    }
}

/// Parses 1024, 500K, 2M, 3G, 1T (powers of 1024).
pub fn parse_bytes(s: &str) -> std::result::Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let mult: u64 = match unit
        .to_ascii_uppercase()
        .trim_end_matches('B')
        .trim_end_matches('I')
    {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        u => return Err(format!("unknown size unit {u:?} in {s:?}")),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("invalid size {s:?}"))?;
    Ok((n * mult as f64) as u64)
}

#[derive(Clone, Debug, Default)]
pub struct PruneOptions {
    pub max_unused: MaxUnused,
    /// Repack at most this many bytes of packs in one run.
    pub max_repack_size: Option<u64>,
    pub dry_run: bool,
    pub threads: usize,
}

/// What prune will do (or did).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PrunePlan {
    pub packs_total: usize,
    /// Packs whose every blob is unused, and packs no index mentions.
    pub packs_delete: Vec<Id>,
    pub packs_repack: Vec<Id>,
    /// Packs the index lists but storage does not have; no blob in them is used, so
    /// they are dropped from the index.
    pub packs_missing: Vec<Id>,
    pub packs_keep: usize,
    pub blobs_used: u64,
    pub blobs_unused: u64,
    pub bytes_total: u64,
    pub bytes_used: u64,
    pub bytes_unused: u64,
    /// Bytes in packs to repack (read and rewritten).
    pub bytes_repack: u64,
    /// Unused bytes that stay in kept packs after this prune.
    pub bytes_unused_after: u64,
    /// Storage freed: deleted packs plus what repacking leaves behind.
    pub bytes_freed: u64,
    pub index_files: usize,
}

#[derive(Debug, Default)]
pub struct PruneProgress {
    pub packs_repacked: AtomicU64,
    pub packs_deleted: AtomicU64,
    /// The plan's packs to repack and to delete (the repacked ones included), once made.
    pub packs_to_repack: AtomicU64,
    pub packs_to_delete: AtomicU64,
}

struct PackStat {
    size: u64,
    used_bytes: u64,
    unused_bytes: u64,
    used_blobs: u64,
    unused_blobs: u64,
}

/// Every tree and data blob reachable from any snapshot. A snapshot or tree that cannot
/// be read stops prune: deleting data while unsure what is used could lose backups.
fn used_blobs(repo: &Repository) -> Result<HashSet<(BlobType, Id)>> {
    let (snaps, damaged) = repo.load_snapshots()?;
    if let Some(e) = damaged.into_iter().next() {
        return Err(Error::Invalid(format!(
            "refusing to prune: a snapshot cannot be read ({e}); run `bunker check` and remove it with `bunker forget ID` first"
        )));
    }
    let mut used: HashSet<(BlobType, Id)> = HashSet::new();
    let mut todo: Vec<Id> = snaps.iter().map(|s| s.tree).collect();
    while !todo.is_empty() {
        let batch: Vec<Id> = std::mem::take(&mut todo)
            .into_iter()
            .filter(|id| used.insert((BlobType::Tree, *id)))
            .collect();
        let trees: Vec<_> = batch
            .par_iter()
            .map(|id| repo.load_tree(id).map_err(|e| (id, e)))
            .collect();
        for t in trees {
            let tree = t.map_err(|(id, e)| {
                Error::Invalid(format!("refusing to prune: tree {id} cannot be read: {e}"))
            })?;
            for n in tree.nodes {
                used.extend(n.content.into_iter().map(|id| (BlobType::Data, id)));
                todo.extend(n.subtree);
            }
        }
    }
    Ok(used)
}

/// A plan with what carrying it out needs: every indexed pack's blobs, and which
/// (type, id) copies are the live ones.
struct Planned {
    plan: PrunePlan,
    packs: HashMap<Id, IndexPack>,
    keeper: HashSet<(BlobType, Id)>,
}

/// Decides what to delete and what to repack. Needs the exclusive lock held.
fn make_plan(
    repo: &Repository,
    opts: &PruneOptions,
    index_files: &[(Id, IndexFile)],
) -> Result<Planned> {
    let used = used_blobs(repo)?;
    let stored: HashMap<Id, u64> = repo.storage().list(FileType::Pack)?.into_iter().collect();
    // Each used blob is kept in exactly one pack (the first that has it); other copies
    // are unused duplicates.
    let mut packs: HashMap<Id, IndexPack> = HashMap::new();
    for (_, f) in index_files {
        for p in &f.packs {
            packs.entry(p.id).or_insert_with(|| p.clone());
        }
    }
    let mut keeper: HashSet<(BlobType, Id)> = HashSet::new();
    let mut stats: HashMap<Id, PackStat> = HashMap::new();
    let mut ids: Vec<&Id> = packs.keys().collect();
    ids.sort();
    for pid in ids {
        let Some(&size) = stored.get(pid) else {
            continue;
        };
        let mut st = PackStat {
            size,
            used_bytes: 0,
            unused_bytes: 0,
            used_blobs: 0,
            unused_blobs: 0,
        };
        for b in &packs[pid].blobs {
            let h = (b.blob_type, b.id);
            if used.contains(&h) && keeper.insert(h) {
                st.used_bytes += b.length as u64;
                st.used_blobs += 1;
            } else {
                st.unused_bytes += b.length as u64;
                st.unused_blobs += 1;
            }
        }
        stats.insert(*pid, st);
    }
    if let Some(missing) = used.iter().find(|h| !keeper.contains(h)) {
        return Err(Error::Invalid(format!(
            "refusing to prune: {:?} blob {} is used but in no pack on storage; run `bunker check`, and `bunker repair index` then `bunker repair snapshots` if it is lost",
            missing.0, missing.1
        )));
    }
    let mut plan = PrunePlan {
        packs_total: stored.len(),
        index_files: index_files.len(),
        ..Default::default()
    };
    for (pid, &size) in &stored {
        plan.bytes_total += size;
        match stats.get(pid) {
            None => plan.packs_delete.push(*pid),
            Some(st) if st.used_blobs == 0 => plan.packs_delete.push(*pid),
            Some(_) => {}
        }
    }
    for st in stats.values() {
        plan.blobs_used += st.used_blobs;
        plan.blobs_unused += st.unused_blobs;
        plan.bytes_used += st.used_bytes;
        plan.bytes_unused += st.unused_bytes;
    }
    // Partly used packs, most wasteful first, are repacked until what stays unused is
    // within the limit.
    let mut partial: Vec<(&Id, &PackStat)> = stats
        .iter()
        .filter(|(_, s)| s.used_blobs > 0 && s.unused_blobs > 0)
        .collect();
    partial.sort_by(|a, b| {
        let ra = a.1.unused_bytes as f64 / a.1.size as f64;
        let rb = b.1.unused_bytes as f64 / b.1.size as f64;
        rb.partial_cmp(&ra)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.0.cmp(b.0))
    });
    let mut unused_left: u64 = partial.iter().map(|(_, s)| s.unused_bytes).sum();
    let allowed = match opts.max_unused {
        MaxUnused::Percent(p) => (plan.bytes_used as f64 * p / 100.0) as u64,
        MaxUnused::Bytes(b) => b,
        MaxUnused::Unlimited => u64::MAX,
    };
    for (pid, st) in partial {
        if unused_left <= allowed {
            break;
        }
        if let Some(limit) = opts.max_repack_size {
            if plan.bytes_repack + st.size > limit {
                continue;
            }
        }
        plan.packs_repack.push(*pid);
        plan.bytes_repack += st.size;
        unused_left -= st.unused_bytes;
    }
    plan.bytes_unused_after = unused_left;
    let repack_used: u64 = plan.packs_repack.iter().map(|p| stats[p].used_bytes).sum();
    plan.bytes_freed =
        plan.packs_delete.iter().map(|p| stored[p]).sum::<u64>() + plan.bytes_repack - repack_used;
    plan.packs_keep = plan.packs_total - plan.packs_delete.len() - plan.packs_repack.len();
    plan.packs_missing = packs
        .keys()
        .filter(|id| !stored.contains_key(id))
        .copied()
        .collect();
    plan.packs_delete.sort();
    plan.packs_repack.sort();
    plan.packs_missing.sort();
    Ok(Planned {
        plan,
        packs,
        keeper,
    })
}

/// Plans and, unless `dry_run`, carries out a prune. Returns the plan.
pub fn prune(
    repo: &Arc<Repository>,
    opts: &PruneOptions,
    progress: &PruneProgress,
) -> Result<PrunePlan> {
    let _lock = repo.lock(true)?;
    let index_files = repo.index_files()?.whole()?;
    let Planned {
        plan,
        packs,
        keeper,
    } = make_plan(repo, opts, &index_files)?;
    if opts.dry_run {
        return Ok(plan);
    }
    progress
        .packs_to_repack
        .store(plan.packs_repack.len() as u64, Ordering::Relaxed);
    progress.packs_to_delete.store(
        (plan.packs_delete.len() + plan.packs_repack.len()) as u64,
        Ordering::Relaxed,
    );
    let threads = crate::saver::worker_threads(opts.threads);

    // 1. Live blobs out of the packs to repack.
    if !plan.packs_repack.is_empty() {
        let saver = BlobSaver::for_repack(repo.clone(), threads);
        // Packs are read and their live blobs verified in parallel; the saver packs and
        // writes behind.
        plan.packs_repack
            .par_iter()
            .try_for_each(|pid| -> Result<()> {
                let data = repo.storage().read(FileType::Pack, pid)?;
                for b in &packs[pid].blobs {
                    if !keeper.contains(&(b.blob_type, b.id)) {
                        continue;
                    }
                    let loc = crate::index::BlobLocation {
                        pack: *pid,
                        offset: b.offset,
                        length: b.length,
                        uncompressed_length: b.uncompressed_length,
                    };
                    let end = b.offset as usize + b.length as usize;
                    let raw = data
                        .get(b.offset as usize..end)
                        .ok_or_else(|| Error::corrupt("pack", pid, "blob past the end"))?;
                    // Verified (MAC, decompression, hash), then moved as it is.
                    repo.decode_blob(&b.id, &loc, raw)?;
                    saver.save_sealed(b.blob_type, b.id, raw.to_vec(), b.uncompressed_length)?;
                }
                progress.packs_repacked.fetch_add(1, Ordering::Relaxed);
                Ok(())
            })?;
        saver.finish()?;
    }

    // 2. A complete new index: every pack that stays, including the new ones.
    let gone: HashSet<Id> = plan
        .packs_delete
        .iter()
        .chain(&plan.packs_repack)
        .copied()
        .collect();
    let missing: HashSet<&Id> = plan.packs_missing.iter().collect();
    let current = repo.index_files()?.whole()?;
    let mut seen: HashSet<Id> = HashSet::new();
    let mut keep: Vec<IndexPack> = Vec::new();
    for (_, f) in &current {
        for p in &f.packs {
            let dropped = gone.contains(&p.id) || missing.contains(&p.id);
            if !dropped && seen.insert(p.id) {
                keep.push(p.clone());
            }
        }
    }
    let old: Vec<Id> = current.iter().map(|(id, _)| *id).collect();
    replace_index(repo, keep, &old)?;

    // 3. Only now, with no index pointing at them, the packs go.
    for pid in &gone {
        repo.storage().remove(FileType::Pack, pid)?;
        progress.packs_deleted.fetch_add(1, Ordering::Relaxed);
    }
    Ok(plan)
}
