//! The web dashboard: pages rendered on the server from the catalog and the
//! repositories, charts as inline SVG, one small script (live refresh) and one style
//! sheet served from the binary. Reading needs a login unless `[daemon.dashboard]
//! loopback_read` opens it to loopback; every action needs a login and the form's CSRF
//! token. Nothing secret is rendered: passwords, tokens and DSNs never reach a page.
//!
//! One module per page or group of pages; [`page`] is the frame, [`session`] who is
//! looking, [`store`] the repositories behind the pages.

mod actions;
mod audit;
pub(crate) mod chart;
mod days;
mod download;
mod drills;
mod incidents;
mod job;
mod login;
mod overview;
pub(crate) mod page;
mod repository;
mod run;
mod session;
mod snapshots;
mod store;
pub(crate) mod words;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bunker_catalog::Incident;

use crate::http::AppState;
use page::{esc, url, Page};
pub use session::hash_password;
use session::{Sessions, Viewer};

/// What the dashboard keeps between requests.
#[derive(Default)]
pub struct Dashboard {
    sessions: Sessions,
    repositories: store::Repositories,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(overview::overview))
        .route("/jobs/{name}", get(job::job))
        .route("/runs/{id}", get(run::run))
        .route("/repositories", get(repository::list))
        .route("/repositories/{name}", get(repository::repository))
        .route("/snapshots", get(snapshots::list))
        .route("/snapshots/{repo}/{id}", get(snapshots::tree))
        .route("/snapshots/{repo}/{id}/file", get(download::file))
        .route("/snapshots/{repo}/{id}/tar", get(download::tar))
        .route("/incidents", get(incidents::incidents))
        .route("/incidents/acknowledge", post(incidents::acknowledge))
        .route("/drills", get(drills::drills))
        .route("/audit", get(audit::audit))
        .route("/jobs/{name}/run", post(actions::run_now))
        .route("/jobs/{name}/drill", post(actions::drill_now))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/assets/style.css", get(style))
        .route("/assets/live.js", get(live))
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", include_str!("assets/style.css"))
}

async fn live() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/live.js"),
    )
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// Why a page could not be made: a status and a message for the visitor.
type Failed = (StatusCode, String);

/// Builds a page on the blocking pool (catalog and repository reads block) and renders
/// it for `viewer`; a failure becomes a page that says what went wrong.
async fn blocking_page(
    viewer: &Viewer,
    build: impl FnOnce() -> Result<Page, Failed> + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(build).await {
        Ok(Ok(p)) => p.render(viewer),
        Ok(Err((status, msg))) => page::problem(status, viewer, &msg),
        Err(e) => page::problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            viewer,
            &format!("the page failed: {e}"),
        ),
    }
}

/// The catalog's error as a page's failure.
fn catalog_failed(e: bunker_catalog::Error) -> Failed {
    (StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// Open incidents as a table, with an "acknowledge" button for a logged-in viewer.
fn incident_rows(shared: &AppState, viewer: &Viewer, incidents: &[Incident]) -> String {
    let rows = incidents.iter().map(|i| {
        let acked = shared
            .catalog
            .mark(&incidents::ack_mark(&i.key))
            .ok()
            .flatten()
            .filter(|at| *at >= i.opened);
        let action = match acked {
            Some(at) => format!(
                "<span class=\"acked\">acknowledged {}</span>",
                esc(&words::time(at))
            ),
            None if viewer.logged_in => format!(
                "<form method=\"post\" action=\"/incidents/acknowledge\">{}\
                 <input type=\"hidden\" name=\"key\" value=\"{}\">\
                 <button type=\"submit\">Acknowledge</button></form>",
                viewer.csrf_field(),
                esc(&i.key)
            ),
            None => String::new(),
        };
        vec![
            format!("<a href=\"/jobs/{}\">{}</a>", url(&i.job), esc(&i.job)),
            format!("<span class=\"kind {0}\">{0}</span>", esc(&i.kind)),
            esc(&i.detail),
            esc(&words::time(i.opened)),
            action,
        ]
    });
    page::table(&["job", "kind", "what", "since", ""], rows)
}
