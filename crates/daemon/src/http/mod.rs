//! The daemon's HTTP server: axum routes served by hyper on a tokio runtime of its own.
//!
//! [`server`] owns the connections and the bounds on what one client can make the
//! daemon hold (`[daemon.http]`: connections, request head and body size, idle time).
//! The routes are grouped by concern, one module each, and every module hands
//! [`router`] a `Router<AppState>` of its own: [`ops`] for monitoring (`/healthz`,
//! `/metrics`), [`api`] for the JSON API under `/api/v1`, and the web dashboard
//! (`crate::dashboard`) for everything else. A new group of pages or
//! actions is one more module merged here; [`auth`] and [`reply`] are what they share.

mod api;
mod auth;
mod ops;
mod reply;
mod server;
mod stall;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use bunker_jobs::config::HttpLimits;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;

use crate::state::Shared;

pub(crate) use auth::constant_time_eq;
pub use server::HttpServer;

/// What every handler is given: the daemon's shared state.
pub(crate) type AppState = Arc<Shared>;

/// Every route of the daemon, with the body limits applied to all of them.
pub fn router(shared: Arc<Shared>, limits: &HttpLimits) -> Router {
    Router::new()
        .merge(ops::routes())
        .merge(api::routes())
        .merge(crate::dashboard::routes())
        .fallback(reply::not_found)
        .method_not_allowed_fallback(reply::method_not_allowed)
        // Extractors (forms, JSON) stop reading at the limit with 413 ...
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        // ... a body a client trickles in is cut after the idle time ...
        .layer(RequestBodyTimeoutLayer::new(limits.idle_timeout.0))
        // ... and a declared Content-Length over the limit is refused before routing.
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        .with_state(shared)
}
