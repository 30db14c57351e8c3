//! Replacing the whole index with a new generation of index files, as prune and the
//! repairs do: the new files are written (each durable when written) before any file
//! they supersede is removed, so an interruption leaves two generations describing
//! the same packs, never a pack that no index describes.

use crate::error::Result;
use crate::id::Id;
use crate::index::{IndexFile, IndexPack};
use crate::repository::Repository;
use crate::storage::FileType;

/// Index files are written with at most this many blobs each.
const INDEX_FILE_BLOBS: usize = 50_000;

/// Writes index files describing exactly `packs`, then removes the files `old` (which
/// the new ones list as superseded). Returns the ids of the new files.
pub(crate) fn replace_index(
    repo: &Repository,
    packs: Vec<IndexPack>,
    old: &[Id],
) -> Result<Vec<Id>> {
    let mut batch: Vec<IndexPack> = Vec::new();
    let mut blobs = 0;
    let mut written = Vec::new();
    let mut save = |packs: Vec<IndexPack>| -> Result<()> {
        written.push(repo.save_json(
            FileType::Index,
            &IndexFile {
                supersedes: old.to_vec(),
                packs,
            },
        )?);
        Ok(())
    };
    let mut any = false;
    for p in packs {
        blobs += p.blobs.len();
        batch.push(p);
        if blobs >= INDEX_FILE_BLOBS {
            save(std::mem::take(&mut batch))?;
            blobs = 0;
            any = true;
        }
    }
    if !batch.is_empty() || !any {
        save(batch)?;
    }
    for id in old.iter().filter(|id| !written.contains(id)) {
        repo.storage().remove(FileType::Index, id)?;
    }
    Ok(written)
}
