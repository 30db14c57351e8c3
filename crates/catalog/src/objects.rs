//! Reading all of bunker's own JSON files of one kind (`drills/`, `audit/`) from a
//! repository, several at a time: on an object store each file is a request, and an
//! audit log grows by one file per operation.

use bunker_repo::{FileType, Id, Repository};
use serde::de::DeserializeOwned;

/// Every file of kind `ft`, decoded. A file that cannot be read or decoded is returned
/// as its error beside the others (one damaged file must not hide the rest); a file
/// removed since it was listed is left out; storage trouble fails the whole listing.
pub(crate) fn load_all<T: DeserializeOwned + Send>(
    repo: &Repository,
    ft: FileType,
) -> bunker_repo::Result<Vec<(Id, bunker_repo::Result<T>)>> {
    let ids: Vec<Id> = repo
        .storage()
        .list(ft)?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let workers = repo.storage().connections().clamp(1, 16);
    let per_worker = ids.len().div_ceil(workers).max(1);
    let loaded: Vec<(Id, bunker_repo::Result<T>)> = std::thread::scope(|s| {
        let handles: Vec<_> = ids
            .chunks(per_worker)
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|id| (*id, repo.load_json::<T>(ft, id)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a loader thread panicked"))
            .collect()
    });
    let mut out = Vec::with_capacity(loaded.len());
    for (id, r) in loaded {
        match r {
            Err(e @ bunker_repo::Error::Storage { .. }) => return Err(e),
            Err(bunker_repo::Error::NotFound { .. }) => {}
            r => out.push((id, r)),
        }
    }
    Ok(out)
}
