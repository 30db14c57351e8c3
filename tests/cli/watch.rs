//! Jobs run by cron or systemd, without the daemon: `status --check` tells a monitoring
//! plugin what is wrong (exit 0 ok, 1 warning, 2 critical, 3 unknown), `watch` sends the
//! late alert through the outbox (a receiver down then up still gets it), and an RPO the
//! schedule cannot meet is a `config check` warning, not a breach.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::jobs::{bunker_cfg, ok};
use crate::servers::http_recorder::HttpRecorder;
use crate::util::*;

fn config(s: &Scratch, hook_port: u16) -> PathBuf {
    let cfg = s.path("bunker.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[daemon]
state_dir = "{state}"
notify = ["hook"]
timezone = "Europe/Berlin"

[repositories.primary]
url = "{repo}"
password = "{PASSWORD}"

[notify.hook]
type = "webhook"
url = "http://127.0.0.1:{hook_port}/hook"
timeout = "2s"

[jobs.fresh]
repository = "primary"
schedule = "@every 1h"
source = {{ type = "files", paths = ["{src}"] }}

[jobs.stale]
repository = "primary"
schedule = "@every 2s"
alerts = {{ grace = "1s" }}
source = {{ type = "files", paths = ["{src}"] }}

[jobs.daily]
repository = "primary"
schedule = "0 2 * * *"
objectives = {{ rpo = "1h" }}
source = {{ type = "files", paths = ["{src}"] }}

[jobs.broken]
repository = "primary"
source = {{ type = "files", paths = ["{src}"] }}
hooks.before = ["exit 1"]
"#,
            state = s.path("state").display(),
            repo = s.repo().display(),
            src = s.path("src").display(),
        ),
    )
    .unwrap();
    cfg
}

/// `status --check ARGS`: exit code and standard output.
fn check(cfg: &Path, jobs: &[&str]) -> (Option<i32>, String) {
    let o = bunker_cfg(cfg, &[&["status", "--check"], jobs].concat());
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

#[test]
fn status_check_exit_codes_and_watch_alerts_late_jobs_through_the_outbox() {
    let s = Scratch::new();
    bunker(&s.repo(), &["init"]);
    make_tricky_tree(&s.path("src"), false);
    let hook_port = HttpRecorder::reserve_port();
    let cfg = config(&s, hook_port);

    // An RPO of 1 h on a daily job: valid, but a warning.
    let o = bunker_cfg(&cfg, &["config", "check"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("warning: job daily: RPO 1h cannot be met by its schedule")
            && err.contains("up to 24h between runs"),
        "{err}"
    );
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("(1 repository, 4 jobs, 1 notification target)"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let j: serde_json::Value =
        serde_json::from_str(&ok(bunker_cfg(&cfg, &["--json", "config", "check"]))).unwrap();
    assert_eq!(j["warnings"].as_array().unwrap().len(), 1, "{j}");

    ok(bunker_cfg(&cfg, &["run", "--no-notify", "fresh"]));
    assert_eq!(
        check(&cfg, &["fresh", "daily", "stale"]),
        (Some(0), "OK: 3 jobs ok\n".to_string())
    );
    // Two seconds on, stale's run is past its grace: a warning.
    std::thread::sleep(Duration::from_millis(3500));
    let (code, out) = check(&cfg, &["fresh", "stale"]);
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with("WARNING stale late: the run due "), "{out}");
    assert!(
        out.contains("Europe/Berlin"),
        "times in the job's zone: {out}"
    );

    // A failed run is critical; each problem has its line, the worst decides.
    let o = bunker_cfg(&cfg, &["run", "--no-notify", "broken"]);
    assert_eq!(o.status.code(), Some(20));
    let (code, out) = check(&cfg, &[]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("CRITICAL broken failing: the last run (")
            && out.contains("failed in the before hook step"),
        "{out}"
    );
    assert!(out.contains("WARNING stale late:"), "{out}");
    assert_eq!(out.lines().count(), 2, "{out}");

    // status: one state per job, with the reasons; --json carries them.
    let table = ok(bunker_cfg(&cfg, &["status"]));
    assert!(table.contains("unmeetable (<60m)"), "{table}");
    assert!(!table.contains("BREACHED"), "{table}");
    assert!(table.contains("  stale: late: the run due"), "{table}");
    let st: serde_json::Value =
        serde_json::from_str(&ok(bunker_cfg(&cfg, &["--json", "status"]))).unwrap();
    let state = |job: &str| {
        let j = st
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["job"] == job)
            .unwrap();
        (j["state"].clone(), j["severity"].clone())
    };
    assert_eq!(state("broken"), ("failing".into(), "critical".into()));
    assert_eq!(state("stale"), ("late".into(), "warning".into()));
    assert_eq!(state("fresh"), ("ok".into(), "ok".into()));
    assert_eq!(state("daily"), ("never run".into(), "ok".into()));
    let daily = st
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job"] == "daily")
        .unwrap();
    assert_eq!(daily["rpo"], "unmeetable");

    // watch, receiver down: the late alert waits in the outbox.
    let o = bunker_cfg(&cfg, &["watch"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("late to hook not delivered yet (kept for another try)"),
        "{err}"
    );
    let pending: serde_json::Value =
        serde_json::from_str(&ok(bunker_cfg(&cfg, &["--json", "notify", "pending"]))).unwrap();
    assert!(
        pending
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["kind"] == "late" && p["job"] == "stale"),
        "{pending}"
    );
    // The receiver comes back: the next watch, once the retry is due, delivers it, once.
    let http = HttpRecorder::start_on(hook_port);
    std::thread::sleep(Duration::from_millis(5500));
    let out = ok(bunker_cfg(&cfg, &["watch"]));
    assert!(out.contains("late sent to hook"), "{out}");
    let got = http.wait_for(
        |r| r.path == "/hook" && r.json()["event"] == "late",
        Duration::from_secs(5),
    );
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].json()["job"], "stale");
    ok(bunker_cfg(&cfg, &["watch"]));
    std::thread::sleep(Duration::from_millis(300));
    let late: Vec<_> = http
        .requests()
        .into_iter()
        .filter(|r| r.json()["event"] == "late")
        .collect();
    assert_eq!(late.len(), 1, "one alert, not one per watch");

    // A configuration that cannot be read is UNKNOWN to monitoring.
    let (code, out) = check(&s.path("missing.toml"), &[]);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.starts_with("UNKNOWN: "), "{out}");
}
