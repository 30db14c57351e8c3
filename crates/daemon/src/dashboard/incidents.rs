//! `/incidents`: the open ones, and acknowledging one (a logged-in, CSRF-checked form).
//! An acknowledgement is kept in the catalog's marks and audited; it says someone is on
//! it, it does not close the incident (the condition clearing does).

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use bunker_catalog::AuditEvent;
use chrono::Utc;
use serde::Deserialize;

use super::actions::allowed;
use super::page::Page;
use super::session::{Reader, Viewer};
use super::{blocking_page, catalog_failed, incident_rows};
use crate::http::AppState;

/// The catalog mark that records when incident `key` was acknowledged.
pub fn ack_mark(key: &str) -> String {
    format!("ack:{key}")
}

pub async fn incidents(State(shared): State<AppState>, Reader(viewer): Reader) -> Response {
    let v = viewer.clone();
    let page = blocking_page(&viewer, move || {
        let open = shared.catalog.open_incidents().map_err(catalog_failed)?;
        let mut p = Page::new("Incidents", "/incidents");
        p.push(&format!("<p id=\"open-count\">{} open</p>", open.len()));
        p.push(&incident_rows(&shared, &v, &open));
        Ok(p)
    })
    .await;
    viewer.finish(page)
}

#[derive(Deserialize)]
pub struct AckForm {
    #[serde(default)]
    csrf: String,
    key: String,
}

pub async fn acknowledge(
    State(shared): State<AppState>,
    viewer: Viewer,
    Form(f): Form<AckForm>,
) -> Response {
    if let Err(r) = allowed(&viewer, &f.csrf) {
        return *r;
    }
    let done = tokio::task::spawn_blocking(move || -> Result<(), bunker_catalog::Error> {
        let Some(i) = shared
            .catalog
            .open_incidents()?
            .into_iter()
            .find(|i| i.key == f.key)
        else {
            return Ok(());
        };
        shared.catalog.set_mark(&ack_mark(&i.key), Utc::now())?;
        let repo = shared
            .config()
            .jobs
            .get(&i.job)
            .map(|j| j.get_ref().repository.get_ref().clone())
            .unwrap_or_default();
        let event = AuditEvent::new(
            "acknowledge",
            &repo,
            Some(&i.job),
            serde_json::json!({"incident": i.key, "kind": i.kind}),
        );
        shared.catalog.record_audit(&event)
    })
    .await;
    match done {
        Ok(Ok(())) => Redirect::to("/incidents").into_response(),
        Ok(Err(e)) => super::page::problem(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            &viewer,
            &e.to_string(),
        ),
        Err(e) => super::page::problem(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            &viewer,
            &e.to_string(),
        ),
    }
}
