//! Responses the route modules share: JSON bodies, errors, and work that must leave
//! the async threads.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// A JSON body with a status.
pub fn json(status: StatusCode, body: impl serde::Serialize) -> Response {
    (status, Json(body)).into_response()
}

/// `{"error": MESSAGE}` with a status.
pub fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    json(status, json!({ "error": message.to_string() }))
}

pub async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not found")
}

pub async fn method_not_allowed() -> Response {
    error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
}

/// Runs `work` (catalog queries, which block on SQLite) on the blocking pool, so that
/// a slow query holds up neither the other connections nor the accept loop.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Response> {
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("request failed: {e}"),
        )
    })
}
