//! `/drills`: every restore drill, its measured RTO and data age, passed or not.

use axum::extract::State;
use axum::response::Response;
use bunker_catalog::DrillRecord;

use super::page::{esc, table, url, Page};
use super::session::Reader;
use super::words::{span, time};
use super::{blocking_page, catalog_failed};
use crate::http::AppState;

const SHOWN: usize = 500;

/// Drills as table rows (the job page shows its own with the same columns).
pub fn drill_table(drills: &[DrillRecord]) -> String {
    let rows = drills.iter().map(|d| {
        let verdict = if d.passed { "passed" } else { "failed" };
        vec![
            format!("<a href=\"/jobs/{}\">{}</a>", url(&d.job), esc(&d.job)),
            esc(&time(d.finished)),
            format!(
                "<code>{}</code>",
                esc(d.snapshot.get(..8).unwrap_or(&d.snapshot))
            ),
            format!("<span class=\"verdict {verdict}\">{verdict}</span>"),
            format!(
                "<span class=\"rto\" data-seconds=\"{}\">{}</span>",
                d.restore_seconds,
                esc(&span(d.restore_seconds))
            ),
            esc(&span(d.data_age_seconds)),
            esc(&d.detail),
        ]
    });
    table(
        &[
            "job",
            "finished",
            "snapshot",
            "result",
            "restore time (RTO)",
            "data age",
            "detail",
        ],
        rows,
    )
}

pub async fn drills(State(shared): State<AppState>, Reader(viewer): Reader) -> Response {
    let page = blocking_page(&viewer, move || {
        let drills = shared.catalog.drills(None, SHOWN).map_err(catalog_failed)?;
        let mut p = Page::new("Drills", "/drills");
        p.push(&drill_table(&drills));
        Ok(p)
    })
    .await;
    viewer.finish(page)
}
