//! `repair snapshots`, with restic's semantics: each snapshot is rewritten without what
//! the index cannot give. A file keeps the content blobs the index has (its missing
//! parts are cut out and its size set to what is left); a directory whose tree cannot
//! be read becomes an empty directory; nodes of an irregular type are dropped. A
//! rewritten snapshot records the one it replaces in `original` and, unless the
//! originals are forgotten, carries the tag `repaired`.
//!
//! It trusts the index, as restic's does: run `repair index` first, and `repair packs`
//! for packs whose content is damaged, so that the index lists only what can be read.
//!
//! One choice differs from restic: a snapshot whose root tree cannot be read is removed
//! only with `forget` (restic removes it either way); without it, `repair` deletes
//! nothing.

use std::collections::HashMap;
use std::sync::Arc;

use crate::blob::BlobType;
use crate::error::Result;
use crate::id::Id;
use crate::repository::Repository;
use crate::saver::{worker_threads, BlobSaver};
use crate::snapshot::Snapshot;
use crate::storage::FileType;
use crate::tree::{NodeKind, Tree};

/// The tag restic gives a repaired snapshot.
pub const REPAIRED_TAG: &str = "repaired";

/// Options of `repair snapshots`.
#[derive(Clone, Copy, Debug, Default)]
pub struct RepairSnapshotsOptions {
    /// Remove each original once its repaired snapshot is written.
    pub forget: bool,
    /// Report what would change; write and remove nothing.
    pub dry_run: bool,
    pub threads: usize,
}

/// What happened to one snapshot.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Unchanged,
    /// Rewritten (or, in a dry run, to be rewritten) as the new snapshot.
    Repaired {
        new: Option<Id>,
        forgotten: bool,
    },
    /// The root tree cannot be read: removed with `forget`, otherwise left.
    RootUnreadable {
        removed: bool,
    },
}

/// One snapshot's repair: what changed inside it (restic's lines, such as
/// `file "/a/b": removed missing content`) and the outcome.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SnapshotRepair {
    pub snapshot: Id,
    pub changes: Vec<String>,
    pub outcome: Outcome,
}

/// What became of one tree.
#[derive(Clone, Copy)]
enum Rewritten {
    Same,
    Changed(Id),
    Unreadable,
}

struct Rewriter<'a> {
    repo: &'a Repository,
    /// `None` in a dry run: new trees are hashed, not saved.
    saver: Option<&'a BlobSaver>,
    done: HashMap<Id, Rewritten>,
    empty_tree: Option<Id>,
}

impl Rewriter<'_> {
    fn save_tree(&mut self, tree: &Tree) -> Result<Id> {
        let blob = tree.to_blob();
        match self.saver {
            Some(s) => Ok(s.save(BlobType::Tree, blob)?.0),
            None => Ok(Id::hash(&blob)),
        }
    }

    fn empty_tree(&mut self) -> Result<Id> {
        if let Some(id) = self.empty_tree {
            return Ok(id);
        }
        let id = self.save_tree(&Tree::default())?;
        self.empty_tree = Some(id);
        Ok(id)
    }

    fn load(&self, id: &Id) -> Option<Tree> {
        // Only through the index: a blob it lacks is lost, not to be looked for again.
        if !self.repo.index().has(BlobType::Tree, id) {
            return None;
        }
        self.repo.load_tree(id).ok()
    }

    /// Rewrites the tree `id` found at `path`, adding what changed to `changes`.
    fn rewrite(&mut self, id: Id, path: &str, changes: &mut Vec<String>) -> Result<Rewritten> {
        if let Some(done) = self.done.get(&id) {
            return Ok(*done);
        }
        let Some(mut tree) = self.load(&id) else {
            self.done.insert(id, Rewritten::Unreadable);
            return Ok(Rewritten::Unreadable);
        };
        let mut changed = false;
        let mut nodes = Vec::with_capacity(tree.nodes.len());
        for mut node in std::mem::take(&mut tree.nodes) {
            let at = format!("{}/{}", path.trim_end_matches('/'), node.name_lossy());
            match node.kind {
                NodeKind::Irregular => {
                    changes.push(format!("file {at:?}: removed node of irregular type"));
                    changed = true;
                    continue;
                }
                NodeKind::File => {
                    let index = self.repo.index();
                    let before = node.content.len();
                    node.content.retain(|b| index.has(BlobType::Data, b));
                    let size: u64 = node
                        .content
                        .iter()
                        .filter_map(|b| index.get(BlobType::Data, b))
                        .map(|loc| loc.plain_size() as u64)
                        .sum();
                    if node.content.len() != before {
                        changes.push(format!("file {at:?}: removed missing content"));
                    } else if size != node.size {
                        changes.push(format!("file {at:?}: fixed incorrect size"));
                    }
                    changed |= size != node.size || node.content.len() != before;
                    node.size = size;
                }
                NodeKind::Dir => {
                    let sub = match node.subtree {
                        Some(sub) => self.rewrite(sub, &at, changes)?,
                        None => Rewritten::Unreadable,
                    };
                    match sub {
                        Rewritten::Same => {}
                        Rewritten::Changed(new) => {
                            node.subtree = Some(new);
                            changed = true;
                        }
                        Rewritten::Unreadable => {
                            changes.push(format!("dir {at:?}: replaced with an empty directory"));
                            node.subtree = Some(self.empty_tree()?);
                            changed = true;
                        }
                    }
                }
                _ => {}
            }
            nodes.push(node);
        }
        let result = match changed {
            true => Rewritten::Changed(self.save_tree(&Tree { nodes })?),
            false => Rewritten::Same,
        };
        self.done.insert(id, result);
        Ok(result)
    }
}

/// Repairs `snapshots` (under the exclusive lock unless it is a dry run). The whole
/// index must be readable: with a damaged index file, this is the error naming it.
pub fn repair_snapshots(
    repo: &Arc<Repository>,
    snapshots: &[Snapshot],
    opts: RepairSnapshotsOptions,
) -> Result<Vec<SnapshotRepair>> {
    let _lock = repo.lock(!opts.dry_run)?;
    repo.load_index()?;
    let saver =
        (!opts.dry_run).then(|| BlobSaver::new(repo.clone(), worker_threads(opts.threads), 1));
    let mut rewriter = Rewriter {
        repo,
        saver: saver.as_ref(),
        done: HashMap::new(),
        empty_tree: None,
    };
    let mut planned = Vec::new();
    for snap in snapshots {
        let mut changes = Vec::new();
        let root = rewriter.rewrite(snap.tree, "/", &mut changes)?;
        if let Rewritten::Unreadable = root {
            changes.push("dir \"/\": not readable".to_string());
        }
        planned.push((snap, changes, root));
    }
    // The new trees are durable and indexed before any snapshot refers to them.
    if let Some(s) = saver {
        s.finish()?;
    }
    let mut out = Vec::new();
    for (snap, changes, root) in planned {
        let outcome = match root {
            Rewritten::Same => Outcome::Unchanged,
            Rewritten::Unreadable => {
                let removed = opts.forget && !opts.dry_run;
                if removed {
                    repo.storage().remove(FileType::Snapshot, &snap.id)?;
                }
                Outcome::RootUnreadable { removed }
            }
            Rewritten::Changed(_) if opts.dry_run => Outcome::Repaired {
                new: None,
                forgotten: false,
            },
            Rewritten::Changed(tree) => {
                let mut new = snap.clone();
                new.tree = tree;
                new.original = Some(snap.id);
                if !opts.forget && !new.tags.iter().any(|t| t == REPAIRED_TAG) {
                    new.tags.push(REPAIRED_TAG.to_string());
                }
                let id = repo.save_json(FileType::Snapshot, &new)?;
                if opts.forget && id != snap.id {
                    repo.storage().remove(FileType::Snapshot, &snap.id)?;
                }
                Outcome::Repaired {
                    new: Some(id),
                    forgotten: opts.forget,
                }
            }
        };
        out.push(SnapshotRepair {
            snapshot: snap.id,
            changes,
            outcome,
        });
    }
    Ok(out)
}
