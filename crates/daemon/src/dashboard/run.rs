//! `/runs/ID`: one run: when, how long, what it moved, the steps it recorded in the
//! audit log (with their times), and the error of the step that failed.

use std::fmt::Write;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bunker_catalog::Outcome;
use chrono::{TimeDelta, Utc};

use super::job::outcome;
use super::page::{esc, table, url, Page};
use super::session::Reader;
use super::words::{bytes, span, time};
use super::{blocking_page, catalog_failed};
use crate::http::AppState;

pub async fn run(
    State(shared): State<AppState>,
    Path(id): Path<i64>,
    Reader(viewer): Reader,
) -> Response {
    let page = blocking_page(&viewer, move || {
        let Some(r) = shared.catalog.run(id).map_err(catalog_failed)? else {
            return Err((StatusCode::NOT_FOUND, format!("no run #{id}")));
        };
        let mut p = Page::new(format!("Run #{id} of {}", r.job), "/");
        p.live = r.outcome == Outcome::Running;
        let mut d = String::from("<dl class=\"facts\">");
        let _ = write!(
            d,
            "<dt>job</dt><dd><a href=\"/jobs/{}\">{}</a></dd>\
             <dt>outcome</dt><dd><span class=\"outcome {o}\" id=\"outcome\">{o}</span></dd>\
             <dt>trigger</dt><dd>{}</dd><dt>started</dt><dd>{}</dd>",
            url(&r.job),
            esc(&r.job),
            esc(&format!("{:?}", r.trigger).to_lowercase()),
            esc(&time(r.started)),
            o = outcome(r.outcome),
        );
        if let Some(f) = r.finished {
            let _ = write!(d, "<dt>finished</dt><dd>{}</dd>", esc(&time(f)));
        }
        if let Some(s) = r.duration_seconds {
            let _ = write!(
                d,
                "<dt>duration</dt><dd id=\"duration\">{}</dd>",
                esc(&span(s))
            );
        }
        let _ = write!(
            d,
            "<dt>repository</dt><dd><a href=\"/repositories/{}\">{}</a></dd>\
             <dt>read</dt><dd>{} in {} files</dd><dt>added</dt><dd id=\"added\">{}</dd>",
            url(&r.repository),
            esc(&r.repository),
            esc(&bytes(r.bytes_read)),
            r.files,
            esc(&bytes(r.bytes_added))
        );
        if let Some(s) = r.total_size {
            let _ = write!(d, "<dt>backup size</dt><dd>{}</dd>", esc(&bytes(s)));
        }
        if let Some(n) = r.snapshot_count {
            let _ = write!(d, "<dt>snapshots kept</dt><dd>{n}</dd>");
        }
        if let Some(s) = &r.snapshot {
            let _ = write!(
                d,
                "<dt>snapshot</dt><dd><a href=\"/snapshots/{}/{}\"><code>{}</code></a></dd>",
                url(&r.repository),
                url(s),
                esc(s)
            );
        }
        d.push_str("</dl>");
        p.push(&d);
        if let Some(e) = &r.error {
            p.push(&format!(
                "<h2>Error</h2><p class=\"error\" id=\"error\">{}: {}</p>",
                esc(r.failed_step.as_deref().unwrap_or("run")),
                esc(e)
            ));
        }
        // The steps: what the run recorded while it went, with their times.
        let to = r.finished.unwrap_or_else(Utc::now) + TimeDelta::seconds(1);
        let events = shared
            .catalog
            .audit_of_job(&r.job, r.started, to, 1000)
            .map_err(catalog_failed)?;
        p.push("<h2>Steps</h2>");
        let mut previous = r.started;
        let rows: Vec<Vec<String>> = events
            .iter()
            .map(|e| {
                let after = (e.time - previous).num_milliseconds() as f64 / 1000.0;
                previous = e.time;
                vec![
                    esc(&time(e.time)),
                    esc(&format!("+{}", span(after))),
                    format!("<span class=\"action\">{}</span>", esc(&e.action)),
                    esc(&e.repository),
                    format!("<code>{}</code>", esc(&e.detail.to_string())),
                ]
            })
            .collect();
        p.push(&table(
            &["time", "after", "step", "repository", "detail"],
            rows,
        ));
        p.push("<h2>Log</h2><pre class=\"log\" id=\"log\">");
        let mut log = format!(
            "{} run #{} of {} started ({:?})\n",
            time(r.started),
            r.id,
            r.job,
            r.trigger
        );
        for e in &events {
            let _ = writeln!(
                log,
                "{} {} {} {}",
                time(e.time),
                e.action,
                e.repository,
                e.detail
            );
        }
        if let Some(e) = &r.error {
            let _ = writeln!(
                log,
                "{} {} failed: {e}",
                r.finished.map_or(String::new(), time),
                r.failed_step.as_deref().unwrap_or("run")
            );
        }
        if let Some(f) = r.finished {
            let _ = writeln!(log, "{} run ended: {}", time(f), outcome(r.outcome));
        }
        p.push(&esc(&log));
        p.push("</pre>");
        Ok(p)
    })
    .await;
    viewer.finish(page)
}
