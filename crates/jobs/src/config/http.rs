//! `[daemon.http]`: what one client can make the daemon's HTTP server hold.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use crate::value::Span;

/// Bounds on the HTTP server's connections; the defaults suit a dashboard and a
/// Prometheus scraper on a small host. Read when the daemon starts.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpLimits {
    /// Connections served at once (1-65536); one more is answered 503 and closed.
    #[serde(default = "default_connections", deserialize_with = "connections")]
    pub max_connections: usize,
    /// Largest request line and headers together (1 KiB-1 MiB); more gets 431.
    #[serde(default = "default_header_bytes", deserialize_with = "header_bytes")]
    pub max_header_bytes: usize,
    /// Largest request body (1 B-1 GiB); more gets 413.
    #[serde(default = "default_body_bytes", deserialize_with = "body_bytes")]
    pub max_body_bytes: usize,
    /// How long a client may take to send a request head (counted from the connection
    /// or from the previous response), to send the next part of a body, or to read the
    /// next part of a response, before its connection is closed.
    #[serde(default = "default_idle")]
    pub idle_timeout: Span,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            max_connections: default_connections(),
            max_header_bytes: default_header_bytes(),
            max_body_bytes: default_body_bytes(),
            idle_timeout: default_idle(),
        }
    }
}

fn default_connections() -> usize {
    128
}

fn default_header_bytes() -> usize {
    16 * 1024
}

fn default_body_bytes() -> usize {
    1024 * 1024
}

fn default_idle() -> Span {
    Span(Duration::from_secs(15))
}

fn within<'de, D: Deserializer<'de>>(
    d: D,
    key: &str,
    range: (usize, usize),
) -> Result<usize, D::Error> {
    let n = usize::deserialize(d)?;
    if !(range.0..=range.1).contains(&n) {
        return Err(serde::de::Error::custom(format!(
            "{key} = {n}: use {} to {}",
            range.0, range.1
        )));
    }
    Ok(n)
}

fn connections<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    within(d, "max_connections", (1, 65_536))
}

fn header_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    within(d, "max_header_bytes", (1024, 1 << 20))
}

fn body_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    within(d, "max_body_bytes", (1, 1 << 30))
}
