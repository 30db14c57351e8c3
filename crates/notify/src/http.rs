//! The HTTP channels: JSON webhook, Slack incoming webhook and healthchecks.io pings.

use std::io::Read;

use reqwest::blocking::Client;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::Url;
use serde_json::{json, Value};

use crate::{error_chain, field_text, one_line, truncate, Error, Event, EventKind};
use crate::{Healthchecks, Notifier, Slack, Webhook};

/// How much of an error response body is read, and how much of it the error shows.
const BODY_READ_LIMIT: u64 = 4096;
const BODY_EXCERPT_CHARS: usize = 200;

/// Healthchecks stores at most 100 kB of a ping body; a log needs far less.
const PING_BODY_CHARS: usize = 10_000;

/// Slack cuts a section's text at 3,000 characters.
const SLACK_SECTION_CHARS: usize = 2_900;

/// `scheme://host[:port]` of `url`: how errors and logs name an endpoint without the
/// secrets that webhook URLs carry in their path, query or user info.
pub(crate) fn endpoint(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) if u.has_host() => u.origin().ascii_serialization(),
        _ => "<invalid URL>".to_string(),
    }
}

/// POSTs the event as JSON, with the configured extra headers.
pub(crate) fn webhook(n: &Notifier, w: &Webhook, e: &Event) -> Result<(), Error> {
    let mut headers = HeaderMap::new();
    for (name, value) in &w.headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| Error::Config {
            notifier: n.name.clone(),
            problem: format!("invalid HTTP header name {name:?}"),
        })?;
        // The value may be a token: the error names only the header.
        let value = HeaderValue::from_str(value).map_err(|_| Error::Config {
            notifier: n.name.clone(),
            problem: format!("invalid value for HTTP header {name}"),
        })?;
        headers.append(name, value);
    }
    post(n, &w.url, headers, webhook_body(e))
}

/// The webhook payload: the event with `kind` named `event` and the time in RFC 3339.
pub(crate) fn webhook_body(e: &Event) -> Value {
    json!({
        "event": e.kind,
        "job": e.job,
        "title": e.title,
        "detail": e.detail,
        "time": e.time_rfc3339(),
        "host": e.host,
        "incident": e.incident,
        "fields": e.fields,
    })
}

/// POSTs a Slack incoming-webhook message.
pub(crate) fn slack(n: &Notifier, s: &Slack, e: &Event) -> Result<(), Error> {
    post(n, &s.url, HeaderMap::new(), slack_body(e))
}

/// A Slack message: `text` (shown in notifications and by clients without blocks) and
/// blocks with the heading, the detail as preformatted text, and the context.
pub(crate) fn slack_body(e: &Event) -> Value {
    let heading = format!(
        "[bunker] {} {}: {}",
        e.kind.label(),
        e.job,
        one_line(&e.title, 300)
    );
    let detail = truncate(e.detail.trim_end(), SLACK_SECTION_CHARS);
    let mut text = slack_escape(&heading);
    if !detail.is_empty() {
        text.push('\n');
        text.push_str(&slack_escape(&detail));
    }
    let mut blocks = vec![json!({
        "type": "section",
        "text": {"type": "mrkdwn", "text": format!("*{}*", slack_escape(&heading))},
    })];
    if !detail.is_empty() {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": format!("```{}```", slack_escape(&detail))},
        }));
    }
    let mut context = vec![format!("host {}", e.host), e.time_rfc3339()];
    if let Some(i) = &e.incident {
        context.push(format!("incident {i}"));
    }
    context.extend(
        e.fields
            .iter()
            .map(|(k, v)| format!("{k} {}", field_text(v))),
    );
    blocks.push(json!({
        "type": "context",
        "elements": [{
            "type": "mrkdwn",
            "text": truncate(&slack_escape(&context.join(" · ")), SLACK_SECTION_CHARS),
        }],
    }));
    json!({"text": text, "blocks": blocks})
}

/// Slack reads `&`, `<` and `>` as markup (`<!channel>` would ping everyone).
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Pings the check: `/start` for a start, the bare URL for a success or recovery,
/// `/fail` for an alert and `/log` (recorded, no state change) for a test. The body is
/// the title and detail, which Healthchecks shows in the check's log.
pub(crate) fn healthchecks(n: &Notifier, h: &Healthchecks, e: &Event) -> Result<(), Error> {
    let suffix = match e.kind {
        EventKind::Start => Some("start"),
        EventKind::Success | EventKind::Recovery => None,
        EventKind::Test => Some("log"),
        _ => Some("fail"),
    };
    let mut url = parse_url(n, &h.url)?;
    if let Some(suffix) = suffix {
        url.path_segments_mut()
            .map_err(|()| invalid_url(n))?
            .pop_if_empty()
            .push(suffix);
    }
    let mut body = e.title.clone();
    if !e.detail.is_empty() {
        body.push_str("\n\n");
        body.push_str(&e.detail);
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    send(
        n,
        url,
        headers,
        truncate(&body, PING_BODY_CHARS).into_bytes(),
    )
}

fn post(n: &Notifier, url: &str, mut headers: HeaderMap, body: Value) -> Result<(), Error> {
    let url = parse_url(n, url)?;
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    send(n, url, headers, body.to_string().into_bytes())
}

fn parse_url(n: &Notifier, url: &str) -> Result<Url, Error> {
    match Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Ok(u),
        _ => Err(invalid_url(n)),
    }
}

fn invalid_url(n: &Notifier) -> Error {
    Error::Config {
        notifier: n.name.clone(),
        problem: "the URL is not a valid http:// or https:// URL".to_string(),
    }
}

/// POSTs `body` to `url`; a 2xx answer is success.
fn send(n: &Notifier, url: Url, headers: HeaderMap, body: Vec<u8>) -> Result<(), Error> {
    let endpoint = url.origin().ascii_serialization();
    let unreachable = |reason: String| Error::Unreachable {
        notifier: n.name.clone(),
        endpoint: endpoint.clone(),
        reason: scrub(&reason, &url),
    };
    let client = Client::builder()
        .connect_timeout(n.timeout)
        .timeout(n.timeout)
        .user_agent(concat!("bunker/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| unreachable(error_chain(&e.without_url())))?;
    let response = client
        .post(url.clone())
        .headers(headers)
        .body(body)
        .send()
        .map_err(|e| {
            let timed_out = e.is_timeout();
            let reason = error_chain(&e.without_url());
            unreachable(if timed_out {
                format!("no answer within {:?} ({reason})", n.timeout)
            } else {
                reason
            })
        })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let mut raw = Vec::new();
    // The body only explains the status; failing to read it changes nothing.
    let _ = response.take(BODY_READ_LIMIT).read_to_end(&mut raw);
    let text = one_line(&String::from_utf8_lossy(&raw), BODY_EXCERPT_CHARS);
    Err(Error::Status {
        notifier: n.name.clone(),
        endpoint,
        status: status.as_u16(),
        body: if text.is_empty() {
            "(empty body)".to_string()
        } else {
            scrub(&text, &url)
        },
    })
}

/// `text` without the URL, its path or its query: a server's error page or a client
/// library's message may echo them, and they can hold the webhook's secret.
fn scrub(text: &str, url: &Url) -> String {
    let mut out = text.replace(url.as_str(), &url.origin().ascii_serialization());
    let path = url.path();
    if let Some(q) = url.query().filter(|q| !q.is_empty()) {
        out = out.replace(q, "…");
    }
    if path.len() > 1 {
        out = out.replace(path, "/…");
    }
    out
}
