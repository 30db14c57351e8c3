//! `/audit`: who did what to which repository, newest first.

use axum::extract::State;
use axum::response::Response;

use super::page::{esc, table, url, Page};
use super::session::Reader;
use super::words::time;
use super::{blocking_page, catalog_failed};
use crate::http::AppState;

const SHOWN: usize = 500;

pub async fn audit(State(shared): State<AppState>, Reader(viewer): Reader) -> Response {
    let page = blocking_page(&viewer, move || {
        let events = shared.catalog.audit(SHOWN).map_err(catalog_failed)?;
        let mut p = Page::new("Audit log", "/audit");
        p.push(&format!("<p>The newest {SHOWN} events.</p>"));
        let rows = events.iter().map(|e| {
            vec![
                esc(&time(e.time)),
                esc(&e.who),
                esc(&e.host),
                format!("<span class=\"action\">{}</span>", esc(&e.action)),
                esc(&e.repository),
                e.job.as_ref().map_or(String::new(), |j| {
                    format!("<a href=\"/jobs/{}\">{}</a>", url(j), esc(j))
                }),
                format!("<code>{}</code>", esc(&e.detail.to_string())),
            ]
        });
        p.push(&table(
            &[
                "time",
                "who",
                "host",
                "action",
                "repository",
                "job",
                "detail",
            ],
            rows,
        ));
        Ok(p)
    })
    .await;
    viewer.finish(page)
}
