//! Streams into a snapshot: the output of commands and database dumps, each read ahead
//! in its own thread and chunked into one file at the snapshot's root.

use std::io::Read;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use chrono::Local;
use ignore::gitignore::Gitignore;

use super::{find_parent, finish, Archiver, BackupOptions, BackupProgress, BackupResult};
use crate::error::{Error, Result};
use crate::repository::Repository;
use crate::tree::{Node, NodeKind, Tree};

/// Backs up one stream as a file named `filename` at the snapshot's root. `check` runs
/// after the stream ended and before the snapshot is written; an error from it (a
/// command that exited non-zero) leaves no snapshot.
pub fn backup_stream(
    repo: Arc<Repository>,
    rd: impl Read + Send,
    filename: &str,
    opts: &BackupOptions,
    progress: &BackupProgress,
    check: &mut dyn FnMut() -> Result<()>,
) -> Result<BackupResult> {
    let mut rd = Some(rd);
    backup_streams(repo, opts, progress, &mut |sink| {
        let rd = rd.take().expect("one stream");
        sink.add(filename, 0o644, rd)?;
        check()
    })
}

/// Receives the streams of a [`backup_streams`] run: each becomes one file at the
/// snapshot's root.
pub struct StreamSink<'s, 'a> {
    archiver: &'s Archiver<'a>,
    nodes: Vec<Node>,
    extra: serde_json::Map<String, serde_json::Value>,
}

impl<'s, 'a> StreamSink<'s, 'a> {
    pub(super) fn new(archiver: &'s Archiver<'a>) -> Self {
        StreamSink {
            archiver,
            nodes: Vec::new(),
            extra: serde_json::Map::new(),
        }
    }

    /// The files added, and the snapshot fields set.
    pub(super) fn into_parts(self) -> (Vec<Node>, serde_json::Map<String, serde_json::Value>) {
        (self.nodes, self.extra)
    }

    /// Records a field in the snapshot (what only the end of the streams tells: sizes,
    /// end times), beside the options' own extra fields.
    pub fn set_extra(&mut self, key: &str, value: serde_json::Value) {
        self.extra.insert(key.to_string(), value);
    }

    /// Reads `rd` to its end into a file `filename` with permission bits `mode`;
    /// returns its size.
    pub fn add(&mut self, filename: &str, mode: u32, rd: impl Read + Send) -> Result<u64> {
        if filename.is_empty() || filename.contains('/') || filename == "." || filename == ".." {
            return Err(Error::Invalid(format!(
                "invalid stream file name {filename:?}"
            )));
        }
        if self.nodes.iter().any(|n| n.name == filename.as_bytes()) {
            return Err(Error::Invalid(format!("two streams named {filename:?}")));
        }
        let sizes = self.archiver.opts.stream_chunks;
        let (content, size) = crate::read_ahead::with_read_ahead(rd, |rd| {
            self.archiver.save_stream_with(rd, None, sizes)
        })?;
        let mut node = Node::new(filename.as_bytes().to_vec(), NodeKind::File);
        let now = Local::now().fixed_offset();
        node.mode = mode;
        node.mtime = now;
        node.atime = now;
        node.ctime = now;
        node.uid = nix::unistd::getuid().as_raw();
        node.gid = nix::unistd::getgid().as_raw();
        node.user = self.archiver.names.user(node.uid);
        node.group = self.archiver.names.group(node.gid);
        node.size = size;
        node.content = content;
        let progress = self.archiver.progress;
        progress.files.fetch_add(1, Ordering::Relaxed);
        progress.files_new.fetch_add(1, Ordering::Relaxed);
        self.nodes.push(node);
        Ok(size)
    }
}

/// Backs up several streams (database dumps, command outputs) into one snapshot whose
/// root holds one file per stream. `body` adds the streams; if it fails (a dump tool
/// exited non-zero) no snapshot is written, and the data already stored is reused by
/// the next run.
pub fn backup_streams(
    repo: Arc<Repository>,
    opts: &BackupOptions,
    progress: &BackupProgress,
    body: &mut dyn FnMut(&mut StreamSink<'_, '_>) -> Result<()>,
) -> Result<BackupResult> {
    let _lock = repo.lock(false)?;
    let start = Local::now().fixed_offset();
    repo.load_index()?;
    let archiver = Archiver::new(&repo, opts, progress, Gitignore::empty());
    let mut sink = StreamSink::new(&archiver);
    body(&mut sink)?;
    let (mut nodes, extra) = sink.into_parts();
    let mut snap_opts = opts.clone();
    snap_opts.extra.extend(extra);
    if nodes.is_empty() {
        return Err(Error::Invalid(
            "nothing to back up: no stream was given".into(),
        ));
    }
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    let paths: Vec<String> = nodes
        .iter()
        .map(|n| format!("/{}", String::from_utf8_lossy(&n.name)))
        .collect();
    // Streams reuse nothing of a parent but the record of it: the newest snapshot of
    // the same host and files.
    let parent = find_parent(&repo, opts, &paths)?;
    let tree_id = archiver.save_tree(Tree { nodes })?;
    finish(
        archiver,
        &snap_opts,
        paths,
        tree_id,
        parent.map(|p| p.id),
        start,
    )
}
