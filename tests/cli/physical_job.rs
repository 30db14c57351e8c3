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
