//! Jobs that share a repository never fail each other. In one process (the daemon) a
//! job's retention or prune waits for another's backup and the other way round; across
//! processes retention waits for the other process's lock, up to `lock_wait`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::daemon::{free_port, request, start_daemon, wait_until, KillOnDrop};
use crate::jobs::bunker_cfg;
use crate::util::*;

fn soak_config(s: &Scratch, port: u16) -> PathBuf {
    let cfg = s.path("bunker.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[daemon]
listen = "127.0.0.1:{port}"
state_dir = "{state}"

# No waiting for the repository's lock: only the daemon's turns keep the jobs apart.
[repositories.primary]
url = "{repo}"
password = "{PASSWORD}"
lock_wait = "1ms"

[jobs.database]
repository = "primary"
schedule = "@every 1s"
source = {{ type = "command", command = ["sh", "-c", "date +%s%N; head -c 200000 /dev/urandom"], stdin_filename = "dump.sql" }}
retention = {{ keep_last = 3 }}

[jobs.files]
repository = "primary"
schedule = "@every 1s"
source = {{ type = "files", paths = ["{src}"] }}
retention = {{ keep_last = 2 }}
prune = "@every 1s"

[jobs.config]
repository = "primary"
schedule = "@every 1s"
source = {{ type = "files", paths = ["{etc}"] }}
"#,
            state = s.path("state").display(),
            repo = s.repo().display(),
            src = s.path("src").display(),
            etc = s.path("etc").display(),
        ),
    )
    .unwrap();
    cfg
}

#[test]
fn three_jobs_every_second_on_one_repository_never_fail_each_other() {
    let s = Scratch::new();
    bunker(&s.repo(), &["init"]);
    make_tricky_tree(&s.path("src"), false);
    write(&s.path("etc/app.conf"), b"listen = 8080\n");
    let port = free_port();
    let cfg = soak_config(&s, port);
    let o = bunker_cfg(&cfg, &["config", "check"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut daemon = start_daemon(&cfg, &s.path("daemon.log"));
    let guard = KillOnDrop(&mut daemon);
    wait_until("the daemon listening", Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    std::thread::sleep(Duration::from_secs(60));
    let (status, body) = request(port, "GET", "/api/v1/runs?limit=10000", None);
    assert_eq!(status, 200, "{body}");
    // SIGTERM: the runs in flight finish and release their locks (SIGKILL would leave
    // them behind, and restic 0.14's check refuses any lock, stale or not).
    let pid = nix::unistd::Pid::from_raw(guard.0.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let stopped = wait_until("the daemon to exit", Duration::from_secs(120), || {
        guard.0.try_wait().unwrap()
    });
    assert!(stopped.success(), "{stopped:?}");
    drop(guard);
    let runs: serde_json::Value = serde_json::from_str(&body).unwrap();
    let runs = runs.as_array().unwrap();
    let failed: Vec<_> = runs
        .iter()
        .filter(|r| r["outcome"] == "failure" || r["outcome"] == "partial")
        .map(|r| format!("{} {}: {}", r["job"], r["failed_step"], r["error"]))
        .collect();
    let count = |job: &str| {
        runs.iter()
            .filter(|r| r["job"] == job && r["outcome"] == "success")
            .count()
    };
    eprintln!(
        "soak: {} runs in 60 s: database {}, files {}, config {} succeeded, {} failed",
        runs.len(),
        count("database"),
        count("files"),
        count("config"),
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "{} runs failed: {failed:#?}",
        failed.len()
    );
    for job in ["database", "files", "config"] {
        assert!(count(job) >= 5, "{job}: {} successes in 60 s", count(job));
    }
    let log = std::fs::read_to_string(s.path("daemon.log")).unwrap();
    assert!(!log.contains("locked"), "{log}");
    // Retention and prune ran and left a repository restic checks.
    restic(&s.repo(), &["check", "--read-data"]);
    let snapshots = bunker(&s.repo(), &["--json", "snapshots", "--tag", "job=files"]);
    let n = serde_json::from_str::<serde_json::Value>(&snapshots).unwrap();
    assert!(n.as_array().unwrap().len() <= 3, "{n}");
}

fn retention_config(s: &Scratch, lock_wait: &str) -> PathBuf {
    let cfg = s.path("bunker.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[daemon]
state_dir = "{state}"

[repositories.primary]
url = "{repo}"
password = "{PASSWORD}"
lock_wait = "{lock_wait}"

[jobs.site]
repository = "primary"
source = {{ type = "files", paths = ["{src}"] }}
retention = {{ keep_last = 1 }}
"#,
            state = s.path("state").display(),
            repo = s.repo().display(),
            src = s.path("src").display(),
        ),
    )
    .unwrap();
    cfg
}

/// A `backup --stdin` of another process, holding its shared lock until its input ends.
fn holding_a_lock(repo: &Path) -> Child {
    let mut child = Command::new(bunker_bin())
        .arg("-r")
        .arg(repo)
        .args(["backup", "--stdin", "--stdin-filename", "slow.bin"])
        .env("BUNKER_PASSWORD", PASSWORD)
        .env_remove("BUNKER_REPOSITORY")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.as_mut().unwrap().write_all(b"begun").unwrap();
    let locks = repo.join("locks");
    wait_until("the other process's lock", Duration::from_secs(20), || {
        (std::fs::read_dir(&locks).ok()?.count() > 0).then_some(())
    });
    child
}

#[test]
fn retention_waits_for_another_process_lock_up_to_lock_wait() {
    let s = Scratch::new();
    bunker(&s.repo(), &["init"]);
    make_tricky_tree(&s.path("src"), false);

    // Waiting long enough: the run succeeds once the other process is done. (The first
    // run leaves a snapshot for the second one's retention to forget.)
    let cfg = retention_config(&s, "60s");
    crate::jobs::ok(bunker_cfg(&cfg, &["run", "site"]));
    let mut other = holding_a_lock(&s.repo());
    let writer = other.stdin.take().unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(3));
        drop(writer);
    });
    let start = Instant::now();
    let o = bunker_cfg(&cfg, &["run", "site"]);
    let took = start.elapsed();
    release.join().unwrap();
    assert!(other.wait().unwrap().success());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(took >= Duration::from_secs(2), "it waited: {took:?}");

    // Not long enough: retention fails with the lock's holder named, exit 23.
    let cfg = retention_config(&s, "1s");
    let mut other = holding_a_lock(&s.repo());
    let o = bunker_cfg(&cfg, &["run", "site"]);
    drop(other.stdin.take());
    other.wait().unwrap();
    assert_eq!(
        o.status.code(),
        Some(23),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("locked"), "{err}");
}
