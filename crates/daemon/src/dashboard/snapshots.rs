//! `/snapshots`: every snapshot of every repository, filtered by repository, job, host
//! and tag; `/snapshots/REPO/ID?path=…`: a directory of one snapshot, with links to
//! download a file, or a directory as tar ([`super::download`]).

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use bunker_repo::{Node, NodeKind, Repository, Snapshot, SnapshotFilter, Tree};
use serde::Deserialize;

use super::page::{esc, table, url, url_bytes, Page};
use super::session::Reader;
use super::words::bytes;
use super::{blocking_page, Failed};
use crate::http::AppState;

#[derive(Deserialize, Default)]
pub struct Filter {
    repo: Option<String>,
    job: Option<String>,
    host: Option<String>,
    tag: Option<String>,
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

pub async fn list(
    State(shared): State<AppState>,
    Query(f): Query<Filter>,
    Reader(viewer): Reader,
) -> Response {
    let page = blocking_page(&viewer, move || {
        let config = shared.config();
        let mut p = Page::new("Snapshots", "/snapshots");
        let mut options = String::from("<option value=\"\">all</option>");
        for name in config.repositories.keys() {
            let sel = if nonempty(&f.repo) == Some(name) {
                " selected"
            } else {
                ""
            };
            let _ = write!(options, "<option{sel}>{}</option>", esc(name));
        }
        let field = |n: &str, v: &Option<String>| {
            format!(
                "<label>{n} <input name=\"{n}\" value=\"{}\"></label>",
                esc(v.as_deref().unwrap_or(""))
            )
        };
        p.push(&format!(
            "<form method=\"get\" action=\"/snapshots\" class=\"filter\">\
             <label>repository <select name=\"repo\">{options}</select></label>{}{}{}\
             <button type=\"submit\">Filter</button></form>",
            field("job", &f.job),
            field("host", &f.host),
            field("tag", &f.tag)
        ));
        let mut rows = Vec::new();
        for name in config.repositories.keys() {
            if nonempty(&f.repo).is_some_and(|r| r != name) {
                continue;
            }
            let snaps = match shared.dashboard.repositories.snapshots(&config, name) {
                Ok(s) => s,
                Err(e) => {
                    p.push(&format!("<p class=\"error\">{}</p>", esc(&e)));
                    continue;
                }
            };
            let job_tag = nonempty(&f.job).map(|j| format!("job={j}"));
            for s in snaps.iter().filter(|s| {
                nonempty(&f.host).is_none_or(|h| s.hostname == h)
                    && nonempty(&f.tag).is_none_or(|t| s.tags.iter().any(|x| x == t))
                    && job_tag.as_ref().is_none_or(|t| s.tags.contains(t))
            }) {
                rows.push(snapshot_row(name, s));
            }
        }
        p.push(&format!(
            "<p id=\"snapshot-count\">{} snapshots</p>",
            rows.len()
        ));
        p.push(&table(
            &["repository", "id", "time", "host", "tags", "paths", "added"],
            rows,
        ));
        Ok(p)
    })
    .await;
    viewer.finish(page)
}

fn snapshot_row(repo: &str, s: &Snapshot) -> Vec<String> {
    vec![
        esc(repo),
        format!(
            "<a class=\"snapshot\" href=\"/snapshots/{}/{}\"><code>{}</code></a>",
            url(repo),
            s.id.to_hex(),
            s.short_id()
        ),
        esc(&s.time.format("%Y-%m-%d %H:%M:%S %:z").to_string()),
        esc(&s.hostname),
        esc(&s.tags.join(", ")),
        esc(&s.paths.join(", ")),
        s.summary
            .as_ref()
            .map_or("—".into(), |m| esc(&bytes(m.data_added))),
    ]
}

/// The `path` parameter of a query, as raw name bytes per component (percent-decoded
/// by hand: a file name need not be UTF-8, which a `String` parameter would refuse).
pub fn path_param(raw: Option<&str>) -> Vec<Vec<u8>> {
    let Some(q) = raw else {
        return Vec::new();
    };
    let Some(value) = q.split('&').find_map(|kv| kv.strip_prefix("path=")) else {
        return Vec::new();
    };
    let decoded: Vec<u8> =
        percent_encoding::percent_decode(value.replace('+', " ").as_bytes()).collect();
    decoded
        .split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(<[u8]>::to_vec)
        .collect()
}

/// A snapshot of repository `repo` found by id or prefix, with its repository.
pub fn find(
    shared: &AppState,
    repo: &str,
    id: &str,
) -> Result<(Arc<Repository>, Snapshot), Failed> {
    let config = shared.config();
    let r = shared
        .dashboard
        .repositories
        .open(&config, repo)
        .map_err(|e| (StatusCode::NOT_FOUND, e))?;
    let s = r
        .find_snapshot(id, &SnapshotFilter::default())
        .map_err(|e| (StatusCode::NOT_FOUND, e.to_string()))?;
    Ok((r, s))
}

/// What `path` names inside the snapshot: the root tree (empty path), or a node.
pub enum Found {
    Root(Tree),
    Node(Box<Node>),
}

pub fn walk(repo: &Repository, snap: &Snapshot, path: &[Vec<u8>]) -> Result<Found, Failed> {
    let failed = |e: bunker_repo::Error| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    let mut tree = repo.load_tree(&snap.tree).map_err(failed)?;
    for (i, part) in path.iter().enumerate() {
        let not_found = || {
            (
                StatusCode::NOT_FOUND,
                format!(
                    "{} is not in snapshot {}",
                    String::from_utf8_lossy(&path.join(&b'/')),
                    snap.short_id()
                ),
            )
        };
        let node = tree.find(part).cloned().ok_or_else(not_found)?;
        if i + 1 == path.len() {
            return Ok(Found::Node(Box::new(node)));
        }
        let sub = node.subtree.ok_or_else(not_found)?;
        tree = repo.load_tree(&sub).map_err(failed)?;
    }
    Ok(Found::Root(tree))
}

pub async fn tree(
    State(shared): State<AppState>,
    Path((repo, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    Reader(viewer): Reader,
) -> Response {
    let page = blocking_page(&viewer, move || {
        let path = path_param(query.as_deref());
        let (r, snap) = find(&shared, &repo, &id)?;
        let tree = match walk(&r, &snap, &path)? {
            Found::Root(t) => t,
            Found::Node(n) => match n.subtree {
                Some(sub) => r
                    .load_tree(&sub)
                    .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?,
                None => {
                    return Err((StatusCode::BAD_REQUEST, "not a directory".to_string()));
                }
            },
        };
        let shown = String::from_utf8_lossy(&path.join(&b'/')).to_string();
        let mut p = Page::new(format!("Snapshot {} /{shown}", snap.short_id()), "/snapshots");
        let base = format!("/snapshots/{}/{}", url(&repo), snap.id.to_hex());
        let here: String = path
            .iter()
            .map(|c| url_bytes(c))
            .collect::<Vec<_>>()
            .join("/");
        let _ = write!(
            p.body,
            "<p>{} · host {} · paths {} · tags {}</p>",
            esc(&snap.time.format("%Y-%m-%d %H:%M:%S %:z").to_string()),
            esc(&snap.hostname),
            esc(&snap.paths.join(", ")),
            esc(&snap.tags.join(", "))
        );
        // Breadcrumbs back up the tree.
        let mut crumbs = format!("<nav class=\"crumbs\"><a href=\"{base}\">/</a>");
        for i in 0..path.len() {
            let to: Vec<String> = path[..=i].iter().map(|c| url_bytes(c)).collect();
            let _ = write!(
                crumbs,
                " <a href=\"{base}?path={}\">{}</a> /",
                to.join("/"),
                esc(&String::from_utf8_lossy(&path[i]))
            );
        }
        crumbs.push_str("</nav>");
        p.push(&crumbs);
        p.push(&format!(
            "<p><a id=\"download-dir\" href=\"{base}/tar?path={here}\">Download this directory as tar</a></p>"
        ));
        let rows = tree.nodes.iter().map(|n| {
            let sub = if here.is_empty() {
                url_bytes(&n.name)
            } else {
                format!("{here}/{}", url_bytes(&n.name))
            };
            let name = esc(&n.name_lossy());
            let link = match n.kind {
                NodeKind::Dir => format!("<a class=\"dir\" href=\"{base}?path={sub}\">{name}/</a>"),
                NodeKind::File => format!(
                    "<a class=\"file\" href=\"{base}/file?path={sub}\" download>{name}</a>"
                ),
                NodeKind::Symlink => format!(
                    "{name} → {}",
                    esc(&String::from_utf8_lossy(&n.link_target))
                ),
                _ => name,
            };
            vec![
                link,
                esc(&format!("{:?}", n.kind).to_lowercase()),
                esc(&n.permissions()),
                if n.kind == NodeKind::File {
                    esc(&bytes(n.size))
                } else {
                    String::new()
                },
                esc(&n.mtime.format("%Y-%m-%d %H:%M:%S").to_string()),
            ]
        });
        p.push(&table(&["name", "kind", "mode", "size", "modified"], rows));
        Ok(p)
    })
    .await;
    viewer.finish(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_param_decodes_raw_bytes_and_drops_empty_parts() {
        assert_eq!(
            path_param(Some("x=1&path=a%20b/%FF/./c/")),
            vec![b"a b".to_vec(), vec![0xff], b"c".to_vec()]
        );
        assert!(path_param(Some("x=1")).is_empty());
        assert!(path_param(None).is_empty());
    }
}
