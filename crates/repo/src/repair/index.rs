//! `repair index`, as restic's: the index rebuilt from the packs on storage. Packs the
//! readable index describes with the size they have keep their entries; every other
//! pack (not in the index, described only by a damaged index file, or of another size)
//! is described again from its own header. Packs the index lists but storage does not
//! have leave the index. The new index files are durable before the old ones (damaged
//! ones included) are removed; no pack is ever deleted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use crate::check::expected_pack_size;
use crate::error::Result;
use crate::id::Id;
use crate::index::{BlobLocation, IndexPack};
use crate::pack::{parse_header, PackedBlob};
use crate::reindex::replace_index;
use crate::repository::Repository;
use crate::storage::FileType;

/// How much of a pack's end is read at first for its header (restic's packs of small
/// blobs have headers of a few KiB; a longer header costs a second read).
const HEADER_READ: u64 = 64 * 1024;

/// Options of `repair index`.
#[derive(Clone, Copy, Debug, Default)]
pub struct RepairIndexOptions {
    /// Ignore the old index: read every pack in full, index it from its header, and
    /// verify its id and every blob on the way (damaged ones are reported).
    pub read_all_packs: bool,
}

/// What `repair index` found and did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct IndexRepair {
    /// Index files that could not be read (now replaced), with the reason.
    pub index_damaged: Vec<(Id, String)>,
    /// Packs no readable index described, now indexed from their headers.
    pub packs_added: Vec<Id>,
    /// Packs whose size did not match the index, indexed again from their headers.
    pub packs_reindexed: Vec<Id>,
    /// Packs the index listed that are not on storage: no longer in the index.
    pub packs_removed: Vec<Id>,
    /// Packs whose header cannot be read: left on storage, not indexed.
    pub packs_unreadable: Vec<(Id, String)>,
    /// With `read_all_packs`: indexed packs with damaged content, for `repair packs`.
    pub packs_damaged: Vec<(Id, String)>,
    pub packs_indexed: usize,
    pub index_files_written: usize,
    pub index_files_removed: usize,
}

/// Counters for a progress display.
#[derive(Debug, Default)]
pub struct RepairProgress {
    pub packs_read: AtomicU64,
}

/// One pack read for the new index.
enum Read {
    Indexed(Vec<PackedBlob>, Option<String>),
    Unreadable(String),
}

/// Rebuilds the index under the exclusive lock.
pub fn repair_index(
    repo: &Repository,
    opts: RepairIndexOptions,
    progress: &RepairProgress,
) -> Result<IndexRepair> {
    let _lock = repo.lock(true)?;
    let files = repo.index_files()?;
    let mut report = IndexRepair::default();
    let mut old: Vec<Id> = files.readable.iter().map(|(id, _)| *id).collect();
    for d in files.damaged {
        old.push(d.id);
        report.index_damaged.push((d.id, d.error.to_string()));
    }
    let mut described: HashMap<Id, IndexPack> = HashMap::new();
    if !opts.read_all_packs {
        for (_, f) in files.readable {
            for p in f.packs {
                described.entry(p.id).or_insert(p);
            }
        }
    }

    let mut stored = repo.storage().list(FileType::Pack)?;
    stored.sort();
    let mut keep: Vec<IndexPack> = Vec::new();
    let mut to_read: Vec<(Id, u64)> = Vec::new();
    for &(id, size) in &stored {
        match described.remove(&id) {
            Some(p) if expected_pack_size(&p.blobs) == size => keep.push(p),
            Some(_) => {
                report.packs_reindexed.push(id);
                to_read.push((id, size));
            }
            None => {
                if !opts.read_all_packs {
                    report.packs_added.push(id);
                }
                to_read.push((id, size));
            }
        }
    }
    report.packs_removed = described.into_keys().collect();
    report.packs_removed.sort();

    let read: Vec<(Id, Read)> = to_read
        .par_iter()
        .map(|&(id, size)| {
            let r = match opts.read_all_packs {
                true => read_whole(repo, &id),
                false => match read_header(repo, &id, size) {
                    Ok(blobs) => Read::Indexed(blobs, None),
                    Err(e) => Read::Unreadable(e.to_string()),
                },
            };
            progress.packs_read.fetch_add(1, Ordering::Relaxed);
            (id, r)
        })
        .collect();
    for (id, r) in read {
        match r {
            Read::Indexed(blobs, damage) => {
                keep.push(IndexPack::new(id, &blobs));
                if let Some(d) = damage {
                    report.packs_damaged.push((id, d));
                }
            }
            Read::Unreadable(why) => report.packs_unreadable.push((id, why)),
        }
    }
    keep.sort_by_key(|p| p.id);
    report.packs_indexed = keep.len();
    let written = replace_index(repo, keep, &old)?;
    report.index_files_removed = old.iter().filter(|id| !written.contains(id)).count();
    report.index_files_written = written.len();
    Ok(report)
}

/// Reads a pack's header from its end: one read when it fits in [`HEADER_READ`].
pub(crate) fn read_header(repo: &Repository, id: &Id, size: u64) -> Result<Vec<PackedBlob>> {
    let first = size.min(HEADER_READ);
    let mut tail = repo
        .storage()
        .read_range(FileType::Pack, id, size - first, first)?;
    if tail.len() >= 4 {
        let hlen = u32::from_le_bytes(tail[tail.len() - 4..].try_into().expect("4 bytes")) as u64;
        if hlen + 4 > first && hlen + 4 <= size {
            tail = repo
                .storage()
                .read_range(FileType::Pack, id, size - hlen - 4, hlen + 4)?;
        }
    }
    parse_header(repo.key(), id, &tail, size)
}

/// Reads a whole pack: the header says what it holds; its id and every blob are
/// verified, and what does not verify is the damage reported.
fn read_whole(repo: &Repository, id: &Id) -> Read {
    let data = match repo.storage().read(FileType::Pack, id) {
        Ok(d) => d,
        Err(e) => return Read::Unreadable(e.to_string()),
    };
    let blobs = match parse_header(repo.key(), id, &data, data.len() as u64) {
        Ok(b) => b,
        Err(e) => return Read::Unreadable(e.to_string()),
    };
    let mut damage: Vec<String> = Vec::new();
    if Id::hash(&data) != *id {
        damage.push("content does not match its id".into());
    }
    let bad_blobs = blobs
        .par_iter()
        .filter(|b| {
            let loc = BlobLocation {
                pack: *id,
                offset: b.offset,
                length: b.length,
                uncompressed_length: b.uncompressed_length,
            };
            let raw = &data[b.offset as usize..b.offset as usize + b.length as usize];
            repo.decode_blob(&b.id, &loc, raw).is_err()
        })
        .count();
    if bad_blobs > 0 {
        damage.push(format!("{bad_blobs} of {} blobs are damaged", blobs.len()));
    }
    Read::Indexed(blobs, (!damage.is_empty()).then(|| damage.join("; ")))
}
