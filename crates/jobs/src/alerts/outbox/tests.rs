//! The outbox against real HTTP receivers: one that is down and comes back, one that
//! never does and whose trouble the other target hears about.

#[path = "../../../../../tests/cli/servers/http_recorder.rs"]
#[allow(dead_code)]
mod http_recorder;

use std::path::Path;
use std::time::Duration;

use bunker_catalog::Catalog;
use chrono::{TimeDelta, Utc};
use http_recorder::HttpRecorder;

use crate::alerts::Alerter;
use crate::config::Config;

fn config(hook: &str, other: &str, expire: &str) -> Config {
    let text = format!(
        r#"
[daemon]
notify = ["hook", "other"]
[repositories.r]
url = "/nonexistent"
password = "x"
[notify.hook]
type = "webhook"
url = "{hook}"
timeout = "2s"
expire_after = "{expire}"
[notify.other]
type = "webhook"
url = "{other}"
[jobs.db]
repository = "r"
source = {{ type = "files", paths = ["/etc"] }}
"#
    );
    Config::parse(&text, Path::new("t.toml")).unwrap()
}

fn hooks(r: &HttpRecorder, event: &str) -> Vec<serde_json::Value> {
    r.requests()
        .iter()
        .map(|q| q.json())
        .filter(|j| j["event"] == event)
        .collect()
}

#[test]
fn a_receiver_that_was_down_gets_the_alert_when_it_is_back_in_order() {
    let port = HttpRecorder::reserve_port();
    let other = HttpRecorder::start();
    let c = config(
        &format!("http://127.0.0.1:{port}/hook"),
        &other.url("/other"),
        "1h",
    );
    let cat = Catalog::open_in_memory().unwrap();
    let a = Alerter {
        config: &c,
        catalog: &cat,
    };
    let d = a.started("db");
    assert!(d.is_empty(), "start is for heartbeat targets only: {d:?}");
    let ev = a.event(
        bunker_notify::EventKind::Failure,
        "db",
        "db: backup failed".into(),
        String::new(),
    );
    let first = a.notify("db", &ev);
    let hook = first.iter().find(|d| d.notifier == "hook").unwrap();
    assert!(hook.pending, "{hook:?}");
    assert!(
        hook.error.as_deref().unwrap().contains("cannot reach"),
        "{hook:?}"
    );
    assert_eq!(
        hooks(&other, "failure").len(),
        1,
        "the other target heard at once"
    );
    // A second message queues behind the first without a try of its own.
    let mut rec = ev.clone();
    rec.kind = bunker_notify::EventKind::Recovery;
    let second = a.notify("db", &rec);
    let hook2 = second.iter().find(|d| d.notifier == "hook").unwrap();
    assert!(hook2.pending && hook2.error.as_deref().unwrap().contains("queued"));
    let pending = cat.pending_notifications().unwrap();
    assert_eq!(pending.len(), 2);
    assert_eq!((pending[0].attempts, pending[1].attempts), (1, 0));

    // Not due yet: nothing is tried.
    assert!(a.deliver_pending(Utc::now()).is_empty());
    // The receiver comes back; once the retry is due both arrive, failure first.
    let back = HttpRecorder::start_on(port);
    let sent = a.deliver_pending(Utc::now() + TimeDelta::seconds(6));
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent.iter().all(|d| d.error.is_none()), "{sent:?}");
    let got: Vec<String> = back
        .requests()
        .iter()
        .map(|r| r.json()["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, ["failure", "recovery"]);
    assert_eq!(back.requests()[0].json()["title"], "db: backup failed");
    assert!(cat.pending_notifications().unwrap().is_empty());
    assert!(cat.open_incidents().unwrap().is_empty());
}

#[test]
fn an_expired_message_raises_a_delivery_incident_on_the_other_targets() {
    let port = HttpRecorder::reserve_port();
    let other = HttpRecorder::start();
    let c = config(
        &format!("http://127.0.0.1:{port}/hook"),
        &other.url("/other"),
        "3s",
    );
    let cat = Catalog::open_in_memory().unwrap();
    let a = Alerter {
        config: &c,
        catalog: &cat,
    };
    let ev = a.event(
        bunker_notify::EventKind::Late,
        "db",
        "db: backup is late".into(),
        String::new(),
    );
    // The first retry (5 s later) would come after the expiry: given up at once.
    let d = a.notify("db", &ev);
    let hook = d.iter().find(|d| d.notifier == "hook").unwrap();
    assert!(!hook.pending, "{hook:?}");
    assert!(
        hook.error.as_deref().unwrap().contains("expired after 3s"),
        "{hook:?}"
    );
    let alert = hooks(&other, "delivery");
    assert_eq!(alert.len(), 1, "{:?}", other.requests());
    assert_eq!(alert[0]["incident"], "delivery:hook");
    assert!(
        alert[0]["title"].as_str().unwrap().contains("hook"),
        "{}",
        alert[0]
    );
    assert!(cat.pending_notifications().unwrap().is_empty());
    assert_eq!(cat.open_incidents().unwrap()[0].kind, "delivery");
    // Opened once: the next lost message does not alert again.
    a.notify("db", &ev);
    assert_eq!(hooks(&other, "delivery").len(), 1);
    // The receiver is back: the next message gets through and the incident closes.
    let _back = HttpRecorder::start_on(port);
    a.notify("db", &ev);
    let rec = other.wait_for(|r| r.json()["event"] == "recovery", Duration::from_secs(5));
    assert_eq!(rec[0].json()["incident"], "delivery:hook");
    assert!(cat.open_incidents().unwrap().is_empty());
}

#[test]
fn a_refused_message_is_not_retried() {
    let hook = HttpRecorder::start();
    hook.respond("/hook", 400, "bad payload");
    let other = HttpRecorder::start();
    let c = config(&hook.url("/hook"), &other.url("/other"), "1h");
    let cat = Catalog::open_in_memory().unwrap();
    let a = Alerter {
        config: &c,
        catalog: &cat,
    };
    let ev = a.event(
        bunker_notify::EventKind::Failure,
        "db",
        "db: backup failed".into(),
        String::new(),
    );
    let d = a.notify("db", &ev);
    let h = d.iter().find(|d| d.notifier == "hook").unwrap();
    assert!(
        !h.pending && h.error.as_deref().unwrap().contains("HTTP 400"),
        "{h:?}"
    );
    assert!(cat.pending_notifications().unwrap().is_empty());
    assert_eq!(hooks(&other, "delivery").len(), 1);
}
