//! Tests against real sockets: in-process HTTP and SMTP listeners, and the SMTP and HTTP
//! receivers of the CLI integration tests (shared with them by path).

#[path = "../../../../tests/cli/servers/http_recorder.rs"]
#[allow(dead_code)]
mod http_recorder;
#[path = "../../../../tests/cli/servers/smtp.rs"]
#[allow(dead_code)]
mod smtp;

mod email;
mod http;
mod kinds;

use std::time::Duration;

use chrono::TimeZone;

use crate::{Channel, Event, EventKind, Notifier};

/// A failure event with a detail on two lines and two fields.
fn event(kind: EventKind) -> Event {
    let mut fields = serde_json::Map::new();
    fields.insert("duration_seconds".into(), 12.5.into());
    fields.insert("bytes_added".into(), 1234.into());
    Event {
        kind,
        job: "db".into(),
        title: "backup db failed: pg_dump: connection refused".into(),
        detail: "pg_dump: error: connection to server failed\nis the server running?".into(),
        time: chrono::Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap(),
        host: "db1.example.com".into(),
        incident: Some("db/failure".into()),
        fields,
        html: None,
    }
}

fn notifier(channel: Channel, timeout: Duration) -> Notifier {
    Notifier {
        name: "ops".into(),
        events: Notifier::default_events(&channel),
        channel,
        timeout,
    }
}
