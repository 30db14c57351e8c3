//! What a logged-in visitor can start: a run of a job now, or a run with its check and
//! drill forced ("drill now"). Each needs the form's CSRF token and is audited like
//! the API's.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use bunker_catalog::AuditEvent;
use serde::Deserialize;

use super::page::{problem, url};
use super::session::Viewer;
use crate::http::AppState;

#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
}

/// Refuses the action unless the visitor is logged in and the form is one of ours.
pub fn allowed(viewer: &Viewer, csrf: &str) -> Result<(), Box<Response>> {
    if !viewer.logged_in {
        return Err(Box::new(viewer.finish(problem(
            StatusCode::UNAUTHORIZED,
            viewer,
            "log in to act from the dashboard",
        ))));
    }
    if !viewer.csrf_ok(csrf) {
        return Err(Box::new(viewer.finish(problem(
            StatusCode::FORBIDDEN,
            viewer,
            "the form is not one this dashboard made (missing or wrong CSRF token)",
        ))));
    }
    Ok(())
}

async fn start(
    shared: AppState,
    viewer: Viewer,
    name: String,
    csrf: &str,
    drill: bool,
) -> Response {
    if let Err(r) = allowed(&viewer, csrf) {
        return *r;
    }
    let config = shared.config();
    let Some(job) = config.jobs.get(&name) else {
        return problem(
            StatusCode::NOT_FOUND,
            &viewer,
            &format!("no job named {name:?}"),
        );
    };
    if shared.is_running(&name) {
        return problem(
            StatusCode::CONFLICT,
            &viewer,
            &format!("job {name} is already running"),
        );
    }
    let action = if drill {
        "dashboard-drill"
    } else {
        "dashboard-run"
    };
    let event = AuditEvent::new(
        action,
        job.get_ref().repository.get_ref(),
        Some(&name),
        serde_json::json!({}),
    );
    let catalog = shared.catalog.clone();
    let _ = tokio::task::spawn_blocking(move || catalog.record_audit(&event)).await;
    shared.request(&name, drill);
    Redirect::to(&format!("/jobs/{}", url(&name))).into_response()
}

pub async fn run_now(
    State(shared): State<AppState>,
    Path(name): Path<String>,
    viewer: Viewer,
    Form(f): Form<ActionForm>,
) -> Response {
    start(shared, viewer, name, &f.csrf, false).await
}

pub async fn drill_now(
    State(shared): State<AppState>,
    Path(name): Path<String>,
    viewer: Viewer,
    Form(f): Form<ActionForm>,
) -> Response {
    start(shared, viewer, name, &f.csrf, true).await
}
