//! Telling people about job events: JSON webhooks, Slack incoming webhooks, e-mail over
//! SMTP and healthchecks.io pings.
//!
//! A [`Notifier`] is one configured destination; [`Notifier::send`] delivers one
//! [`Event`] to it, blocking until the receiver answered or the notifier's timeout passed.
//! Errors never show a URL's path or query (Slack and webhook URLs carry their secret
//! there) nor a password: they name the endpoint by scheme, host and port only.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

mod email;
mod http;
#[cfg(test)]
mod tests;

/// What happened to a job. The alert kinds ([`EventKind::is_alert`]) open an incident
/// that a later [`EventKind::Recovery`] closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// A run started.
    Start,
    /// A run finished successfully.
    Success,
    /// A run failed.
    Failure,
    /// No successful run within the expected interval.
    Late,
    /// A backup's size is out of the expected range.
    Size,
    /// A run took longer than allowed.
    Duration,
    /// A repository or snapshot check failed.
    Verify,
    /// A restore drill failed.
    Drill,
    /// A source or repository could not be reached.
    Unreachable,
    /// A recovery objective (RPO/RTO) is not met.
    Objective,
    /// A repository uses more of its quota than its warning or critical share.
    Quota,
    /// A database's WAL archiving fails or falls behind.
    Archive,
    /// A notification to another target could not be delivered before it expired.
    Delivery,
    /// The condition behind an earlier alert is gone.
    Recovery,
    /// A test message sent on request, to prove the channel works.
    Test,
    /// A scheduled summary of every job (`[reports.NAME]`).
    Report,
}

const ALL_KINDS: [EventKind; 16] = [
    EventKind::Start,
    EventKind::Success,
    EventKind::Failure,
    EventKind::Late,
    EventKind::Size,
    EventKind::Duration,
    EventKind::Verify,
    EventKind::Drill,
    EventKind::Unreachable,
    EventKind::Objective,
    EventKind::Quota,
    EventKind::Archive,
    EventKind::Delivery,
    EventKind::Recovery,
    EventKind::Test,
    EventKind::Report,
];

impl EventKind {
    /// The kebab-case name used in configuration and in webhook payloads.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Start => "start",
            EventKind::Success => "success",
            EventKind::Failure => "failure",
            EventKind::Late => "late",
            EventKind::Size => "size",
            EventKind::Duration => "duration",
            EventKind::Verify => "verify",
            EventKind::Drill => "drill",
            EventKind::Unreachable => "unreachable",
            EventKind::Objective => "objective",
            EventKind::Quota => "quota",
            EventKind::Archive => "archive",
            EventKind::Delivery => "delivery",
            EventKind::Recovery => "recovery",
            EventKind::Test => "test",
            EventKind::Report => "report",
        }
    }

    /// Every kind, in declaration order.
    pub fn all() -> &'static [EventKind] {
        &ALL_KINDS
    }

    /// True for the kinds that mean something is wrong: `failure` through `delivery`.
    pub fn is_alert(self) -> bool {
        matches!(
            self,
            EventKind::Failure
                | EventKind::Late
                | EventKind::Size
                | EventKind::Duration
                | EventKind::Verify
                | EventKind::Drill
                | EventKind::Unreachable
                | EventKind::Objective
                | EventKind::Quota
                | EventKind::Archive
                | EventKind::Delivery
        )
    }

    /// A short upper-case word for message headings ("FAILED", "RECOVERED").
    pub(crate) fn label(self) -> &'static str {
        match self {
            EventKind::Start => "STARTED",
            EventKind::Success => "OK",
            EventKind::Failure => "FAILED",
            EventKind::Late => "LATE",
            EventKind::Size => "SIZE",
            EventKind::Duration => "SLOW",
            EventKind::Verify => "VERIFY FAILED",
            EventKind::Drill => "DRILL FAILED",
            EventKind::Unreachable => "UNREACHABLE",
            EventKind::Objective => "OBJECTIVE MISSED",
            EventKind::Quota => "QUOTA",
            EventKind::Archive => "ARCHIVING",
            EventKind::Delivery => "UNDELIVERED",
            EventKind::Recovery => "RECOVERED",
            EventKind::Test => "TEST",
            EventKind::Report => "REPORT",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = String;

    fn from_str(s: &str) -> Result<EventKind, String> {
        ALL_KINDS
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = ALL_KINDS.iter().map(|k| k.as_str()).collect();
                format!("unknown event {s:?}: expected one of {}", names.join(", "))
            })
    }
}

/// One thing to tell people about, with enough context to act on it. It is stored (as
/// JSON) in the outbox until delivered, so it reads back as it was written.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Event {
    pub kind: EventKind,
    pub job: String,
    /// One line, e.g. "backup db failed: pg_dump: connection refused".
    pub title: String,
    /// Free text, possibly several lines.
    pub detail: String,
    pub time: DateTime<Utc>,
    pub host: String,
    /// The alert key: the same for an alert and the recovery that ends it.
    pub incident: Option<String>,
    /// Measurements such as `duration_seconds`, `bytes_added`, `snapshot`.
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// The same as `detail`, as an HTML document (a report with its charts): e-mail
    /// sends both as `multipart/alternative`; the other channels ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
}

impl Event {
    /// The time as RFC 3339 in UTC with whole seconds.
    pub(crate) fn time_rfc3339(&self) -> String {
        self.time.to_rfc3339_opts(SecondsFormat::Secs, true)
    }
}

/// How an e-mail notifier secures its SMTP connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tls {
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587).
    #[default]
    #[serde(rename = "starttls")]
    StartTls,
    /// TLS from the first byte, "SMTPS" (port 465).
    Tls,
    /// No encryption (port 25); only for a relay on a trusted network.
    None,
}

impl Tls {
    /// The usual port for this kind of connection.
    pub fn default_port(self) -> u16 {
        match self {
            Tls::StartTls => 587,
            Tls::Tls => 465,
            Tls::None => 25,
        }
    }
}

/// Where a notifier sends its messages.
#[derive(Clone, Debug)]
pub enum Channel {
    Webhook(Webhook),
    Slack(Slack),
    Email(Email),
    Healthchecks(Healthchecks),
}

/// A JSON POST to any URL, with extra headers (for example an `Authorization` token).
#[derive(Clone)]
pub struct Webhook {
    pub url: String,
    pub headers: Vec<(String, String)>,
}

/// A Slack incoming webhook (`https://hooks.slack.com/services/...`).
#[derive(Clone)]
pub struct Slack {
    pub url: String,
}

/// E-mail through an SMTP server.
#[derive(Clone)]
pub struct Email {
    pub host: String,
    /// `None`: the usual port for [`Email::tls`].
    pub port: Option<u16>,
    pub tls: Tls,
    /// With a username the client authenticates (AUTH PLAIN or LOGIN).
    pub username: Option<String>,
    pub password: Option<String>,
    pub from: String,
    pub to: Vec<String>,
    /// Trust any certificate, e.g. a self-signed one on a test server.
    pub accept_invalid_certs: bool,
}

/// A healthchecks.io (or self-hosted Healthchecks) check, by its ping URL.
#[derive(Clone)]
pub struct Healthchecks {
    pub url: String,
}

// Debug output ends up in logs: it shows no secret (URL paths, header values, passwords).
impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Webhook")
            .field("url", &http::endpoint(&self.url))
            .field("headers", &names)
            .finish()
    }
}

impl fmt::Debug for Slack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slack")
            .field("url", &http::endpoint(&self.url))
            .finish()
    }
}

impl fmt::Debug for Healthchecks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Healthchecks")
            .field("url", &http::endpoint(&self.url))
            .finish()
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Email")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .field("to", &self.to)
            .field("accept_invalid_certs", &self.accept_invalid_certs)
            .finish()
    }
}

/// One configured destination: a name for messages and errors, a channel, the event
/// kinds it wants, and how long one delivery may take.
#[derive(Clone, Debug)]
pub struct Notifier {
    pub name: String,
    pub channel: Channel,
    pub events: Vec<EventKind>,
    /// Bounds connecting and the whole delivery.
    pub timeout: Duration,
}

impl Notifier {
    /// The events a notifier gets when its configuration names none: every alert, the
    /// recovery and test messages; healthchecks also gets start and success, which are
    /// what keeps a check green.
    pub fn default_events(channel: &Channel) -> Vec<EventKind> {
        let heartbeat = matches!(channel, Channel::Healthchecks(_));
        ALL_KINDS
            .iter()
            .copied()
            .filter(|k| match k {
                EventKind::Start | EventKind::Success => heartbeat,
                _ => true,
            })
            .collect()
    }

    /// True if this notifier is configured to receive events of kind `k`.
    pub fn wants(&self, k: EventKind) -> bool {
        self.events.contains(&k)
    }

    /// Delivers `e` now, whatever its kind; blocks up to [`Notifier::timeout`]. Call it from
    /// a thread that may block (not from inside an async runtime's worker).
    pub fn send(&self, e: &Event) -> Result<(), Error> {
        match &self.channel {
            Channel::Webhook(w) => http::webhook(self, w, e),
            Channel::Slack(s) => http::slack(self, s, e),
            Channel::Healthchecks(h) => http::healthchecks(self, h, e),
            Channel::Email(m) => email::send(self, m, e),
        }
    }
}

/// How long after its `attempt`-th failed try (1 for the first) a notification is
/// tried again: 5 s, doubling, at most 10 minutes. A receiver back after a short outage
/// hears within seconds; one down for hours gets six tries an hour.
pub fn retry_delay(attempt: u32) -> Duration {
    const FIRST: Duration = Duration::from_secs(5);
    const MOST: Duration = Duration::from_secs(600);
    let doublings = attempt.saturating_sub(1).min(16);
    (FIRST * (1u32 << doublings)).min(MOST)
}

/// Why a notification was not delivered. The text is one line naming the notifier.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration cannot work (a malformed URL, address or header).
    #[error("notifier {notifier}: {problem}")]
    Config { notifier: String, problem: String },
    /// The HTTP endpoint answered with a status other than 2xx.
    #[error("notifier {notifier}: {endpoint} answered HTTP {status}: {body}")]
    Status {
        notifier: String,
        /// Scheme, host and port only.
        endpoint: String,
        status: u16,
        /// The start of the response body on one line, without the URL's path or query.
        body: String,
    },
    /// The request did not get an answer: refused, unresolvable, TLS failure, timeout.
    #[error("notifier {notifier}: cannot reach {endpoint}: {reason}")]
    Unreachable {
        notifier: String,
        endpoint: String,
        reason: String,
    },
    /// The SMTP dialogue failed or the server refused the message.
    #[error("notifier {notifier}: SMTP server {server}: {reason}")]
    Smtp {
        notifier: String,
        /// `host:port`.
        server: String,
        reason: String,
        /// The server's reply or the failure suggests that a later try may succeed.
        transient: bool,
    },
}

impl Error {
    /// True if sending again later may succeed (network trouble, a 5xx or 429 answer, a
    /// temporary SMTP refusal); false for configuration and permanent refusals.
    pub fn is_temporary(&self) -> bool {
        match self {
            Error::Config { .. } => false,
            Error::Status { status, .. } => matches!(status, 408 | 425 | 429 | 500..=599),
            Error::Unreachable { .. } => true,
            Error::Smtp { transient, .. } => *transient,
        }
    }
}

/// An error's message followed by those of its sources, skipping a source whose text
/// the previous message already contains.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// `s` on one line, cut to at most `max` characters (an ellipsis marks the cut).
pub(crate) fn one_line(s: &str, max: usize) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate(&flat, max)
}

/// `s` cut to at most `max` characters (an ellipsis marks the cut).
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let kept: String = s.chars().take(max.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// A field value as a person reads it: strings without quotes, the rest as JSON.
pub(crate) fn field_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
