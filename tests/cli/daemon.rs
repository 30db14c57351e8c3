//! The daemon end to end: a PostgreSQL job and a files job every few seconds against a
//! throwaway cluster, real webhook/Slack/healthchecks and SMTP receivers, the HTTP API
//! and metrics, an outage and its recovery, a configuration reload and a clean SIGTERM.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::jobs::ok;
use crate::pgcluster::Cluster;
use crate::servers::http_recorder::{HttpRecorder, Recorded};
use crate::servers::smtp::{SmtpSecurity, SmtpServer};
use crate::util::*;

/// One HTTP/1.1 request to the daemon; returns status and body.
pub(crate) fn request(port: u16, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the daemon");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

fn get_json(port: u16, path: &str) -> serde_json::Value {
    let (status, body) = request(port, "GET", path, None);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

pub(crate) fn wait_until<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn successes(port: u16, job: &str) -> usize {
    let runs = get_json(port, &format!("/api/v1/runs?job={job}&limit=100"));
    runs.as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "success")
        .count()
}

fn events(http: &HttpRecorder, event: &str, job: &str) -> Vec<Recorded> {
    http.requests()
        .into_iter()
        .filter(|r| r.path == "/hook" && r.json()["event"] == event && r.json()["job"] == job)
        .collect()
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn config_text(
    s: &Scratch,
    pg: &Cluster,
    http: &HttpRecorder,
    smtp: &SmtpServer,
    port: u16,
    labels: &str,
) -> String {
    format!(
        r#"
[daemon]
listen = "127.0.0.1:{port}"
api_token = "s3cret-token"
state_dir = "{state}"
notify = ["hook", "slack", "mail"]

[repositories.primary]
url = "{repo}"
password = "{PASSWORD}"

[notify.hook]
type = "webhook"
url = "{hook}"

[notify.slack]
type = "slack"
url = "{slack}"

[notify.hc]
type = "healthchecks"
url = "{hc}"

[notify.mail]
type = "email"
host = "127.0.0.1"
port = {smtp_port}
accept_invalid_certs = true
from = "bunker@example.com"
to = ["oncall@example.com"]

[jobs.pg]
repository = "primary"
schedule = "@every 3s"
notify = ["hc"]
source = {{ type = "postgres", dsn = "{dsn}", databases = ["shop"], globals = false }}
retention = {{ keep_last = 3 }}
labels = {{ {labels} }}

[jobs.files]
repository = "primary"
schedule = "@every 3s"
source = {{ type = "files", paths = ["{src}"] }}
"#,
        state = s.path("state").display(),
        repo = s.repo().display(),
        hook = http.url("/hook"),
        slack = http.url("/slack"),
        hc = http.url("/hc/uuid-1"),
        smtp_port = smtp.port,
        dsn = pg.dsn("shop"),
        src = s.path("src").display(),
    )
}

pub(crate) fn start_daemon(cfg: &Path, log: &Path) -> Child {
    Command::new(bunker_bin())
        .arg("--config")
        .arg(cfg)
        .arg("daemon")
        .env_remove("BUNKER_REPOSITORY")
        .env("BUNKER_CACHE_DIR", cfg.parent().unwrap().join("cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("start the daemon")
}

#[test]
fn daemon_runs_jobs_alerts_on_an_outage_and_stops_cleanly() {
    let s = Scratch::new();
    let pg = Cluster::start(&[]);
    pg.sql("postgres", "CREATE DATABASE shop");
    pg.sql("shop", "CREATE TABLE orders (id int PRIMARY KEY, total numeric); INSERT INTO orders SELECT g, g * 1.5 FROM generate_series(1, 1000) g");
    bunker(&s.repo(), &["init"]);
    make_tricky_tree(&s.path("src"), false);
    let http = HttpRecorder::start();
    let smtp = SmtpServer::start_with(SmtpSecurity::StartTls, None);
    let port = free_port();
    let cfg = s.path("bunker.toml");
    std::fs::write(&cfg, config_text(&s, &pg, &http, &smtp, port, "")).unwrap();
    let log = s.path("daemon.log");
    let mut daemon = start_daemon(&cfg, &log);
    let guard = KillOnDrop(&mut daemon);

    // Health, then two successful runs of each job.
    wait_until("/healthz", Duration::from_secs(30), || {
        TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ())
    });
    assert_eq!(get_json(port, "/healthz")["status"], "ok");
    wait_until(
        "two successful runs of each job",
        Duration::from_secs(90),
        || (successes(port, "pg") >= 2 && successes(port, "files") >= 2).then_some(()),
    );
    let (status, metrics) = request(port, "GET", "/metrics", None);
    assert_eq!(status, 200);
    for want in [
        "bunker_job_last_success_timestamp_seconds{bunker_job=\"pg\"}",
        "bunker_job_last_bytes_read{bunker_job=\"files\"}",
        "bunker_job_failures_total{bunker_job=\"pg\"} 0",
        "# TYPE bunker_job_failures_total counter",
        "bunker_job_snapshots{bunker_job=\"pg\"}",
    ] {
        assert!(metrics.contains(want), "{want} missing:\n{metrics}");
    }
    // healthchecks heard the start and the success of the pg job (only: it is that
    // job's own target).
    http.wait_for(|r| r.path == "/hc/uuid-1/start", Duration::from_secs(10));
    http.wait_for(|r| r.path == "/hc/uuid-1", Duration::from_secs(10));

    // The database goes away: one failure alert per target, not one per run.
    pg.stop();
    let failure = http.wait_for(
        |r| r.path == "/hook" && r.json()["event"] == "failure" && r.json()["job"] == "pg",
        Duration::from_secs(60),
    );
    assert!(
        failure[0].json()["title"]
            .as_str()
            .unwrap()
            .contains("backup failed"),
        "{}",
        failure[0].text()
    );
    http.wait_for(
        |r| r.path == "/slack" && r.text().contains("pg"),
        Duration::from_secs(10),
    );
    http.wait_for(|r| r.path == "/hc/uuid-1/fail", Duration::from_secs(10));
    let mail = smtp.wait_for_messages(1, Duration::from_secs(20));
    assert!(
        mail[0].header("subject").unwrap().contains("pg"),
        "{:?}",
        mail[0].header("subject")
    );
    wait_until("two more failed runs", Duration::from_secs(60), || {
        let runs = get_json(port, "/api/v1/runs?job=pg&limit=5");
        let failed = runs
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["outcome"] == "failure")
            .count();
        (failed >= 3).then_some(())
    });
    assert_eq!(
        events(&http, "failure", "pg").len(),
        1,
        "the failure alert was repeated"
    );
    assert!(get_json(port, "/api/v1/jobs")[1]["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["kind"] == "failure"));

    // It comes back: one recovery message.
    pg.start_again();
    let recovery = http.wait_for(
        |r| r.path == "/hook" && r.json()["event"] == "recovery" && r.json()["job"] == "pg",
        Duration::from_secs(60),
    );
    assert_eq!(recovery[0].json()["incident"], "failure:pg");
    smtp.wait_for_messages(2, Duration::from_secs(20));

    // The API: a run on request needs the token.
    assert_eq!(request(port, "POST", "/api/v1/jobs/pg/run", None).0, 401);
    assert_eq!(
        request(port, "POST", "/api/v1/jobs/pg/run", Some("wrong")).0,
        401
    );
    assert_eq!(
        request(port, "POST", "/api/v1/jobs/nope/run", Some("s3cret-token")).0,
        404
    );
    let code = request(port, "POST", "/api/v1/jobs/pg/run", Some("s3cret-token")).0;
    assert!(code == 202 || code == 409, "{code}");

    // SIGHUP reloads the configuration.
    std::fs::write(
        &cfg,
        config_text(&s, &pg, &http, &smtp, port, "tier = \"gold\""),
    )
    .unwrap();
    let pid = nix::unistd::Pid::from_raw(guard.0.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    wait_until("the reloaded labels", Duration::from_secs(20), || {
        let jobs = get_json(port, "/api/v1/jobs");
        let pg_job = jobs
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["job"] == "pg")
            .cloned()
            .unwrap();
        (pg_job["labels"]["tier"] == "gold").then_some(())
    });

    // SIGTERM: running jobs finish, the daemon exits 0, the repository checks clean.
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = wait_until("the daemon to exit", Duration::from_secs(120), || {
        guard.0.try_wait().unwrap()
    });
    drop(guard);
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{status:?}\n{logs}");
    assert!(logs.contains("bunker daemon stopped"), "{logs}");
    for line in logs.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
    }
    restic(&s.repo(), &["check", "--read-data"]);
    let snaps: serde_json::Value = serde_json::from_str(&bunker(
        &s.repo(),
        &["snapshots", "--json", "--tag", "job=pg"],
    ))
    .unwrap();
    assert!(
        snaps.as_array().unwrap().len() <= 3,
        "retention keeps 3: {snaps}"
    );
    // The last files snapshot restores to the source.
    bunker(
        &s.repo(),
        &[
            "restore",
            "latest",
            "--tag",
            "job=files",
            "--target",
            s.path("out").to_str().unwrap(),
        ],
    );
    assert_same_tree(&s.path("src"), &restored(&s.path("out"), &s.path("src")));
    // And the status command agrees with what happened.
    let status: serde_json::Value =
        serde_json::from_str(&ok(crate::jobs::bunker_cfg(&cfg, &["--json", "status"]))).unwrap();
    let pg_status = status
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job"] == "pg")
        .unwrap();
    assert!(
        pg_status["failures_total"].as_u64().unwrap() >= 3,
        "{pg_status}"
    );
    assert!(
        pg_status["incidents"].as_array().unwrap().is_empty(),
        "{pg_status}"
    );
}

/// Kills the daemon if the test fails before it stops it.
pub(crate) struct KillOnDrop<'a>(pub &'a mut Child);

impl Drop for KillOnDrop<'_> {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
