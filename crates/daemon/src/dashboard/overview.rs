//! `/`: the worst state in a banner, a card per job, open incidents and objectives.

use std::fmt::Write;

use axum::extract::State;
use axum::response::Response;
use bunker_jobs::status::{Compliance, JobStatus};
use chrono::{TimeDelta, Utc};

use super::chart::strip;
use super::days::days;
use super::page::{esc, url, Page};
use super::session::Reader;
use super::words::{ago, bytes, retention, span, time};
use super::{blocking_page, incident_rows};
use crate::http::AppState;

/// Days in each job's strip.
const STRIP_DAYS: u32 = 30;

/// How bad a job's state is, worst highest.
fn severity(state: &str) -> u8 {
    match state {
        "failing" | "breached" => 4,
        "late" | "quota" => 3,
        "alert" => 2,
        "never run" => 1,
        _ => 0,
    }
}

fn compliance(c: Compliance) -> &'static str {
    match c {
        Compliance::Met => "met",
        Compliance::Breached => "breached",
        Compliance::Unknown => "unknown",
        Compliance::Unmeetable => "unmeetable by the schedule",
    }
}

pub async fn overview(State(shared): State<AppState>, Reader(viewer): Reader) -> Response {
    let v = viewer.clone();
    let page = blocking_page(&viewer, move || {
        let config = shared.config();
        let now = Utc::now();
        let jobs = shared.status();
        let mut p = Page::new("Overview", "/");
        p.live = true;
        let worst = jobs.iter().map(|j| j.state()).max_by_key(|s| severity(s));
        let (class, text) = match worst {
            None => ("idle", "No jobs are configured".to_string()),
            Some(s) if severity(s) == 0 => ("ok", "All jobs are ok".to_string()),
            Some(s) => {
                let bad: Vec<&str> = jobs
                    .iter()
                    .filter(|j| j.state() == s)
                    .map(|j| j.job.as_str())
                    .collect();
                (s, format!("{}: {}", s, bad.join(", ")))
            }
        };
        p.push(&format!(
            "<div class=\"banner {}\" id=\"banner\" data-state=\"{}\">{}</div>",
            class.replace(' ', "-"),
            esc(worst.unwrap_or("none")),
            esc(&text)
        ));
        p.push("<section class=\"cards\">");
        for j in &jobs {
            let cfg = config.jobs.get(&j.job).map(|c| c.get_ref());
            let runs = shared
                .catalog
                .runs_since(
                    Some(&j.job),
                    now - TimeDelta::days(i64::from(STRIP_DAYS)),
                    100_000,
                )
                .unwrap_or_default();
            let first_seen = shared.catalog.first_seen(&j.job, now).unwrap_or(now);
            let strip_html = cfg.map_or(String::new(), |c| {
                strip(&days(
                    c,
                    c.zone(&config.daemon),
                    &runs,
                    first_seen,
                    now,
                    STRIP_DAYS,
                ))
            });
            p.push(&card(
                j,
                cfg.map(|c| retention(c.retention.as_ref())),
                &strip_html,
                now,
            ));
        }
        p.push("</section>");

        p.push("<h2>Open incidents</h2>");
        let incidents = shared.catalog.open_incidents().unwrap_or_default();
        p.push(&incident_rows(&shared, &v, &incidents));

        p.push("<h2>Objectives</h2>");
        let rows = jobs.iter().map(|j| {
            vec![
                format!("<a href=\"/jobs/{}\">{}</a>", url(&j.job), esc(&j.job)),
                objective(j.rpo_seconds, j.rpo, j.age_seconds.map(|a| a as f64), "age"),
                objective(
                    j.rto_seconds,
                    j.rto,
                    j.last_drill.as_ref().map(|d| d.restore_seconds),
                    "last drill",
                ),
            ]
        });
        p.push(&super::page::table(&["job", "RPO", "RTO"], rows));
        Ok(p)
    })
    .await;
    viewer.finish(page)
}

fn objective(target: Option<u64>, c: Compliance, measured: Option<f64>, what: &str) -> String {
    let Some(t) = target else {
        return "<span class=\"muted\">not set</span>".into();
    };
    let m = measured.map_or("—".to_string(), span);
    format!(
        "<span class=\"objective {c}\" data-compliance=\"{c}\">{c}</span> target {t}, {what} {m}",
        c = compliance(c),
        t = esc(&span(t as f64)),
    )
}

fn card(
    j: &JobStatus,
    retention: Option<String>,
    strip: &str,
    now: chrono::DateTime<Utc>,
) -> String {
    let state = j.state();
    let running = j.labels.get("running").is_some_and(|v| v == "true");
    let mut c = format!(
        "<article class=\"card {cls}\" id=\"job-{id}\" data-job=\"{name}\" data-state=\"{st}\">\
         <h2><a href=\"/jobs/{id}\">{name}</a> <span class=\"state {cls}\">{st}</span>{run}</h2><dl>",
        cls = state.replace(' ', "-"),
        id = url(&j.job),
        name = esc(&j.job),
        st = esc(state),
        run = if running {
            " <span class=\"running\">running</span>"
        } else {
            ""
        },
    );
    let last = j.last_success.as_ref().map_or("never".to_string(), |r| {
        format!(
            "<a href=\"/runs/{}\">{}</a> ({})",
            r.id,
            esc(&time(r.started)),
            esc(&ago(r.started, now))
        )
    });
    let _ = write!(
        c,
        "<dt>last success</dt><dd class=\"last-success\">{last}</dd>"
    );
    if let Some(a) = &j.last_attempt {
        let _ = write!(
            c,
            "<dt>last run</dt><dd><a href=\"/runs/{}\">{}</a></dd>",
            a.id,
            esc(&format!("{:?}", a.outcome).to_lowercase())
        );
    }
    let next = j.next_run.map_or("—".to_string(), |t| {
        format!("{} ({})", time(t), ago(t, now))
    });
    let _ = write!(
        c,
        "<dt>next run</dt><dd>{}</dd><dt>schedule</dt><dd>{}</dd>",
        esc(&next),
        esc(j.schedule.as_deref().unwrap_or("only when asked"))
    );
    if let Some(size) = j.last_success.as_ref().and_then(|r| r.total_size) {
        let _ = write!(c, "<dt>backup size</dt><dd>{}</dd>", esc(&bytes(size)));
    }
    if let Some(r) = retention {
        let _ = write!(c, "<dt>retention</dt><dd>{}</dd>", esc(&r));
    }
    let _ = write!(
        c,
        "<dt>failures</dt><dd class=\"failures\">{}</dd></dl>{strip}</article>",
        j.failures_total
    );
    c
}
