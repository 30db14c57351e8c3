//! Webhook, Slack and healthchecks against the HTTP recorder on a loopback port.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use super::http_recorder::HttpRecorder;
use super::{event, notifier};
use crate::{Channel, Error, EventKind, Healthchecks, Slack, Webhook};

const TIMEOUT: Duration = Duration::from_secs(10);

fn webhook(url: String, headers: &[(&str, &str)]) -> Channel {
    Channel::Webhook(Webhook {
        url,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    })
}

#[test]
fn webhook_posts_the_event_as_json_with_the_configured_headers() {
    let rec = HttpRecorder::start();
    let n = notifier(
        webhook(
            rec.url("/hooks/bunker?token=abc"),
            &[("Authorization", "Bearer s3cret"), ("X-Team", "ops")],
        ),
        TIMEOUT,
    );
    n.send(&event(EventKind::Failure)).unwrap();
    let reqs = rec.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/hooks/bunker?token=abc")
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("authorization"), Some("Bearer s3cret"));
    assert_eq!(r.header("x-team"), Some("ops"));
    let j = r.json();
    assert_eq!(j["event"], "failure");
    assert_eq!(j["job"], "db");
    assert_eq!(j["title"], "backup db failed: pg_dump: connection refused");
    assert_eq!(j["detail"], event(EventKind::Failure).detail);
    assert_eq!(j["time"], "2024-05-06T07:08:09Z");
    assert_eq!(j["host"], "db1.example.com");
    assert_eq!(j["incident"], "db/failure");
    assert_eq!(j["fields"]["bytes_added"], 1234);
    assert_eq!(j["fields"]["duration_seconds"], 12.5);
    let mut keys: Vec<&String> = j.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["detail", "event", "fields", "host", "incident", "job", "time", "title"]
    );
}

#[test]
fn slack_message_has_a_plain_text_line_and_escaped_blocks() {
    let rec = HttpRecorder::start();
    let n = notifier(
        Channel::Slack(Slack {
            url: rec.url("/services/T0/B0/xyz"),
        }),
        TIMEOUT,
    );
    let mut e = event(EventKind::Failure);
    e.detail = "disk <full> & <!channel>".into();
    n.send(&e).unwrap();
    let j = rec.requests()[0].json();
    let text = j["text"].as_str().unwrap();
    assert!(
        text.starts_with("[bunker] FAILED db: backup db failed: pg_dump: connection refused\n"),
        "{text}"
    );
    assert!(
        text.contains("disk &lt;full&gt; &amp; &lt;!channel&gt;"),
        "{text}"
    );
    assert!(!text.contains("<!channel>"), "{text}");
    let blocks = j["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "section");
    assert_eq!(blocks[0]["text"]["type"], "mrkdwn");
    assert_eq!(blocks.last().unwrap()["type"], "context");
    let context = blocks.last().unwrap()["elements"][0]["text"]
        .as_str()
        .unwrap();
    assert!(context.contains("db1.example.com") && context.contains("bytes_added 1234"));
}

#[test]
fn healthchecks_pings_start_success_fail_and_log_with_the_reason_as_body() {
    let rec = HttpRecorder::start();
    for base in [rec.url("/ping/abc"), rec.url("/ping/abc/")] {
        let n = notifier(Channel::Healthchecks(Healthchecks { url: base }), TIMEOUT);
        for kind in [
            EventKind::Start,
            EventKind::Success,
            EventKind::Late,
            EventKind::Failure,
            EventKind::Recovery,
            EventKind::Test,
        ] {
            n.send(&event(kind)).unwrap();
        }
    }
    let reqs = rec.requests();
    let paths: Vec<&str> = reqs.iter().map(|r| r.path.as_str()).collect();
    let once = [
        "/ping/abc/start",
        "/ping/abc",
        "/ping/abc/fail",
        "/ping/abc/fail",
        "/ping/abc",
        "/ping/abc/log",
    ];
    assert_eq!(paths[..6], once);
    // A trailing slash in the configured URL changes nothing but the bare ping.
    assert_eq!(paths[6..8], ["/ping/abc/start", "/ping/abc/"]);
    let fail = &reqs[2];
    assert_eq!(fail.method, "POST");
    let e = event(EventKind::Late);
    assert_eq!(fail.text(), format!("{}\n\n{}", e.title, e.detail));

    // A query (e.g. `?create=1` for slug URLs) stays after the suffix.
    let n = notifier(
        Channel::Healthchecks(Healthchecks {
            url: rec.url("/key/db-backup?create=1"),
        }),
        TIMEOUT,
    );
    n.send(&event(EventKind::Start)).unwrap();
    assert_eq!(
        rec.requests().last().unwrap().path,
        "/key/db-backup/start?create=1"
    );
}

#[test]
fn an_error_status_names_the_host_and_status_but_not_the_secret_path() {
    let rec = HttpRecorder::start();
    let path = "/services/T0/B0/SECRETTOKEN";
    rec.respond(
        path,
        500,
        "internal error handling /services/T0/B0/SECRETTOKEN\n",
    );
    let n = notifier(
        Channel::Slack(Slack {
            url: rec.url(&format!("{path}?sig=QUERYSECRET")),
        }),
        TIMEOUT,
    );
    let err = n.send(&event(EventKind::Failure)).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Status { status: 500, .. }), "{err:?}");
    assert!(err.is_temporary());
    assert!(text.starts_with("notifier ops: "), "{text}");
    assert!(
        text.contains(&format!("http://127.0.0.1:{}", rec.port)),
        "{text}"
    );
    assert!(
        text.contains("HTTP 500") && text.contains("internal error"),
        "{text}"
    );
    assert!(
        !text.contains("SECRETTOKEN") && !text.contains("QUERYSECRET"),
        "{text}"
    );
    assert!(!text.contains('\n'), "{text}");

    rec.respond("/bad", 400, "invalid_payload");
    let n = notifier(webhook(rec.url("/bad"), &[]), TIMEOUT);
    let err = n.send(&event(EventKind::Test)).unwrap_err();
    assert!(!err.is_temporary());
    assert!(
        err.to_string().ends_with("HTTP 400: invalid_payload"),
        "{err}"
    );
}

#[test]
fn a_refused_connection_fails_fast_without_the_path() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let n = notifier(
        webhook(format!("http://127.0.0.1:{port}/hook/SECRET"), &[]),
        Duration::from_secs(5),
    );
    let start = Instant::now();
    let err = n.send(&event(EventKind::Failure)).unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    let text = err.to_string();
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
    assert!(err.is_temporary());
    assert!(
        text.contains(&format!("cannot reach http://127.0.0.1:{port}")),
        "{text}"
    );
    assert!(!text.contains("SECRET"), "{text}");
}

#[test]
fn a_silent_server_times_out_within_the_timeout() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    // Accepts and reads nothing, answers nothing; holds the connection until dropped.
    let held = std::thread::spawn(move || l.accept().map(|(s, _)| s));
    let n = notifier(
        webhook(format!("http://127.0.0.1:{port}/hook"), &[]),
        Duration::from_millis(500),
    );
    let start = Instant::now();
    let err = n.send(&event(EventKind::Failure)).unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(err.to_string().contains("no answer within 500ms"), "{err}");
    drop(held.join());
}

#[test]
fn malformed_urls_and_headers_are_configuration_errors() {
    let n = notifier(webhook("ftp://example.com/x".into(), &[]), TIMEOUT);
    let err = n.send(&event(EventKind::Test)).unwrap_err();
    assert!(
        matches!(err, Error::Config { .. }) && !err.is_temporary(),
        "{err:?}"
    );
    let n = notifier(
        webhook(
            "http://127.0.0.1:1/x".into(),
            &[("X-Token", "bad\nvalue-SECRET")],
        ),
        TIMEOUT,
    );
    let err = n.send(&event(EventKind::Test)).unwrap_err().to_string();
    assert!(err.contains("X-Token") || err.contains("x-token"), "{err}");
    assert!(!err.contains("SECRET"), "{err}");
}

#[test]
fn the_recorder_reads_chunked_bodies_and_answers_the_configured_status() {
    use std::io::{Read, Write};
    let rec = HttpRecorder::start();
    rec.respond("/down", 503, "maintenance");
    let mut s = std::net::TcpStream::connect(("127.0.0.1", rec.port)).unwrap();
    s.write_all(
        b"PUT /down?x=1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
          5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n",
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    assert!(answer.ends_with("\r\n\r\nmaintenance"), "{answer}");
    let got = rec.wait_for(|r| r.method == "PUT", TIMEOUT);
    assert_eq!(got[0].path, "/down?x=1");
    assert_eq!(got[0].text(), "hello, world");
}
