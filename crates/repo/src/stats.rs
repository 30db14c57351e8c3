//! Statistics over snapshots, as `restic stats` computes them, plus the figures bunker
//! always reports: how much deduplication and compression save, and how big the
//! repository is.
//!
//! Every distinct tree of the selected snapshots is read once, a level at a time in
//! parallel; a directory that recurs (in the next day's snapshot, say) is counted from
//! a summary instead of being read again. Data blobs are never read: sizes come from
//! the index.

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::blob::BlobType;
use crate::crypto::OVERHEAD;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::repository::Repository;
use crate::snapshot::Snapshot;
use crate::storage::FileType;
use crate::tree::{Node, NodeKind, Tree};

/// What `total_size` and the counts measure (restic's `--mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StatsMode {
    /// The size of the files as restored (hard links counted once).
    #[default]
    RestoreSize,
    /// Files unique by content: each distinct content counted once.
    FilesByContents,
    /// The size of the blobs each distinct file (by content and path) refers to.
    BlobsPerFile,
    /// The stored size of the blobs the snapshots refer to.
    RawData,
}

impl StatsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            StatsMode::RestoreSize => "restore-size",
            StatsMode::FilesByContents => "files-by-contents",
            StatsMode::BlobsPerFile => "blobs-per-file",
            StatsMode::RawData => "raw-data",
        }
    }
}

impl std::str::FromStr for StatsMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        [
            StatsMode::RestoreSize,
            StatsMode::FilesByContents,
            StatsMode::BlobsPerFile,
            StatsMode::RawData,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
        .ok_or_else(|| {
            format!(
                "unknown mode {s:?}: use restore-size, files-by-contents, blobs-per-file or raw-data"
            )
        })
    }
}

/// The result of [`stats`]. The first group has restic's meaning for the chosen mode;
/// the second is computed in every mode.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RepoStats {
    pub mode: StatsMode,
    pub snapshots_count: u64,
    pub total_size: u64,
    pub total_file_count: u64,
    pub total_blob_count: u64,
    /// raw-data mode in a compressing repository: the blobs' size before compression.
    pub total_uncompressed_size: u64,

    /// Size of the files as restored, summed over the snapshots.
    pub restore_size: u64,
    /// Stored size (compressed, encrypted) of the distinct blobs the snapshots use.
    pub raw_data_size: u64,
    /// Plaintext size of the distinct data blobs the snapshots use.
    pub unique_data_size: u64,
    /// Distinct data and tree blobs the snapshots use.
    pub data_blobs: u64,
    pub tree_blobs: u64,
    /// restic's: uncompressed / stored size of the compressed blobs (1 if none is).
    pub compression_ratio: f64,
    /// restic's: share (%) of the uncompressed size that is in compressed blobs.
    pub compression_progress: f64,
    /// restic's: share (%) of the uncompressed size that compression saves.
    pub compression_space_saving: f64,
    /// Restore size / plaintext size of the distinct data blobs: how many times over
    /// the snapshots reuse their data.
    pub deduplication_ratio: f64,
    /// Pack files in the repository and the size of all its files (locks aside).
    pub pack_count: u64,
    pub repository_size: u64,
}

/// What one tree contributes, kept instead of the tree itself.
#[derive(Default)]
struct TreeSummary {
    /// The subtree of every directory node, in node order.
    subtrees: Vec<Id>,
    nodes: u64,
    /// Size of the nodes that are not hard links.
    size: u64,
    /// `(inode, device, size)` of hard-linked nodes, counted once per snapshot.
    hard_links: Vec<(u64, u64, u64)>,
    /// The data blobs of the files.
    data: Vec<Id>,
    /// Every node, for the modes that look at contents.
    entries: Vec<Entry>,
}

struct Entry {
    name: Vec<u8>,
    size: u64,
    content: Vec<Id>,
    subtree: Option<Id>,
}

fn is_hard_link(n: &Node) -> bool {
    // restic: a file with one link (or a directory) counts; others once per inode.
    n.links != 1 && n.kind != NodeKind::Dir && n.inode != 0
}

fn summarize(tree: Tree, keep_entries: bool) -> TreeSummary {
    let mut s = TreeSummary::default();
    for n in tree.nodes {
        s.nodes += 1;
        if is_hard_link(&n) {
            s.hard_links.push((n.inode, n.device_id, n.size));
        } else {
            s.size += n.size;
        }
        if let Some(sub) = n.subtree {
            s.subtrees.push(sub);
        }
        s.data.extend_from_slice(&n.content);
        if keep_entries {
            s.entries.push(Entry {
                name: n.name,
                size: n.size,
                content: n.content,
                subtree: n.subtree,
            });
        }
    }
    s
}

/// Computes statistics over `snapshots` (under a shared lock) in the given mode.
pub fn stats(repo: &Repository, snapshots: &[Snapshot], mode: StatsMode) -> Result<RepoStats> {
    let _lock = repo.lock(false)?;
    repo.load_index()?;
    let roots: Vec<Id> = snapshots.iter().map(|s| s.tree).collect();
    let keep_entries = matches!(mode, StatsMode::FilesByContents | StatsMode::BlobsPerFile);
    let trees = load_trees(repo, &roots, keep_entries)?;

    let mut st = RepoStats {
        mode,
        snapshots_count: snapshots.len() as u64,
        ..Default::default()
    };
    let mut memo = HashMap::new();
    for root in &roots {
        let (nodes, size) = restore_totals(root, &trees, &mut memo);
        st.restore_size += size + hard_linked_size(root, &trees, &memo);
        if mode == StatsMode::RestoreSize {
            st.total_file_count += nodes;
        }
    }
    blob_totals(repo, &trees, &mut st)?;
    match mode {
        StatsMode::RestoreSize => st.total_size = st.restore_size,
        StatsMode::RawData => {}
        StatsMode::FilesByContents | StatsMode::BlobsPerFile => {
            by_contents(repo, &roots, &trees, &mut st)?
        }
    }
    for ft in [
        FileType::Pack,
        FileType::Index,
        FileType::Snapshot,
        FileType::Key,
    ] {
        let files = repo.storage().list(ft)?;
        if ft == FileType::Pack {
            st.pack_count = files.len() as u64;
        }
        st.repository_size += files.iter().map(|(_, size)| size).sum::<u64>();
    }
    st.repository_size += repo.storage().read_config()?.len() as u64;
    Ok(st)
}

/// Reads every distinct tree reachable from `roots`, a level at a time in parallel.
fn load_trees(
    repo: &Repository,
    roots: &[Id],
    keep_entries: bool,
) -> Result<HashMap<Id, TreeSummary>> {
    let mut trees: HashMap<Id, TreeSummary> = HashMap::new();
    let mut level: Vec<Id> = roots.to_vec();
    level.sort();
    level.dedup();
    while !level.is_empty() {
        let loaded = level
            .par_iter()
            .map(|id| Ok((*id, summarize(repo.load_tree(id)?, keep_entries))))
            .collect::<Result<Vec<_>>>()?;
        let mut next = HashSet::new();
        for (id, s) in loaded {
            next.extend(s.subtrees.iter().copied());
            trees.insert(id, s);
        }
        level = next
            .into_iter()
            .filter(|id| !trees.contains_key(id))
            .collect();
    }
    Ok(trees)
}

/// Nodes and non-hard-linked size below `id`, each occurrence of a subtree counted (a
/// directory that appears twice is restored twice); memoized per tree. The flag says
/// whether hard links occur below.
fn restore_totals(
    id: &Id,
    trees: &HashMap<Id, TreeSummary>,
    memo: &mut HashMap<Id, (u64, u64, bool)>,
) -> (u64, u64) {
    let (nodes, size, _) = restore_totals_inner(id, trees, memo);
    (nodes, size)
}

fn restore_totals_inner(
    id: &Id,
    trees: &HashMap<Id, TreeSummary>,
    memo: &mut HashMap<Id, (u64, u64, bool)>,
) -> (u64, u64, bool) {
    if let Some(t) = memo.get(id) {
        return *t;
    }
    let s = &trees[id];
    let mut t = (s.nodes, s.size, !s.hard_links.is_empty());
    for sub in &s.subtrees {
        let (n, sz, hl) = restore_totals_inner(sub, trees, memo);
        t = (t.0 + n, t.1 + sz, t.2 || hl);
    }
    memo.insert(*id, t);
    t
}

/// The size of the hard-linked files below `root`, each inode once.
fn hard_linked_size(
    root: &Id,
    trees: &HashMap<Id, TreeSummary>,
    memo: &HashMap<Id, (u64, u64, bool)>,
) -> u64 {
    let mut inodes = HashSet::new();
    let mut seen = HashSet::new();
    let mut stack = vec![*root];
    let mut size = 0;
    while let Some(id) = stack.pop() {
        if !memo[&id].2 || !seen.insert(id) {
            continue;
        }
        let s = &trees[&id];
        for (inode, dev, sz) in &s.hard_links {
            if inodes.insert((*inode, *dev)) {
                size += sz;
            }
        }
        stack.extend(s.subtrees.iter().copied());
    }
    size
}

/// Counts the distinct blobs the trees refer to, with restic's raw-data figures.
fn blob_totals(
    repo: &Repository,
    trees: &HashMap<Id, TreeSummary>,
    st: &mut RepoStats,
) -> Result<()> {
    let data: HashSet<Id> = trees
        .values()
        .flat_map(|s| s.data.iter().copied())
        .collect();
    let index = repo.index();
    let (mut stored, mut uncompressed) = (0u64, 0u64);
    let (mut compressed_stored, mut compressed_uncompressed) = (0u64, 0u64);
    let blobs = trees
        .keys()
        .map(|id| (BlobType::Tree, id))
        .chain(data.iter().map(|id| (BlobType::Data, id)));
    for (t, id) in blobs {
        let loc = index.get(t, id).ok_or_else(|| Error::missing_blob(t, id))?;
        let length = loc.length as u64;
        stored += length;
        if loc.uncompressed_length != 0 {
            let full = loc.uncompressed_length as u64 + OVERHEAD as u64;
            uncompressed += full;
            compressed_stored += length;
            compressed_uncompressed += full;
        } else {
            uncompressed += length;
        }
        if t == BlobType::Data {
            st.unique_data_size += loc.plain_size() as u64;
        }
    }
    st.data_blobs = data.len() as u64;
    st.tree_blobs = trees.len() as u64;
    st.raw_data_size = stored;
    st.compression_ratio = if compressed_stored > 0 {
        compressed_uncompressed as f64 / compressed_stored as f64
    } else {
        1.0
    };
    if uncompressed > 0 {
        st.compression_progress = compressed_uncompressed as f64 / uncompressed as f64 * 100.0;
        st.compression_space_saving = (1.0 - stored as f64 / uncompressed as f64) * 100.0;
    }
    st.deduplication_ratio = if st.unique_data_size > 0 {
        st.restore_size as f64 / st.unique_data_size as f64
    } else {
        1.0
    };
    if st.mode == StatsMode::RawData {
        st.total_size = stored;
        st.total_blob_count = st.data_blobs + st.tree_blobs;
        if repo.compresses() {
            st.total_uncompressed_size = uncompressed;
        }
    }
    Ok(())
}

/// The content-based modes: walks the snapshots in order, each distinct tree once (a
/// tree seen before holds no content not seen before), as restic does.
fn by_contents(
    repo: &Repository,
    roots: &[Id],
    trees: &HashMap<Id, TreeSummary>,
    st: &mut RepoStats,
) -> Result<()> {
    let mut walk = ContentWalk {
        repo,
        trees,
        per_file: st.mode == StatsMode::BlobsPerFile,
        visited: HashSet::new(),
        contents: HashSet::new(),
        file_blobs: HashMap::new(),
        size: 0,
        files: 0,
        blobs: 0,
    };
    for root in roots {
        if walk.visited.insert(*root) {
            walk.tree(root, b"")?;
        }
    }
    st.total_size = walk.size;
    st.total_file_count = walk.files;
    st.total_blob_count = walk.blobs;
    Ok(())
}

struct ContentWalk<'a> {
    repo: &'a Repository,
    trees: &'a HashMap<Id, TreeSummary>,
    per_file: bool,
    visited: HashSet<Id>,
    /// Hashes of the content lists seen (restic's "file id by contents").
    contents: HashSet<[u8; 32]>,
    /// blobs-per-file: the blobs counted for each path.
    file_blobs: HashMap<Vec<u8>, HashSet<Id>>,
    size: u64,
    files: u64,
    blobs: u64,
}

impl ContentWalk<'_> {
    fn tree(&mut self, id: &Id, prefix: &[u8]) -> Result<()> {
        let trees = self.trees;
        for e in &trees[id].entries {
            let mut path = prefix.to_vec();
            path.push(b'/');
            path.extend_from_slice(&e.name);
            self.node(e, &path)?;
            if let Some(sub) = e.subtree {
                if self.visited.insert(sub) {
                    self.tree(&sub, &path)?;
                }
            }
        }
        Ok(())
    }

    fn node(&mut self, e: &Entry, path: &[u8]) -> Result<()> {
        let mut h = Sha256::new();
        for id in &e.content {
            h.update(id.0);
        }
        if !self.contents.insert(h.finalize().into()) {
            return Ok(());
        }
        if !self.per_file {
            self.size += e.size;
            self.files += 1;
            return Ok(());
        }
        for blob in &e.content {
            let seen = self.file_blobs.entry(path.to_vec()).or_insert_with(|| {
                self.files += 1;
                HashSet::new()
            });
            if seen.insert(*blob) {
                let loc =
                    self.repo
                        .locate(BlobType::Data, blob)
                        .ok_or_else(|| Error::NotFound {
                            what: "data blob",
                            id: blob.to_hex(),
                        })?;
                self.size += loc.plain_size() as u64;
                self.blobs += 1;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_by_restic_names() {
        for m in [
            "restore-size",
            "files-by-contents",
            "blobs-per-file",
            "raw-data",
        ] {
            assert_eq!(m.parse::<StatsMode>().unwrap().as_str(), m);
        }
        assert!("debug".parse::<StatsMode>().is_err());
    }

    #[test]
    fn hard_links_count_once_per_inode() {
        let mut a = Node::new(b"a".to_vec(), NodeKind::File);
        a.size = 10;
        a.links = 2;
        a.inode = 7;
        let mut b = a.clone();
        b.name = b"b".to_vec();
        let mut c = Node::new(b"c".to_vec(), NodeKind::File);
        c.size = 5;
        c.links = 1;
        c.inode = 8;
        let root = Id::hash(b"root");
        let trees = HashMap::from([(
            root,
            summarize(
                Tree {
                    nodes: vec![a, b, c],
                },
                false,
            ),
        )]);
        let mut memo = HashMap::new();
        let (nodes, size) = restore_totals(&root, &trees, &mut memo);
        assert_eq!((nodes, size), (3, 5));
        assert_eq!(hard_linked_size(&root, &trees, &memo), 10);
    }
}
