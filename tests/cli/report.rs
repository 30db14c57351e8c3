//! `bunker report` in its three formats against real runs, the daemon's scheduled report
//! as a multipart e-mail (text and HTML parts both checked) through a real SMTP server,
//! and a repository over its quota alerted like any other incident.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::daemon::{free_port, start_daemon, wait_until};
use crate::jobs::{bunker_cfg, ok};
use crate::servers::http;
use crate::servers::smtp::{SmtpSecurity, SmtpServer};
use crate::util::*;

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn config(s: &Scratch, port: u16, smtp_port: u16) -> PathBuf {
    let cfg = s.path("bunker.toml");
    let text = format!(
        r#"
[daemon]
listen = "127.0.0.1:{port}"
state_dir = "{state}"

[repositories.primary]
url = "{repo}"
password = "{PASSWORD}"
quota = "64KiB"

[notify.mail]
type = "email"
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
from = "bunker@example.com"
to = ["oncall@example.com"]
events = ["report", "quota"]

[reports.weekly]
schedule = "@every 2s"
since = "7d"
notify = ["mail"]

[jobs.ok]
repository = "primary"
source = {{ type = "files", paths = ["{ok}"] }}
notify = ["mail"]
objectives = {{ rpo = "1d" }}

[jobs.failing]
repository = "primary"
source = {{ type = "files", paths = ["{ok}"] }}
hooks.before = ["exit 1"]

[jobs.drilled]
repository = "primary"
source = {{ type = "files", paths = ["{drilled}"] }}
verify = {{ drill = "@daily" }}
objectives = {{ rto = "1h" }}
"#,
        state = s.path("state").display(),
        repo = s.repo().display(),
        ok = s.path("src/ok").display(),
        drilled = s.path("src/drilled").display(),
    );
    std::fs::write(&cfg, text).unwrap();
    cfg
}

fn stored_bytes(dir: &std::path::Path) -> u64 {
    files_under(dir)
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum()
}

#[test]
fn report_counts_real_runs_and_the_daemon_mails_it_as_text_and_html_with_a_quota_alert() {
    let s = Scratch::new();
    bunker(&s.repo(), &["init"]);
    write(&s.path("src/ok/a.bin"), &noise(200_000, 1));
    write(&s.path("src/drilled/d.txt"), b"drill me\n");
    let smtp = SmtpServer::start_with(SmtpSecurity::None, None);
    let port = free_port();
    let cfg = config(&s, port, smtp.port);

    ok(bunker_cfg(&cfg, &["run", "--no-notify", "ok"]));
    write(&s.path("src/ok/b.bin"), &noise(50_000, 2));
    ok(bunker_cfg(&cfg, &["run", "--no-notify", "ok"]));
    assert_eq!(
        bunker_cfg(&cfg, &["run", "failing"]).status.code(),
        Some(20)
    );
    ok(bunker_cfg(
        &cfg,
        &["run", "--no-notify", "--verify", "drilled"],
    ));

    // JSON: the numbers, against the catalog and the repository on disk.
    let report: Value =
        serde_json::from_str(&ok(bunker_cfg(&cfg, &["report", "--format", "json"]))).unwrap();
    let runs: Value =
        serde_json::from_str(&ok(bunker_cfg(&cfg, &["--json", "catalog", "runs"]))).unwrap();
    let job = |name: &str| {
        report["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["job"] == name)
            .unwrap_or_else(|| panic!("{name} in {report}"))
            .clone()
    };
    let added: u64 = runs
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["job"] == "ok")
        .map(|r| r["bytes_added"].as_u64().unwrap())
        .sum();
    let okj = job("ok");
    assert_eq!(
        (okj["runs"].as_u64(), okj["successes"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(okj["failures"], 0);
    assert_eq!(okj["bytes_added"].as_u64(), Some(added));
    assert!(added > 250_000, "{added}");
    assert_eq!(okj["rpo_met"], true);
    let failing = job("failing");
    assert_eq!(
        (failing["runs"].as_u64(), failing["failures"].as_u64()),
        (Some(1), Some(1))
    );
    let drilled = job("drilled");
    assert_eq!(
        (
            drilled["drills"].as_u64(),
            drilled["drills_passed"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert!(drilled["measured_rto_seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(drilled["rto_met"], true);
    let repo = &report["repositories"][0];
    assert_eq!(repo["size"].as_u64(), Some(stored_bytes(&s.repo())));
    assert_eq!(repo["quota"]["level"], "critical");
    // The failure is an incident (the run told the alerts; `--no-notify` runs do not).
    assert_eq!(
        report["incidents"].as_array().unwrap().len(),
        1,
        "the failure"
    );

    // Text and HTML say the same.
    let text = ok(bunker_cfg(&cfg, &["report"]));
    assert!(
        text.contains("Jobs") && text.contains("Open incidents: 1"),
        "{text}"
    );
    let line = text.lines().find(|l| l.starts_with("failing ")).unwrap();
    assert_eq!(line.split_whitespace().nth(3), Some("1"), "{line}");
    let html = ok(bunker_cfg(&cfg, &["report", "--format", "html"]));
    assert!(
        html.contains("<svg") && html.contains("data-job=\"drilled\""),
        "{html}"
    );

    // The daemon: the report on its schedule, and the quota incident.
    let _daemon = Killed(start_daemon(&cfg, &s.path("daemon.log")));
    let mails = wait_until("a report and quota alerts", Duration::from_secs(60), || {
        let m = smtp.messages();
        let report = m.iter().any(|m| {
            m.header("Subject")
                .is_some_and(|s| s.contains("report weekly"))
        });
        let quota = m.iter().any(|m| {
            m.header("Subject")
                .is_some_and(|s| s.contains("of its quota (critical)"))
        });
        (report && quota).then_some(m)
    });
    let mail = mails
        .iter()
        .find(|m| m.header("Subject").unwrap().contains("report weekly"))
        .unwrap();
    assert_eq!(mail.content_type, "multipart/alternative");
    assert!(
        mail.body.contains("Repositories") && mail.body.contains("failing"),
        "{}",
        mail.body
    );
    let part = mail.html.as_deref().expect("an HTML part");
    assert!(
        part.contains("<svg") && part.contains("data-job=\"ok\""),
        "{part}"
    );
    let (_, jobs) = http(port, "GET", "/api/v1/jobs", &[], b"").unwrap();
    let jobs: Value = serde_json::from_str(&jobs).unwrap();
    let kinds: Vec<&str> = jobs
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|j| j["incidents"].as_array().unwrap())
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "quota").count(),
        3,
        "{kinds:?}"
    );
}
