//! `/repositories` and `/repositories/NAME`: size, unique data, deduplication and
//! compression, growth over time, the snapshots per job and host, quota use and an
//! estimated monthly cost.

use std::collections::BTreeMap;
use std::fmt::Write;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;

use super::blocking_page;
use super::chart::line;
use super::page::{esc, table, url, Page};
use super::session::Reader;
use super::words::bytes;
use crate::http::AppState;

/// The location of a repository without what could be a credential: no user or
/// password in a URL, no query string (Azure SAS tokens live there).
pub fn location(url: &str) -> String {
    let no_query = url.split('?').next().unwrap_or("");
    match no_query.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((_, host)) if !host.contains('/') || rest.find('@') < rest.find('/') => {
                format!("{scheme}://{host}")
            }
            _ => no_query.to_string(),
        },
        None => no_query.to_string(),
    }
}

pub async fn list(State(shared): State<AppState>, Reader(viewer): Reader) -> Response {
    let page = blocking_page(&viewer, move || {
        let config = shared.config();
        let mut p = Page::new("Repositories", "/repositories");
        let rows = config.repositories.iter().map(|(name, r)| {
            let size = shared
                .dashboard
                .repositories
                .stats(&config, name)
                .map(|s| s.repository_size);
            let quota = r.get_ref().quota.map_or("—".into(), |q| bytes(q.0));
            vec![
                format!("<a href=\"/repositories/{}\">{}</a>", url(name), esc(name)),
                esc(&location(&r.get_ref().url.0)),
                size.map_or_else(
                    |e| format!("<span class=\"error\">{}</span>", esc(&e)),
                    |s| esc(&bytes(s)),
                ),
                esc(&quota),
            ]
        });
        p.push(&table(&["repository", "location", "size", "quota"], rows));
        Ok(p)
    })
    .await;
    viewer.finish(page)
}

pub async fn repository(
    State(shared): State<AppState>,
    Path(name): Path<String>,
    Reader(viewer): Reader,
) -> Response {
    let page = blocking_page(&viewer, move || {
        let config = shared.config();
        let Some(cfg) = config.repositories.get(&name).map(|r| r.get_ref()) else {
            return Err((
                StatusCode::NOT_FOUND,
                format!("no repository named {name:?}"),
            ));
        };
        let mut p = Page::new(format!("Repository {name}"), "/repositories");
        let repos = &shared.dashboard.repositories;
        let mut d = String::from("<dl class=\"facts\">");
        let _ = write!(
            d,
            "<dt>location</dt><dd>{}</dd>",
            esc(&location(&cfg.url.0))
        );
        match repos.stats(&config, &name) {
            Ok(s) => {
                let _ = write!(
                    d,
                    "<dt>size</dt><dd id=\"size\" data-bytes=\"{size}\">{}</dd>\
                     <dt>snapshots</dt><dd id=\"snapshot-count\">{}</dd>\
                     <dt>restore size of all snapshots</dt><dd>{}</dd>\
                     <dt>unique data</dt><dd id=\"unique\">{}</dd>\
                     <dt>stored data</dt><dd>{}</dd>\
                     <dt>deduplication</dt><dd id=\"dedup\">{:.2}×</dd>\
                     <dt>compression</dt><dd id=\"compression\">{:.2}× ({:.0}% saved)</dd>",
                    esc(&bytes(s.repository_size)),
                    s.snapshots_count,
                    esc(&bytes(s.restore_size)),
                    esc(&bytes(s.unique_data_size)),
                    esc(&bytes(s.raw_data_size)),
                    s.deduplication_ratio,
                    s.compression_ratio,
                    s.compression_space_saving,
                    size = s.repository_size,
                );
                if let Some(q) = cfg.quota {
                    let used = s.repository_size as f64 / q.0 as f64 * 100.0;
                    let _ = write!(
                        d,
                        "<dt>quota</dt><dd id=\"quota\">{:.1}% of {}</dd>",
                        used,
                        esc(&bytes(q.0))
                    );
                }
            }
            Err(e) => {
                let _ = write!(d, "<dt>state</dt><dd class=\"error\">{}</dd>", esc(&e));
            }
        }
        d.push_str("</dl>");
        p.push(&d);

        // Snapshots per job and host.
        match repos.snapshots(&config, &name) {
            Ok(snaps) => {
                // Growth: what each snapshot added to the repository, summed over time.
                let mut total = 0u64;
                let growth: Vec<_> = snaps
                    .iter()
                    .rev()
                    .map(|s| {
                        total += s.summary.as_ref().map_or(0, |m| m.data_added);
                        (s.time.with_timezone(&Utc), total as f64)
                    })
                    .collect();
                p.push(&line("Data added, summed over time", &growth, &|v| {
                    bytes(v as u64)
                }));
                let mut count: BTreeMap<(String, String), (usize, String)> = BTreeMap::new();
                for s in &snaps {
                    let job = s
                        .tags
                        .iter()
                        .find_map(|t| t.strip_prefix("job="))
                        .unwrap_or("")
                        .to_string();
                    let e = count
                        .entry((job, s.hostname.clone()))
                        .or_insert((0, String::new()));
                    e.0 += 1;
                    if e.1.is_empty() {
                        e.1 = s.time.format("%Y-%m-%d %H:%M:%S").to_string();
                    }
                }
                p.push("<h2>Snapshots per job and host</h2>");
                let rows = count.iter().map(|((job, host), (n, newest))| {
                    vec![
                        esc(job),
                        esc(host),
                        format!(
                            "<a href=\"/snapshots?repo={}&amp;job={}&amp;host={}\">{n}</a>",
                            url(&name),
                            url(job),
                            url(host)
                        ),
                        esc(newest),
                    ]
                });
                p.push(&table(&["job", "host", "snapshots", "newest"], rows));
            }
            Err(e) => p.push(&format!("<p class=\"error\">{}</p>", esc(&e))),
        }
        Ok(p)
    })
    .await;
    viewer.finish(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_lose_credentials() {
        assert_eq!(location("/srv/backup"), "/srv/backup");
        assert_eq!(
            location("s3:s3.example.com/bucket"),
            "s3:s3.example.com/bucket"
        );
        assert_eq!(
            location("rest:https://user:pw@host:8000/repo"),
            "rest:https://host:8000/repo"
        );
        assert_eq!(
            location("azure:container/path?sv=2020&sig=SECRET"),
            "azure:container/path"
        );
    }
}
