//! Downloads from a snapshot: one file as it was, or a directory (the whole snapshot
//! with an empty path) as a tar archive. Both stream: a thread reads the repository
//! and writes into a small channel that the response body drains, so memory stays at
//! a few chunks whatever the size, and a client that stops reading stops the reading.

use std::io::{self, Write};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bunker_repo::{FileReader, Node, NodeKind, Repository, Tree};
use bytes::Bytes;
use tokio::sync::mpsc;

use super::page::{problem, url};
use super::session::Reader;
use super::snapshots::{find, path_param, walk, Found};
use crate::http::AppState;

/// Chunks in flight between the reading thread and the connection.
const IN_FLIGHT: usize = 4;
const CHUNK: usize = 256 * 1024;

/// A `Write` into the response body; fails once the client has gone.
struct BodyWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl BodyWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for BodyWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// A body fed by `produce` on a thread of its own; an error it returns cuts the body
/// short (the client sees a broken download, never a silently short one).
fn streamed(produce: impl FnOnce(&mut BodyWriter) -> io::Result<()> + Send + 'static) -> Body {
    let (tx, mut rx) = mpsc::channel::<io::Result<Bytes>>(IN_FLIGHT);
    std::thread::spawn(move || {
        let mut w = BodyWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        let result = produce(&mut w).and_then(|()| w.flush());
        if let Err(e) = result {
            if e.kind() != io::ErrorKind::BrokenPipe {
                tracing::warn!(error = %e, "download cut short");
                let _ = tx.blocking_send(Err(e));
            }
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    Body::from_stream(stream)
}

/// `Content-Disposition: attachment` with an ASCII fallback name and the real one.
fn attachment(name: &str) -> HeaderValue {
    let plain: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    HeaderValue::from_str(&format!(
        "attachment; filename=\"{plain}\"; filename*=UTF-8''{}",
        url(name)
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

pub async fn file(
    State(shared): State<AppState>,
    Path((repo, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    Reader(viewer): Reader,
) -> Response {
    let found = tokio::task::spawn_blocking(move || {
        let path = path_param(query.as_deref());
        let (r, snap) = find(&shared, &repo, &id)?;
        match walk(&r, &snap, &path)? {
            Found::Node(n) if n.kind == NodeKind::File => Ok((r, *n)),
            _ => Err((StatusCode::BAD_REQUEST, "not a regular file".to_string())),
        }
    })
    .await;
    let (repo, node) = match found {
        Ok(Ok(found)) => found,
        Ok(Err((status, msg))) => return viewer.finish(problem(status, &viewer, &msg)),
        Err(e) => {
            return problem(StatusCode::INTERNAL_SERVER_ERROR, &viewer, &e.to_string());
        }
    };
    let size = node.size;
    let name = node.name_lossy();
    let body = streamed(move |w| {
        let mut content = FileReader::new(repo, node.content);
        io::copy(&mut content, w).map(drop)
    });
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CONTENT_LENGTH, HeaderValue::from(size)),
            (header::CONTENT_DISPOSITION, attachment(&name)),
        ],
        body,
    )
        .into_response()
}

pub async fn tar(
    State(shared): State<AppState>,
    Path((repo, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    Reader(viewer): Reader,
) -> Response {
    let found = tokio::task::spawn_blocking(move || {
        let path = path_param(query.as_deref());
        let (r, snap) = find(&shared, &repo, &id)?;
        let failed = |e: bunker_repo::Error| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
        let (tree, name) = match walk(&r, &snap, &path)? {
            Found::Root(t) => (t, format!("snapshot-{}", snap.short_id())),
            Found::Node(n) => match n.subtree {
                Some(sub) => (r.load_tree(&sub).map_err(failed)?, n.name_lossy()),
                None => return Err((StatusCode::BAD_REQUEST, "not a directory".to_string())),
            },
        };
        Ok((r, tree, name))
    })
    .await;
    let (repo, tree, name) = match found {
        Ok(Ok(found)) => found,
        Ok(Err((status, msg))) => return viewer.finish(problem(status, &viewer, &msg)),
        Err(e) => {
            return problem(StatusCode::INTERNAL_SERVER_ERROR, &viewer, &e.to_string());
        }
    };
    let top = name.clone();
    let body = streamed(move |w| {
        let mut builder = tar::Builder::new(w);
        builder.mode(tar::HeaderMode::Complete);
        append_tree(&mut builder, &repo, &tree, top.as_bytes())?;
        builder.into_inner()?.flush()
    });
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-tar"),
            ),
            (
                header::CONTENT_DISPOSITION,
                attachment(&format!("{name}.tar")),
            ),
        ],
        body,
    )
        .into_response()
}

fn header_for(node: &Node, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(node.mode & 0o7777);
    h.set_mtime(node.mtime.timestamp().max(0) as u64);
    h.set_uid(u64::from(node.uid));
    h.set_gid(u64::from(node.gid));
    let _ = h.set_username(&node.user);
    let _ = h.set_groupname(&node.group);
    h
}

/// Appends `tree` under `prefix`, depth first: directories, files with their bytes and
/// symbolic links (device nodes, fifos and sockets are skipped: a download holds data).
fn append_tree<W: Write>(
    b: &mut tar::Builder<W>,
    repo: &Arc<Repository>,
    tree: &Tree,
    prefix: &[u8],
) -> io::Result<()> {
    let to_io = |e: bunker_repo::Error| io::Error::other(e.to_string());
    let dir_path = std::ffi::OsStr::from_bytes(prefix);
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    b.append_data(&mut h, dir_path, io::empty())?;
    for n in &tree.nodes {
        let mut path = prefix.to_vec();
        path.push(b'/');
        path.extend_from_slice(&n.name);
        let os = std::ffi::OsStr::from_bytes(&path);
        match n.kind {
            NodeKind::Dir => {
                let sub = match n.subtree {
                    Some(id) => repo.load_tree(&id).map_err(to_io)?,
                    None => Tree::default(),
                };
                append_tree(b, repo, &sub, &path)?;
            }
            NodeKind::File => {
                let mut h = header_for(n, tar::EntryType::Regular, n.size);
                let content = FileReader::new(repo.clone(), n.content.clone());
                b.append_data(&mut h, os, content)?;
            }
            NodeKind::Symlink => {
                let mut h = header_for(n, tar::EntryType::Symlink, 0);
                let target = std::ffi::OsStr::from_bytes(&n.link_target);
                b.append_link(&mut h, os, target)?;
            }
            _ => {}
        }
    }
    Ok(())
}

use std::os::unix::ffi::OsStrExt;
