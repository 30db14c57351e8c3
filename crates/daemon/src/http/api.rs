//! The JSON API: `GET /api/v1/jobs`, `GET /api/v1/runs?job=…&limit=…` and
//! `POST /api/v1/jobs/{name}/run` (bearer token).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::json;

use super::reply::{blocking, error, json};
use super::{auth, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/jobs", get(jobs))
        .route("/api/v1/runs", get(runs))
        .route("/api/v1/jobs/{name}/run", post(run))
}

async fn jobs(State(shared): State<AppState>) -> Response {
    match blocking(move || shared.status()).await {
        Ok(status) => json(StatusCode::OK, status),
        Err(e) => e,
    }
}

#[derive(Deserialize)]
struct RunsQuery {
    job: Option<String>,
    /// At most this many runs, newest first (default 50, at most 1000).
    limit: Option<usize>,
}

async fn runs(State(shared): State<AppState>, Query(q): Query<RunsQuery>) -> Response {
    let limit = q.limit.unwrap_or(50).min(1000);
    let found = blocking(move || shared.catalog.runs(q.job.as_deref(), limit)).await;
    match found {
        Ok(Ok(runs)) => json(StatusCode::OK, runs),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => e,
    }
}

async fn run(
    State(shared): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let config = shared.config();
    if let Err(refused) = auth::bearer(&headers, &config) {
        return refused.into_response();
    }
    if !config.jobs.contains_key(&name) {
        return error(StatusCode::NOT_FOUND, format!("no job named {name:?}"));
    }
    if shared.is_running(&name) {
        return error(
            StatusCode::CONFLICT,
            format!("job {name} is already running"),
        );
    }
    shared.request_run(&name);
    json(StatusCode::ACCEPTED, json!({"accepted": true, "job": name}))
}
