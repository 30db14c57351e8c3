//! Monitoring endpoints: `/healthz` for liveness probes, `/metrics` for Prometheus.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;

use super::reply::{blocking, json};
use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
}

async fn healthz(State(shared): State<AppState>) -> Response {
    json(
        StatusCode::OK,
        json!({
            "status": "ok",
            "running": shared.running_jobs(),
            "jobs": shared.config().jobs.len(),
        }),
    )
}

async fn metrics(State(shared): State<AppState>) -> Response {
    match blocking(move || shared.metrics()).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => e,
    }
}
