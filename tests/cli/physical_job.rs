//! Physical PostgreSQL as a job: `source = { type = "postgres-physical" }` takes base
//! backups through `bunker run`, retention and prune expire the WAL the remaining base
//! backups no longer need, and the drill recovers a base backup into scratch space,
//! starts it and checks its rows.

use std::path::Path;

use serde_json::Value;

use crate::pgcluster::server_bin;
use crate::pitr::Archive;
use crate::util::*;

fn wal_objects(repo: &Path) -> Vec<String> {
    let mut v: Vec<String> = files_under(&repo.join("wal"))
        .into_iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .filter(|n| n.len() == 24)
        .collect();
    v.sort();
    v
}

#[test]
fn a_physical_job_backs_up_expires_wal_and_drills_a_running_recovery() {
    let a = Archive::new();
    let c = a.start_cluster();
    c.sql("postgres", "CREATE DATABASE app");
    c.sql(
        "app",
        "CREATE TABLE t (i int); INSERT INTO t SELECT generate_series(1, 100)",
    );
    let state = a.scratch.path("state");
    let config = a.scratch.path("bunker.toml");
    write(
        &config,
        format!(
            r#"[daemon]
state_dir = "{state}"

[repositories.main]
url = "{repo}"
password_file = "{pw}"

[jobs.cluster]
repository = "main"
source = {{ type = "postgres-physical", dsn = "{dsn}", pg_server_bin = "{bin}", databases = ["app"] }}
retention = {{ keep_last = 1 }}
prune = "@every 1s"

[jobs.cluster.verify]
drill = "@every 1s"
expect_tables = ["t"]
sql = ["SELECT count(*) >= 100 FROM t"]
"#,
            state = state.display(),
            repo = a.repo().display(),
            pw = a.scratch.path("password").display(),
            dsn = c.dsn("postgres"),
            bin = server_bin().display(),
        )
        .as_bytes(),
    );
    let run = |args: &[&str]| -> Value {
        let mut cmd = std::process::Command::new(&a.bin);
        cmd.arg("--config")
            .arg(&config)
            .arg("--json")
            .args(args)
            .env_remove("BUNKER_PASSWORD")
            .env_remove("BUNKER_REPOSITORY");
        let out = run_with_stdin(&mut cmd, None);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        v[0].clone()
    };
    let checked = std::process::Command::new(&a.bin)
        .arg("--config")
        .arg(&config)
        .args(["config", "check"])
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );

    let first = run(&["run", "cluster"]);
    assert_eq!(first["outcome"], "success", "{first}");
    // A drill of the base backup: recovered, started, its rows checked.
    let drill = &first["drill"];
    assert_eq!(drill["passed"], true, "{first}");
    let first_wal = wal_objects(&a.repo());
    assert!(!first_wal.is_empty());

    c.sql("app", "INSERT INTO t SELECT generate_series(101, 200)");
    a.switch_and_wait(&c);
    let second = run(&["run", "cluster"]);
    assert_eq!(second["outcome"], "success", "{second}");
    assert_eq!(second["forgotten"], 1, "{second}");
    // The first base backup is gone, and with it the WAL before the second one's start.
    let base_list = a.bunker(&["--json", "pg", "info"]);
    let info: Value = serde_json::from_str(&base_list).unwrap();
    let bases = info[0]["base_backups"].as_array().unwrap();
    assert_eq!(bases.len(), 1, "{base_list}");
    let start = bases[0]["start_wal"].as_str().unwrap().to_string();
    let now = wal_objects(&a.repo());
    assert!(now.iter().all(|n| *n >= start), "{now:?} (start {start})");
    assert!(first_wal.iter().any(|n| *n < start), "{first_wal:?}");

    // The kept base backup still recovers, to the rows it holds.
    let r = a.pitr("recovered", &["--latest", "--set", crate::pitr::QUIET]);
    assert_eq!(
        crate::pgcluster::psql(
            &format!(
                "host={} port={} user=postgres dbname=app",
                r.socket.display(),
                r.port
            ),
            "SELECT count(*) FROM t"
        ),
        "200"
    );
    drop(r);

    // A drill whose assertion does not hold fails the run, naming it.
    let text = std::fs::read_to_string(&config).unwrap();
    write(
        &config,
        text.replace(">= 100 FROM t", ">= 1000 FROM t").as_bytes(),
    );
    let out = std::process::Command::new(&a.bin)
        .arg("--config")
        .arg(&config)
        .args(["run", "cluster"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("drill failed") && err.contains(">= 1000"),
        "{err}"
    );

    // The drill leaves no server and no scratch directory behind.
    let leftovers: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("bunker-drill-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn the_daemon_backs_up_a_cluster_and_alerts_once_when_archiving_breaks_and_again_when_it_mends() {
    use crate::daemon::{free_port, request, start_daemon, wait_until};
    use crate::servers::http_recorder::HttpRecorder;
    use std::time::Duration;

    let a = Archive::new();
    let c = a.start_cluster();
    c.sql(
        "postgres",
        "CREATE TABLE t (i int); INSERT INTO t VALUES (1)",
    );
    let http = HttpRecorder::start();
    let port = free_port();
    let config = a.scratch.path("bunker.toml");
    write(
        &config,
        format!(
            r#"[daemon]
listen = "127.0.0.1:{port}"
state_dir = "{state}"
notify = ["hook"]

[repositories.main]
url = "{repo}"
password_file = "{pw}"

[notify.hook]
type = "webhook"
url = "{hook}"

[jobs.cluster]
repository = "main"
schedule = "@every 4s"
source = {{ type = "postgres-physical", dsn = "{dsn}", archive_timeout = "20s" }}
retention = {{ keep_last = 2 }}
prune = "@every 1s"
"#,
            state = a.scratch.path("state").display(),
            repo = a.repo().display(),
            pw = a.scratch.path("password").display(),
            hook = http.url("/hook"),
            dsn = c.dsn("postgres"),
        )
        .as_bytes(),
    );
    let log = a.scratch.path("daemon.log");
    let mut daemon = start_daemon(&config, &log);
    wait_until("the daemon to listen", Duration::from_secs(30), || {
        let up = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        assert!(
            daemon.try_wait().unwrap().is_none(),
            "the daemon stopped: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        up.then_some(())
    });
    let successes = || {
        let (status, body) = request(port, "GET", "/api/v1/runs?job=cluster&limit=100", None);
        if status != 200 {
            return 0;
        }
        let runs: Value = serde_json::from_str(&body).unwrap_or_default();
        runs.as_array().map_or(0, |r| {
            r.iter().filter(|r| r["outcome"] == "success").count()
        })
    };
    wait_until(
        "three base backups by the daemon",
        Duration::from_secs(90),
        || (successes() >= 3).then_some(()),
    );
    // Retention kept two; prune took the WAL before the older one's start with it.
    let info: Value = serde_json::from_str(&a.bunker(&["--json", "pg", "info"])).unwrap();
    let bases = info[0]["base_backups"].as_array().unwrap();
    assert!(bases.len() <= 3, "{info}");
    let oldest = bases
        .iter()
        .filter_map(|b| b["start_wal"].as_str())
        .min()
        .unwrap()
        .to_string();
    let wal = wal_objects(&a.repo());
    assert!(
        wal.iter().all(|n| *n >= oldest),
        "{wal:?} (oldest base from {oldest})"
    );
    let archive_events = |event: &str| {
        http.requests()
            .into_iter()
            .filter(|r| {
                r.path == "/hook"
                    && r.json()["job"] == "cluster"
                    && r.json()["event"] == event
                    && (event != "recovery" || r.json()["fields"]["alert"] == "archive")
            })
            .count()
    };
    assert_eq!(archive_events("archive"), 0);

    // archive_command starts failing: one alert, however long it goes on.
    c.sql(
        "postgres",
        "ALTER SYSTEM SET archive_command = 'false'; SELECT pg_reload_conf()",
    );
    c.sql(
        "postgres",
        "INSERT INTO t SELECT generate_series(1, 1000); SELECT pg_switch_wal()",
    );
    wait_until("the archive alert", Duration::from_secs(30), || {
        (archive_events("archive") >= 1).then_some(())
    });
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(archive_events("archive"), 1);
    let alert = http
        .requests()
        .into_iter()
        .find(|r| r.json()["event"] == "archive")
        .unwrap()
        .json();
    assert!(
        alert["title"]
            .as_str()
            .unwrap_or("")
            .contains("WAL archiving fails"),
        "{alert}"
    );

    // Mended: the archiver catches up, and the recovery is told.
    c.sql(
        "postgres",
        "ALTER SYSTEM RESET archive_command; SELECT pg_reload_conf()",
    );
    wait_until("the archive recovery", Duration::from_secs(40), || {
        (archive_events("recovery") >= 1).then_some(())
    });
    assert_eq!(archive_events("archive"), 1);
    let _ = daemon.kill();
    let _ = daemon.wait();
}
