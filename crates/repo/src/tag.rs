//! Changing the tags of existing snapshots, as `restic tag` does.
//!
//! A snapshot file is named by the hash of its content, so a snapshot with new tags is a
//! new file. It records the first id it had in `original`, is written (durably) before
//! the old file is removed, and a crash in between leaves both: the same backup listed
//! twice, never none.

use crate::error::Result;
use crate::id::Id;
use crate::repository::Repository;
use crate::snapshot::Snapshot;
use crate::storage::FileType;

/// What to do with the tags: replace them all, or add some and remove others.
#[derive(Clone, Debug, Default)]
pub struct TagChange {
    /// Replace the tags with these (an empty list removes all tags).
    pub set: Option<Vec<String>>,
    pub add: Vec<String>,
    pub remove: Vec<String>,
}

impl TagChange {
    /// Whether the change asks for nothing at all.
    pub fn is_empty(&self) -> bool {
        self.set.is_none() && self.add.is_empty() && self.remove.is_empty()
    }

    /// Applies the change to `tags`; returns whether they changed. Added tags go at the
    /// end in the order given, each once; a set list is taken as given (duplicates
    /// dropped).
    pub fn apply(&self, tags: &mut Vec<String>) -> bool {
        let before = tags.clone();
        if let Some(set) = &self.set {
            tags.clear();
            for t in set {
                if !tags.contains(t) {
                    tags.push(t.clone());
                }
            }
        } else {
            for t in &self.add {
                if !tags.contains(t) {
                    tags.push(t.clone());
                }
            }
            tags.retain(|t| !self.remove.contains(t));
        }
        *tags != before
    }
}

/// One snapshot whose tags changed: the file it was and the file it is now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retagged {
    pub old: Id,
    pub new: Id,
}

/// Applies `change` to each of `snapshots` under an exclusive lock (restic's choice: a
/// concurrent `forget` must not act on a file that is being replaced). Snapshots whose
/// tags stay the same are left alone. Returns the ones rewritten.
pub fn retag(
    repo: &Repository,
    snapshots: &[Snapshot],
    change: &TagChange,
) -> Result<Vec<Retagged>> {
    let _lock = repo.lock(true)?;
    let mut done = Vec::new();
    for snap in snapshots {
        let mut new = snap.clone();
        if !change.apply(&mut new.tags) {
            continue;
        }
        if new.original.is_none() {
            new.original = Some(snap.id);
        }
        let id = repo.save_json(FileType::Snapshot, &new)?;
        if id != snap.id {
            repo.storage().remove(FileType::Snapshot, &snap.id)?;
        }
        done.push(Retagged {
            old: snap.id,
            new: id,
        });
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn add_remove_and_set() {
        let mut t = tags(&["a", "b"]);
        let add = TagChange {
            add: tags(&["b", "c", "c"]),
            remove: tags(&["a"]),
            ..Default::default()
        };
        assert!(add.apply(&mut t));
        assert_eq!(t, tags(&["b", "c"]));
        assert!(!add.apply(&mut t), "applying twice changes nothing");
        let set = TagChange {
            set: Some(tags(&["x", "x", "y"])),
            ..Default::default()
        };
        assert!(set.apply(&mut t));
        assert_eq!(t, tags(&["x", "y"]));
        let clear = TagChange {
            set: Some(Vec::new()),
            ..Default::default()
        };
        assert!(clear.apply(&mut t));
        assert!(t.is_empty());
        assert!(TagChange::default().is_empty());
    }
}
