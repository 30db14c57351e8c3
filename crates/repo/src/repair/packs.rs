//! `repair packs ID...`, as restic's: the blobs of damaged packs that still verify are
//! written into new packs, the damaged packs leave the index, and only then are they
//! deleted. A copy of each damaged pack is kept outside the repository first (restic
//! saves them in the current directory), so that nothing is lost that a later, better
//! tool could still read. A blob that does not verify is taken from another pack that
//! holds it, or reported lost; `repair snapshots` then rewrites what refers to it.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::blob::BlobType;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::index::{BlobLocation, IndexBlob, IndexPack};
use crate::reindex::replace_index;
use crate::repository::Repository;
use crate::saver::{worker_threads, BlobSaver};
use crate::storage::FileType;

/// What `repair packs` did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PackRepair {
    /// Blobs of the damaged packs that verified, now in new packs.
    pub blobs_salvaged: u64,
    /// Blobs that did not verify, but another pack holds an intact copy.
    pub blobs_elsewhere: u64,
    /// Blobs that did not verify and that no other pack holds.
    pub blobs_lost: Vec<(BlobType, Id)>,
    /// The damaged packs, removed from the index and from storage.
    pub packs_removed: Vec<Id>,
    /// Copies of the damaged packs, as they were on storage.
    pub copies: Vec<PathBuf>,
}

/// Salvages the packs `ids` under the exclusive lock; with `copy_to`, a copy of each
/// goes there first (`pack-ID`).
pub fn repair_packs(
    repo: &Arc<Repository>,
    ids: &[Id],
    copy_to: Option<&Path>,
    threads: usize,
) -> Result<PackRepair> {
    let _lock = repo.lock(true)?;
    let files = repo.index_files()?.whole()?;
    let damaged_packs: HashSet<Id> = ids.iter().copied().collect();
    let mut blobs_of: HashMap<Id, Vec<IndexBlob>> = HashMap::new();
    for (_, f) in &files {
        for p in &f.packs {
            if damaged_packs.contains(&p.id) {
                blobs_of.entry(p.id).or_insert_with(|| p.blobs.clone());
            }
        }
    }
    if let Some(id) = ids.iter().find(|id| !blobs_of.contains_key(id)) {
        return Err(Error::UnindexedPack { id: id.to_hex() });
    }

    let mut report = PackRepair::default();
    let saver = BlobSaver::for_repack(repo.clone(), worker_threads(threads));
    let mut unreadable: Vec<(BlobType, Id)> = Vec::new();
    let mut salvaged: HashSet<(BlobType, Id)> = HashSet::new();
    for id in ids {
        let data = match repo.storage().read(FileType::Pack, id) {
            Ok(d) => Some(d),
            Err(Error::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        if let (Some(dir), Some(data)) = (copy_to, &data) {
            report.copies.push(save_copy(dir, id, data)?);
        }
        for b in &blobs_of[id] {
            let loc = location(id, b);
            let raw = data
                .as_deref()
                .and_then(|d| d.get(b.offset as usize..b.offset as usize + b.length as usize));
            match raw.filter(|raw| repo.decode_blob(&b.id, &loc, raw).is_ok()) {
                Some(raw) => {
                    // Verified, then moved as it is (each blob is sealed on its own).
                    saver.save_sealed(b.blob_type, b.id, raw.to_vec(), b.uncompressed_length)?;
                    report.blobs_salvaged += 1;
                    salvaged.insert((b.blob_type, b.id));
                }
                None => unreadable.push((b.blob_type, b.id)),
            }
        }
    }
    saver.finish()?;
    // A blob damaged in one of the packs may have verified in another of them.
    unreadable.retain(|h| !salvaged.contains(h));
    unreadable.sort();
    unreadable.dedup();

    // Blobs the damaged packs could not give: another intact copy keeps them.
    let wanted: HashSet<(BlobType, Id)> = unreadable.iter().copied().collect();
    let mut elsewhere: HashMap<(BlobType, Id), Vec<BlobLocation>> = HashMap::new();
    for (_, f) in &files {
        for p in f.packs.iter().filter(|p| !damaged_packs.contains(&p.id)) {
            for b in p
                .blobs
                .iter()
                .filter(|b| wanted.contains(&(b.blob_type, b.id)))
            {
                elsewhere
                    .entry((b.blob_type, b.id))
                    .or_default()
                    .push(location(&p.id, b));
            }
        }
    }
    for (t, id) in unreadable {
        let intact = elsewhere.get(&(t, id)).into_iter().flatten().any(|loc| {
            repo.storage()
                .read_range(
                    FileType::Pack,
                    &loc.pack,
                    loc.offset as u64,
                    loc.length as u64,
                )
                .and_then(|raw| repo.decode_blob(&id, loc, &raw))
                .is_ok()
        });
        match intact {
            true => report.blobs_elsewhere += 1,
            false => report.blobs_lost.push((t, id)),
        }
    }

    // The index without the damaged packs (with the new ones the saver indexed), then
    // the damaged packs go.
    let current = repo.index_files()?.whole()?;
    let mut seen: HashSet<Id> = HashSet::new();
    let keep: Vec<IndexPack> = current
        .iter()
        .flat_map(|(_, f)| &f.packs)
        .filter(|p| !damaged_packs.contains(&p.id) && seen.insert(p.id))
        .cloned()
        .collect();
    let old: Vec<Id> = current.iter().map(|(id, _)| *id).collect();
    replace_index(repo, keep, &old)?;
    for id in ids {
        match repo.storage().remove(FileType::Pack, id) {
            Ok(()) | Err(Error::NotFound { .. }) => report.packs_removed.push(*id),
            Err(e) => return Err(e),
        }
    }
    report.blobs_lost.sort();
    Ok(report)
}

fn location(pack: &Id, b: &IndexBlob) -> BlobLocation {
    BlobLocation {
        pack: *pack,
        offset: b.offset,
        length: b.length,
        uncompressed_length: b.uncompressed_length,
    }
}

/// Writes `data` to `dir/pack-ID`, refusing to replace a different file of that name
/// (a copy saved by an earlier, interrupted run is the same bytes).
fn save_copy(dir: &Path, id: &Id, data: &[u8]) -> Result<PathBuf> {
    let path = dir.join(format!("pack-{id}"));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(mut f) => f
            .write_all(data)
            .and_then(|_| f.sync_all())
            .map_err(|e| Error::io(&path, e))?,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            if std::fs::read(&path).map_err(|e| Error::io(&path, e))? != data {
                return Err(Error::io(
                    &path,
                    std::io::Error::new(
                        std::io::ErrorKind::AlreadyExists,
                        "a different file of that name is in the way",
                    ),
                ));
            }
        }
        Err(e) => return Err(Error::io(&path, e)),
    }
    Ok(path)
}
