//! `forget`: removes the snapshot files that retention decisions (or the user, by id)
//! name. Only snapshot files go; the data they referenced stays until `prune`.

use std::collections::HashSet;

use crate::error::{Error, Result};
use crate::id::Id;
use crate::repository::Repository;
use crate::retention::{is_protected, GroupDecision, PROTECTED_TAG};
use crate::storage::FileType;

/// Removes every snapshot in the decisions' `remove` lists (unless `dry_run`) and returns
/// their ids, sorted.
///
/// Works under the exclusive lock, as restic does. The decisions were made before the
/// lock was taken, so they are checked again under it: if a snapshot they name has gone
/// meanwhile (another `forget` ran), nothing is removed and the caller is told to decide
/// again. A snapshot tagged [`PROTECTED_TAG`] is never removed: asking for it is an error.
pub fn forget(repo: &Repository, decisions: &[GroupDecision], dry_run: bool) -> Result<Vec<Id>> {
    let mut doomed: Vec<Id> = Vec::new();
    for s in decisions.iter().flat_map(|g| &g.remove) {
        if is_protected(s) {
            return Err(Error::Invalid(format!(
                "snapshot {} carries the tag {PROTECTED_TAG:?}: bunker never removes it \
                 (remove the tag first if it really must go)",
                s.short_id()
            )));
        }
        doomed.push(s.id);
    }
    doomed.sort();
    doomed.dedup();
    if dry_run || doomed.is_empty() {
        return Ok(doomed);
    }
    // Through the repository: it waits as `--retry-lock` (a job's `lock_wait`) says.
    let _lock = repo.lock(true)?;
    let present: HashSet<Id> = repo
        .storage()
        .list(FileType::Snapshot)?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let named = decisions.iter().flat_map(|g| {
        g.keep
            .iter()
            .map(|k| &k.snapshot)
            .chain(g.remove.iter())
            .map(|s| s.id)
    });
    for id in named {
        if !present.contains(&id) {
            return Err(Error::Invalid(format!(
                "snapshot {} disappeared while forget was deciding (did another forget run?): \
                 nothing was removed; run forget again",
                id.short()
            )));
        }
    }
    for id in &doomed {
        repo.storage().remove(FileType::Snapshot, id)?;
    }
    Ok(doomed)
}
