//! Comparing two snapshots' trees, as `restic diff` does.
//!
//! Both trees are walked side by side by sorted names. A directory whose subtree id is
//! the same on both sides holds no change and is not descended into while listing
//! changes; that is what keeps a diff of two large, mostly equal snapshots fast.
//!
//! The byte counts follow restic: a blob counts as added (removed) if the second (first)
//! snapshot refers to it and the other does not. A blob referenced by a changed file may
//! also be referenced from an unchanged directory, so when there are such candidates
//! the unchanged directories' trees (never their data) are read to rule them out.

use std::collections::HashSet;

use rayon::prelude::*;

use crate::blob::BlobType;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::repository::Repository;
use crate::tree::{Node, NodeKind};

/// How to compare.
#[derive(Clone, Copy, Debug, Default)]
pub struct DiffOptions {
    /// Also report nodes whose metadata (mode, owner, times, attributes) changed (`U`).
    pub metadata: bool,
}

/// One changed path. `modifier` is restic's: `+` added, `-` removed, `M` content
/// modified, `U` metadata updated, `T` type changed, `?` content changed while all
/// metadata stayed the same (probable bit rot at the source); `T` combines with the
/// others, as in `TU`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Absolute path in the snapshot, raw bytes; directories end in `/`.
    pub path: Vec<u8>,
    pub modifier: String,
}

/// Counters for one side of a diff (restic's `DiffStat`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiffStat {
    pub files: u64,
    pub dirs: u64,
    pub others: u64,
    pub data_blobs: u64,
    pub tree_blobs: u64,
    /// Plaintext size of the blobs only this side refers to.
    pub bytes: u64,
}

impl DiffStat {
    fn count(&mut self, node: &Node) {
        match node.kind {
            NodeKind::File => self.files += 1,
            NodeKind::Dir => self.dirs += 1,
            _ => self.others += 1,
        }
    }
}

/// The summary of a diff.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiffStats {
    /// Files present on both sides with different content.
    pub changed_files: u64,
    pub added: DiffStat,
    pub removed: DiffStat,
}

type BlobSet = HashSet<(BlobType, Id)>;

struct Comparer<'a, F> {
    repo: &'a Repository,
    opts: DiffOptions,
    on_change: F,
    stats: DiffStats,
    before: BlobSet,
    after: BlobSet,
    /// Subtrees equal on both sides, not walked (see [`Comparer::subtract_common`]).
    common: Vec<Id>,
}

/// Compares the trees `from` and `to` (snapshot roots or subdirectories of them) under
/// a shared lock, calling `emit` for every change in walk order (sorted by path,
/// directories before their contents). Returns the counters.
pub fn diff(
    repo: &Repository,
    from: &Id,
    to: &Id,
    opts: DiffOptions,
    emit: impl FnMut(Change),
) -> Result<DiffStats> {
    let _lock = repo.lock(false)?;
    repo.load_index()?;
    let mut c = Comparer {
        repo,
        opts,
        on_change: emit,
        stats: DiffStats::default(),
        before: BlobSet::from([(BlobType::Tree, *from)]),
        after: BlobSet::from([(BlobType::Tree, *to)]),
        common: Vec::new(),
    };
    if from != to {
        c.diff_tree(b"/", from, to)?;
    }
    c.subtract_common()?;
    let only_before: Vec<_> = c.before.difference(&c.after).copied().collect();
    let only_after: Vec<_> = c.after.difference(&c.before).copied().collect();
    count_blobs(repo, &only_before, &mut c.stats.removed)?;
    count_blobs(repo, &only_after, &mut c.stats.added)?;
    Ok(c.stats)
}

/// The tree of the directory at `path` (`/`-separated) below `root`.
pub fn subtree_at(repo: &Repository, root: &Id, path: &str) -> Result<Id> {
    let mut id = *root;
    for part in path.split('/').filter(|p| !p.is_empty()) {
        let tree = repo.load_tree(&id)?;
        let node = tree
            .find(part.as_bytes())
            .ok_or_else(|| Error::Invalid(format!("{path}: no such directory in the snapshot")))?;
        id = node
            .subtree
            .ok_or_else(|| Error::Invalid(format!("{path}: {part} is not a directory")))?;
    }
    Ok(id)
}

fn join(prefix: &[u8], node: &Node) -> Vec<u8> {
    let mut p = prefix.to_vec();
    if !p.ends_with(b"/") {
        p.push(b'/');
    }
    p.extend_from_slice(&node.name);
    if node.kind == NodeKind::Dir {
        p.push(b'/');
    }
    p
}

fn add_blobs(set: &mut BlobSet, node: &Node) {
    match node.kind {
        NodeKind::File => set.extend(node.content.iter().map(|id| (BlobType::Data, *id))),
        NodeKind::Dir => set.extend(node.subtree.map(|id| (BlobType::Tree, id))),
        _ => {}
    }
}

fn dir_subtree(node: &Node, path: &[u8]) -> Result<Id> {
    node.subtree.ok_or_else(|| {
        Error::Invalid(format!(
            "directory {} has no subtree",
            String::from_utf8_lossy(path)
        ))
    })
}

impl<F: FnMut(Change)> Comparer<'_, F> {
    fn emit(&mut self, path: Vec<u8>, modifier: &str) {
        (self.on_change)(Change {
            path,
            modifier: modifier.to_string(),
        });
    }

    fn diff_tree(&mut self, prefix: &[u8], from: &Id, to: &Id) -> Result<()> {
        let (t1, t2) = rayon::join(|| self.repo.load_tree(from), || self.repo.load_tree(to));
        let (mut t1, mut t2) = (t1?, t2?);
        // Trees are stored sorted; sort anyway so that a foreign writer cannot derail
        // the merge below.
        t1.sort();
        t2.sort();
        let (mut a, mut b) = (
            t1.nodes.into_iter().peekable(),
            t2.nodes.into_iter().peekable(),
        );
        loop {
            let order = match (a.peek(), b.peek()) {
                (None, None) => break,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(x), Some(y)) => x.name.cmp(&y.name),
            };
            match order {
                std::cmp::Ordering::Less => {
                    let n = a.next().expect("peeked");
                    self.one_side(prefix, &n, "-")?;
                }
                std::cmp::Ordering::Greater => {
                    let n = b.next().expect("peeked");
                    self.one_side(prefix, &n, "+")?;
                }
                std::cmp::Ordering::Equal => {
                    let (x, y) = (a.next().expect("peeked"), b.next().expect("peeked"));
                    add_blobs(&mut self.before, &x);
                    add_blobs(&mut self.after, &y);
                    self.both_sides(prefix, &x, &y)?;
                }
            }
        }
        Ok(())
    }

    fn both_sides(&mut self, prefix: &[u8], x: &Node, y: &Node) -> Result<()> {
        let path = join(prefix, y);
        let mut modifier = String::new();
        if x.kind != y.kind {
            modifier.push('T');
        }
        if x.kind == NodeKind::File && y.kind == NodeKind::File && x.content != y.content {
            modifier.push('M');
            self.stats.changed_files += 1;
            if same_node(x, y, false) {
                modifier.push('?');
            }
        } else if self.opts.metadata && !same_node(x, y, true) {
            modifier.push('U');
        }
        if !modifier.is_empty() {
            self.emit(path.clone(), &modifier);
        }
        if x.kind == NodeKind::Dir && y.kind == NodeKind::Dir {
            let (s1, s2) = (dir_subtree(x, &path)?, dir_subtree(y, &path)?);
            if s1 == s2 {
                self.common.push(s1);
            } else {
                self.diff_tree(&path, &s1, &s2)?;
            }
        }
        Ok(())
    }

    /// Reports `node` and, for a directory, everything below it as added or removed.
    fn one_side(&mut self, prefix: &[u8], node: &Node, modifier: &str) -> Result<()> {
        let path = join(prefix, node);
        self.emit(path.clone(), modifier);
        let added = modifier == "+";
        let (stat, set) = if added {
            (&mut self.stats.added, &mut self.after)
        } else {
            (&mut self.stats.removed, &mut self.before)
        };
        stat.count(node);
        add_blobs(set, node);
        if node.kind == NodeKind::Dir {
            let tree = self.repo.load_tree(&dir_subtree(node, &path)?)?;
            for child in &tree.nodes {
                self.one_side(&path, child, modifier)?;
            }
        }
        Ok(())
    }

    /// Removes from the one-sided blob sets every blob that an unchanged directory
    /// refers to: such a blob is in both snapshots. The unchanged trees are read only if
    /// there is something to remove, each distinct tree once, a level at a time in
    /// parallel.
    fn subtract_common(&mut self) -> Result<()> {
        let mut seen: HashSet<Id> = HashSet::new();
        let mut level: Vec<Id> = std::mem::take(&mut self.common);
        level.retain(|id| seen.insert(*id));
        while !level.is_empty() && self.has_one_sided() {
            for id in &level {
                self.before.insert((BlobType::Tree, *id));
                self.after.insert((BlobType::Tree, *id));
            }
            let trees = level
                .par_iter()
                .map(|id| self.repo.load_tree(id))
                .collect::<Result<Vec<_>>>()?;
            let mut next = Vec::new();
            for tree in &trees {
                for n in &tree.nodes {
                    add_blobs(&mut self.before, n);
                    add_blobs(&mut self.after, n);
                    if let Some(sub) = n.subtree.filter(|s| seen.insert(*s)) {
                        next.push(sub);
                    }
                }
            }
            level = next;
        }
        Ok(())
    }

    fn has_one_sided(&self) -> bool {
        self.before.len() != self.after.len()
            || self.before.difference(&self.after).next().is_some()
    }
}

/// Adds the number and plaintext size of `blobs` to `stat`.
fn count_blobs(repo: &Repository, blobs: &[(BlobType, Id)], stat: &mut DiffStat) -> Result<()> {
    let index = repo.index();
    for (t, id) in blobs {
        match t {
            BlobType::Data => stat.data_blobs += 1,
            BlobType::Tree => stat.tree_blobs += 1,
        }
        let loc = index.get(*t, id).ok_or_else(|| Error::NotFound {
            what: match t {
                BlobType::Data => "data blob",
                BlobType::Tree => "tree blob",
            },
            id: id.to_hex(),
        })?;
        stat.bytes += loc.plain_size() as u64;
    }
    Ok(())
}

/// restic's `Node.Equals`: every recorded field, extended attributes in any order; with
/// `with_content` false the content list is left out.
fn same_node(x: &Node, y: &Node, with_content: bool) -> bool {
    fn xattrs(n: &Node) -> Vec<&(String, Vec<u8>)> {
        let mut v: Vec<_> = n.xattrs.iter().collect();
        v.sort();
        v
    }
    x.name == y.name
        && x.kind == y.kind
        && x.mode == y.mode
        && x.mtime == y.mtime
        && x.atime == y.atime
        && x.ctime == y.ctime
        && x.uid == y.uid
        && x.gid == y.gid
        && x.user == y.user
        && x.group == y.group
        && x.inode == y.inode
        && x.device_id == y.device_id
        && x.size == y.size
        && x.links == y.links
        && x.link_target == y.link_target
        && x.device == y.device
        && (!with_content || x.content == y.content)
        && x.subtree == y.subtree
        && xattrs(x) == xattrs(y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_joined_like_restic() {
        let f = Node::new(b"f".to_vec(), NodeKind::File);
        let d = Node::new(b"d".to_vec(), NodeKind::Dir);
        assert_eq!(join(b"/", &f), b"/f");
        assert_eq!(join(b"/a/", &f), b"/a/f");
        assert_eq!(join(b"/a/", &d), b"/a/d/");
    }

    #[test]
    fn metadata_comparison_ignores_xattr_order_only() {
        let mut a = Node::new(b"f".to_vec(), NodeKind::File);
        a.xattrs = vec![
            ("user.a".into(), b"1".to_vec()),
            ("user.b".into(), b"2".to_vec()),
        ];
        let mut b = a.clone();
        b.xattrs.reverse();
        assert!(same_node(&a, &b, true));
        b.mode = 0o600;
        assert!(!same_node(&a, &b, true));
        let mut c = a.clone();
        c.content = vec![Id::hash(b"x")];
        assert!(!same_node(&a, &c, true));
        assert!(same_node(&a, &c, false));
    }
}
