//! `/jobs/NAME`: the job's state, runs, charts of size, bytes added and duration, its
//! drills, the next scheduled times, and the command that does the same by hand.

use std::fmt::Write;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bunker_catalog::{Outcome, Run};
use chrono::Utc;

use super::chart::line;
use super::drills::drill_table;
use super::page::{esc, table, url, Page};
use super::session::Reader;
use super::words::{ago, bytes, retention, span, time};
use super::{blocking_page, catalog_failed, incident_rows};
use crate::http::AppState;

/// Runs in the table and the charts.
const RUNS_SHOWN: usize = 100;
const NEXT_TIMES: usize = 5;

pub fn outcome(o: Outcome) -> &'static str {
    match o {
        Outcome::Running => "running",
        Outcome::Success => "success",
        Outcome::Failure => "failure",
        Outcome::Partial => "partial",
        Outcome::Interrupted => "interrupted",
    }
}

pub fn run_rows(runs: &[Run]) -> String {
    let rows = runs.iter().map(|r| {
        vec![
            format!("<a href=\"/runs/{0}\">#{0}</a>", r.id),
            esc(&time(r.started)),
            format!("<span class=\"outcome {0}\">{0}</span>", outcome(r.outcome)),
            esc(&format!("{:?}", r.trigger).to_lowercase()),
            r.duration_seconds.map_or("—".into(), |d| esc(&span(d))),
            esc(&bytes(r.bytes_added)),
            r.total_size.map_or("—".into(), |s| esc(&bytes(s))),
            r.snapshot.as_ref().map_or(String::new(), |s| {
                format!(
                    "<a href=\"/snapshots/{}/{}\"><code>{}</code></a>",
                    url(&r.repository),
                    url(s),
                    esc(s.get(..8).unwrap_or(s))
                )
            }),
            esc(r.error.as_deref().unwrap_or("")),
        ]
    });
    table(
        &[
            "run",
            "started",
            "outcome",
            "trigger",
            "duration",
            "added",
            "backup size",
            "snapshot",
            "error",
        ],
        rows,
    )
}

pub async fn job(
    State(shared): State<AppState>,
    Path(name): Path<String>,
    Reader(viewer): Reader,
) -> Response {
    let v = viewer.clone();
    let page = blocking_page(&viewer, move || {
        let config = shared.config();
        let Some(cfg) = config.jobs.get(&name).map(|j| j.get_ref()) else {
            return Err((StatusCode::NOT_FOUND, format!("no job named {name:?}")));
        };
        let now = Utc::now();
        let status = shared.status().into_iter().find(|s| s.job == name);
        let mut runs = shared
            .catalog
            .runs(Some(&name), RUNS_SHOWN)
            .map_err(catalog_failed)?;
        let mut p = Page::new(format!("Job {name}"), "/");
        p.live = true;
        let mut facts = String::from("<dl class=\"facts\">");
        if let Some(s) = &status {
            let _ = write!(
                facts,
                "<dt>state</dt><dd><span class=\"state {}\" id=\"state\">{}</span>{}</dd>",
                s.state().replace(' ', "-"),
                esc(s.state()),
                if s.labels.get("running").is_some_and(|v| v == "true") {
                    " <span class=\"running\">running</span>"
                } else {
                    ""
                }
            );
            let last = s.last_success.as_ref().map_or("never".into(), |r| {
                format!("{} ({})", time(r.started), ago(r.started, now))
            });
            let _ = write!(facts, "<dt>last success</dt><dd>{}</dd>", esc(&last));
        }
        let _ = write!(
            facts,
            "<dt>repository</dt><dd><a href=\"/repositories/{}\">{}</a></dd>\
             <dt>schedule</dt><dd>{}</dd><dt>retention</dt><dd>{}</dd>",
            url(cfg.repository.get_ref()),
            esc(cfg.repository.get_ref()),
            esc(&cfg
                .schedule
                .as_ref()
                .map_or("only when asked".into(), |w| w.to_string())),
            esc(&retention(cfg.retention.as_ref()))
        );
        if !cfg.copies.is_empty() {
            let copies: Vec<&str> = cfg.copies.iter().map(|c| c.get_ref().as_str()).collect();
            let _ = write!(facts, "<dt>copies</dt><dd>{}</dd>", esc(&copies.join(", ")));
        }
        facts.push_str("</dl>");
        p.push(&facts);

        // The next scheduled times.
        if let Some(when) = &cfg.schedule {
            let zone = cfg.zone(&config.daemon);
            let mut t = now;
            let mut items = String::new();
            for _ in 0..NEXT_TIMES {
                let Some(n) = when.next_after(t, zone) else {
                    break;
                };
                let _ = write!(items, "<li>{}</li>", esc(&time(n)));
                t = n;
            }
            p.push(&format!(
                "<h2>Next runs</h2><ol class=\"next\">{items}</ol>"
            ));
        }

        // Actions, or how to get them.
        if v.logged_in {
            p.push(&format!(
                "<div class=\"actions\"><form method=\"post\" action=\"/jobs/{id}/run\">{csrf}\
                 <button type=\"submit\" id=\"run-now\">Run now</button></form>\
                 <form method=\"post\" action=\"/jobs/{id}/drill\">{csrf}\
                 <button type=\"submit\" id=\"drill-now\">Drill now</button></form></div>",
                id = url(&name),
                csrf = v.csrf_field()
            ));
        } else {
            p.push("<p class=\"muted\"><a href=\"/login\">Log in</a> to run or drill this job.</p>");
        }
        let config_arg = if config.path == bunker_jobs::config::default_config_path()
            || config.path.as_os_str().is_empty()
        {
            String::new()
        } else {
            format!("--config {} ", shell_word(&config.path.display().to_string()))
        };
        p.push(&format!(
            "<h2>By hand</h2><pre class=\"cli\" id=\"cli\">bunker {c}run {n}\nbunker {c}run {n} --verify\n\
             bunker {c}status {n}</pre>",
            c = esc(&config_arg),
            n = esc(&shell_word(&name))
        ));

        if let Some(s) = &status {
            if !s.incidents.is_empty() {
                p.push("<h2>Open incidents</h2>");
                p.push(&incident_rows(&shared, &v, &s.incidents));
            }
        }

        // Charts, oldest first.
        runs.reverse();
        let done: Vec<&Run> = runs
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Success | Outcome::Partial))
            .collect();
        let size: Vec<_> = done
            .iter()
            .filter_map(|r| r.total_size.map(|s| (r.started, s as f64)))
            .collect();
        let added: Vec<_> = done
            .iter()
            .map(|r| (r.started, r.bytes_added as f64))
            .collect();
        let duration: Vec<_> = runs
            .iter()
            .filter_map(|r| r.duration_seconds.map(|d| (r.started, d)))
            .collect();
        p.push("<h2>Over time</h2><div class=\"charts\">");
        let b = |v: f64| bytes(v as u64);
        p.push(&line("Backup size", &size, &b));
        p.push(&line("Bytes added", &added, &b));
        p.push(&line("Duration", &duration, &span));
        p.push("</div>");
        runs.reverse();

        p.push(&format!("<h2>Runs</h2><p>The last {RUNS_SHOWN}.</p>"));
        p.push(&run_rows(&runs));

        p.push("<h2>Drills</h2>");
        let drills = shared
            .catalog
            .drills(Some(&name), 50)
            .map_err(catalog_failed)?;
        p.push(&drill_table(&drills));
        Ok(p)
    })
    .await;
    viewer.finish(page)
}

/// `s` quoted for a POSIX shell when it needs it.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
