//! Event kinds, defaults and the redacted Debug output.

use crate::{Channel, Email, EventKind, Healthchecks, Notifier, Slack, Tls, Webhook};

#[test]
fn kind_names_round_trip_and_unknown_names_list_the_valid_ones() {
    for &k in EventKind::all() {
        assert_eq!(k.as_str().parse::<EventKind>(), Ok(k));
        assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
    }
    assert_eq!(EventKind::all().len(), 16);
    let err = "failed".parse::<EventKind>().unwrap_err();
    assert!(err.contains("\"failed\""), "{err}");
    assert!(
        err.contains("failure") && err.contains("unreachable"),
        "{err}"
    );
}

#[test]
fn alerts_are_failure_through_delivery() {
    let alerts: Vec<&str> = EventKind::all()
        .iter()
        .filter(|k| k.is_alert())
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        alerts,
        [
            "failure",
            "late",
            "size",
            "duration",
            "verify",
            "drill",
            "unreachable",
            "objective",
            "quota",
            "archive",
            "delivery"
        ]
    );
}

#[test]
fn default_events_give_heartbeats_only_to_healthchecks() {
    let slack = Channel::Slack(Slack {
        url: "https://hooks.slack.com/services/T/B/x".into(),
    });
    let hc = Channel::Healthchecks(Healthchecks {
        url: "https://hc-ping.com/uuid".into(),
    });
    let d = Notifier::default_events(&slack);
    assert!(!d.contains(&EventKind::Start) && !d.contains(&EventKind::Success));
    assert!(d.contains(&EventKind::Failure) && d.contains(&EventKind::Objective));
    assert!(d.contains(&EventKind::Recovery) && d.contains(&EventKind::Test));
    let h = Notifier::default_events(&hc);
    assert_eq!(h.len(), EventKind::all().len());
    let n = super::notifier(slack, std::time::Duration::from_secs(1));
    assert!(n.wants(EventKind::Late) && !n.wants(EventKind::Start));
}

#[test]
fn tls_is_configured_by_lowercase_name_and_defaults_to_starttls() {
    assert_eq!(Tls::default(), Tls::StartTls);
    assert_eq!(serde_json::to_value(Tls::StartTls).unwrap(), "starttls");
    assert_eq!(serde_json::from_str::<Tls>("\"tls\"").unwrap(), Tls::Tls);
    assert_eq!(serde_json::from_str::<Tls>("\"none\"").unwrap(), Tls::None);
    assert_eq!(Tls::StartTls.default_port(), 587);
    assert_eq!(Tls::Tls.default_port(), 465);
    assert_eq!(Tls::None.default_port(), 25);
}

#[test]
fn debug_output_hides_url_paths_header_values_and_passwords() {
    let w = Webhook {
        url: "https://user:pw@hooks.example.com:8443/T123/secret-token?key=k".into(),
        headers: vec![("Authorization".into(), "Bearer tok-123".into())],
    };
    let m = Email {
        host: "smtp.example.com".into(),
        port: None,
        tls: Tls::StartTls,
        username: Some("alerts".into()),
        password: Some("hunter2".into()),
        from: "bunker@example.com".into(),
        to: vec!["ops@example.com".into()],
        accept_invalid_certs: false,
    };
    let text = format!("{w:?} {m:?}");
    assert!(text.contains("https://hooks.example.com:8443"), "{text}");
    assert!(text.contains("Authorization"), "{text}");
    for secret in ["secret-token", "key=k", "tok-123", "hunter2", "pw@"] {
        assert!(!text.contains(secret), "{secret} shown in {text}");
    }
}

#[test]
fn retries_back_off_from_five_seconds_to_ten_minutes() {
    let secs: Vec<u64> = (1..=9).map(|a| crate::retry_delay(a).as_secs()).collect();
    assert_eq!(secs, [5, 10, 20, 40, 80, 160, 320, 600, 600]);
    assert_eq!(crate::retry_delay(u32::MAX).as_secs(), 600);
}

#[test]
fn an_event_reads_back_from_its_stored_json() {
    let e = super::event(EventKind::Failure);
    let back: crate::Event = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
    assert_eq!(back.kind, e.kind);
    assert_eq!((back.title, back.detail), (e.title, e.detail));
    assert_eq!(back.time, e.time);
    assert_eq!(back.incident, e.incident);
    assert_eq!(back.fields, e.fields);
}
