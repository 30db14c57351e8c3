//! Alerts that cannot be lost: the outbox against real HTTP and SMTP receivers that are
//! down when the alert fires and come back later.

use std::path::PathBuf;
use std::time::Duration;

use crate::jobs::{bunker_cfg, ok};
use crate::servers::http_recorder::HttpRecorder;
use crate::servers::smtp::{SmtpSecurity, SmtpServer};
use crate::util::*;

/// A configuration with job `site` (a before hook that fails, so the run fails at
/// once) telling a webhook and an SMTP server on the given ports.
fn failing_job_config(s: &Scratch, hook_port: u16, smtp_port: u16) -> PathBuf {
    let cfg = s.path("bunker.toml");
    let text = format!(
        r#"
[daemon]
state_dir = "{state}"
notify = ["hook", "mail"]

[repositories.primary]
url = "{repo}"
password = "{PASSWORD}"

[notify.hook]
type = "webhook"
url = "http://127.0.0.1:{hook_port}/hook"
timeout = "2s"

[notify.mail]
type = "email"
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
from = "bunker@example.com"
to = ["oncall@example.com"]
timeout = "2s"

[jobs.site]
repository = "primary"
source = {{ type = "files", paths = ["{src}"] }}
hooks.before = ["exit 1"]
"#,
        state = s.path("state").display(),
        repo = s.repo().display(),
        src = s.path("src").display(),
    );
    std::fs::write(&cfg, text).unwrap();
    cfg
}

fn free_port() -> u16 {
    HttpRecorder::reserve_port()
}

#[test]
fn a_receiver_down_then_up_gets_the_alert_from_the_next_run() {
    let s = Scratch::new();
    let (hook_port, smtp_port) = (free_port(), free_port());
    let cfg = failing_job_config(&s, hook_port, smtp_port);

    // Both receivers are down when the job fails.
    let o = bunker_cfg(&cfg, &["run", "site"]);
    assert_eq!(o.status.code(), Some(20));
    let err = String::from_utf8_lossy(&o.stderr);
    for target in ["hook", "mail"] {
        assert!(
            err.contains(&format!(
                "notification {target} not delivered yet (kept for another try)"
            )),
            "{err}"
        );
    }
    let pending: serde_json::Value =
        serde_json::from_str(&ok(bunker_cfg(&cfg, &["--json", "notify", "pending"]))).unwrap();
    let pending = pending.as_array().unwrap();
    assert_eq!(pending.len(), 2, "{pending:?}");
    for p in pending {
        assert_eq!(p["job"], "site");
        assert_eq!(p["kind"], "failure");
        assert_eq!(p["attempts"], 1);
        assert!(
            p["last_error"].as_str().unwrap().contains("127.0.0.1"),
            "{p}"
        );
    }
    let table = ok(bunker_cfg(&cfg, &["notify", "pending"]));
    assert!(
        table.contains("failure") && table.contains("hook"),
        "{table}"
    );

    // They come back; the next run (failing again: no new alert of its own) delivers
    // what the first could not, once its retry is due.
    let http = HttpRecorder::start_on(hook_port);
    let smtp = SmtpServer::start_on(SmtpSecurity::None, None, smtp_port);
    std::thread::sleep(Duration::from_millis(5500));
    let o = bunker_cfg(&cfg, &["run", "site"]);
    assert_eq!(o.status.code(), Some(20));
    let got = http.wait_for(|r| r.path == "/hook", Duration::from_secs(5));
    assert_eq!(got.len(), 1, "one alert, not one per run");
    assert_eq!(got[0].json()["event"], "failure");
    assert_eq!(got[0].json()["job"], "site");
    assert_eq!(got[0].json()["incident"], "failure:site");
    let mail = smtp.wait_for_messages(1, Duration::from_secs(10));
    assert!(
        mail[0].header("subject").unwrap().contains("site"),
        "{:?}",
        mail[0].header("subject")
    );
    assert_eq!(
        ok(bunker_cfg(&cfg, &["--json", "notify", "pending"])).trim(),
        "[]"
    );
    assert!(ok(bunker_cfg(&cfg, &["notify", "pending"])).contains("no notifications waiting"));
}
