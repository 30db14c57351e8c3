//! The daemon's HTTP endpoint: `/healthz`, `/metrics`, `/api/v1/jobs`,
//! `/api/v1/runs?job=…` and `POST /api/v1/jobs/{name}/run` (bearer token).

use std::io::Cursor;
use std::sync::Arc;

use serde_json::json;
use tiny_http::{Header, Method, Request, Response, Server};

use crate::state::Shared;

type Reply = Response<Cursor<Vec<u8>>>;

fn header(k: &str, v: &str) -> Header {
    Header::from_bytes(k.as_bytes(), v.as_bytes()).expect("valid header")
}

fn json_reply(status: u16, v: serde_json::Value) -> Reply {
    Response::from_string(v.to_string())
        .with_status_code(status)
        .with_header(header("Content-Type", "application/json"))
}

fn text_reply(status: u16, body: String, content_type: &str) -> Reply {
    Response::from_string(body)
        .with_status_code(status)
        .with_header(header("Content-Type", content_type))
}

/// Serves requests until the server is unblocked (the daemon is stopping).
pub fn serve(server: Arc<Server>, shared: Arc<Shared>) {
    for req in server.incoming_requests() {
        let reply = route(&req, &shared);
        let _ = req.respond(reply);
    }
}

fn query_param<'a>(url: &'a str, key: &str) -> Option<&'a str> {
    let (_, query) = url.split_once('?')?;
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

fn route(req: &Request, shared: &Shared) -> Reply {
    let url = req.url().to_string();
    let path = url.split('?').next().unwrap_or("");
    match (req.method(), path) {
        (Method::Get, "/healthz") => json_reply(
            200,
            json!({"status": "ok", "running": shared.running_jobs(), "jobs": shared.config().jobs.len()}),
        ),
        (Method::Get, "/metrics") => text_reply(
            200,
            shared.metrics(),
            "text/plain; version=0.0.4; charset=utf-8",
        ),
        (Method::Get, "/api/v1/jobs") => json_reply(
            200,
            serde_json::to_value(shared.status()).unwrap_or_default(),
        ),
        (Method::Get, "/api/v1/runs") => {
            let job = query_param(&url, "job");
            let limit = query_param(&url, "limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(50usize)
                .min(1000);
            match shared.catalog.runs(job, limit) {
                Ok(runs) => json_reply(200, serde_json::to_value(runs).unwrap_or_default()),
                Err(e) => json_reply(500, json!({"error": e.to_string()})),
            }
        }
        (Method::Post, p) if p.starts_with("/api/v1/jobs/") && p.ends_with("/run") => {
            let name = &p["/api/v1/jobs/".len()..p.len() - "/run".len()];
            run_request(req, shared, name)
        }
        (_, "/healthz" | "/metrics" | "/api/v1/jobs" | "/api/v1/runs") => {
            json_reply(405, json!({"error": "method not allowed"}))
        }
        _ => json_reply(404, json!({"error": "not found"})),
    }
}

fn run_request(req: &Request, shared: &Shared, name: &str) -> Reply {
    let config = shared.config();
    let Some(token) = &config.daemon.api_token else {
        return json_reply(
            403,
            json!({"error": "no api_token in [daemon]: the run endpoint is disabled"}),
        );
    };
    let given = req
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .map(|h| h.value.as_str().to_string())
        .unwrap_or_default();
    let expected = format!("Bearer {}", token.expose());
    if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        return json_reply(401, json!({"error": "missing or wrong bearer token"}));
    }
    if !config.jobs.contains_key(name) {
        return json_reply(404, json!({"error": format!("no job named {name:?}")}));
    }
    if shared.is_running(name) {
        return json_reply(
            409,
            json!({"error": format!("job {name} is already running")}),
        );
    }
    shared.request_run(name);
    json_reply(202, json!({"accepted": true, "job": name}))
}

/// Compares secrets without leaking where they differ through timing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
