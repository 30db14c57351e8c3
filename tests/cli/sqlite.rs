//! The SQLite source: a consistent copy while a writer goes on (WAL mode), stored as
//! one file, restored and compared row by row, drilled with `integrity_check` and the
//! job's assertions.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rusqlite::Connection;
use serde_json::Value;

use crate::util::*;

/// Rows `(i, i * 7)`, inserted two per transaction: a copy that holds an odd number
/// of rows caught a transaction half-way.
fn rows(db: &Path) -> Vec<(i64, i64)> {
    let c = Connection::open(db).unwrap();
    let mut st = c.prepare("SELECT i, v FROM t ORDER BY i").unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn sqlite_backs_up_consistently_while_written_restores_row_for_row_and_drills() {
    let s = Scratch::new();
    let db = s.path("app/app.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    {
        let c = Connection::open(&db).unwrap();
        c.execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE t (i INTEGER PRIMARY KEY, v INTEGER);
             CREATE INDEX tv ON t (v);",
        )
        .unwrap();
        let tx = c.unchecked_transaction().unwrap();
        for i in 0..20_000 {
            tx.execute("INSERT INTO t VALUES (?1, ?2)", [i, i * 7])
                .unwrap();
        }
        tx.commit().unwrap();
    }
    let config = s.path("bunker.toml");
    write(
        &config,
        format!(
            r#"[daemon]
state_dir = "{state}"

[repositories.r]
url = "{repo}"
password = "{PASSWORD}"

[jobs.db]
repository = "r"
source = {{ type = "sqlite", path = "{db}" }}

[jobs.db.verify]
drill = "@every 1s"
expect_tables = ["t"]
min_rows = {{ t = 20000 }}
sql = ["SELECT count(*) % 2 = 0 FROM t", "SELECT sum(v) = 7 * sum(i) FROM t"]
"#,
            state = s.path("state").display(),
            repo = s.repo().display(),
            db = db.display(),
        )
        .as_bytes(),
    );
    bunker(&s.repo(), &["init"]);

    // A writer commits pairs of rows the whole time the job runs.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, db) = (stop.clone(), db.clone());
        std::thread::spawn(move || {
            let c = Connection::open(&db).unwrap();
            c.busy_timeout(std::time::Duration::from_secs(30)).unwrap();
            let mut i = 20_000i64;
            while !stop.load(Ordering::Relaxed) {
                let tx = c.unchecked_transaction().unwrap();
                for j in [i, i + 1] {
                    tx.execute("INSERT INTO t VALUES (?1, ?2)", [j, j * 7])
                        .unwrap();
                }
                tx.commit().unwrap();
                i += 2;
            }
            i
        })
    };
    let out = std::process::Command::new(bunker_bin())
        .arg("--config")
        .arg(&config)
        .args(["--json", "run", "db", "--verify"])
        .output()
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(report[0]["drill"]["passed"], true, "{report}");

    // The copy is a prefix of what was written: whole transactions, in order.
    let target = s.path("restored");
    bunker(
        &s.repo(),
        &["restore", "latest", "--target", target.to_str().unwrap()],
    );
    let restored = restored(&target, Path::new("/app.db"));
    let got = rows(&restored);
    assert!(
        got.len() >= 20_000 && got.len().is_multiple_of(2),
        "{}",
        got.len()
    );
    assert!(got.len() as i64 <= written);
    assert!(got
        .iter()
        .enumerate()
        .all(|(n, &(i, v))| i == n as i64 && v == i * 7));
    let c = Connection::open(&restored).unwrap();
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");

    // With the writer stopped, a backup holds exactly what the database holds.
    bunker(
        &s.repo(),
        &["--config", config.to_str().unwrap(), "run", "db"],
    );
    let again = s.path("again");
    bunker(
        &s.repo(),
        &["restore", "latest", "--target", again.to_str().unwrap()],
    );
    assert_eq!(rows(&restored_path(&again)), rows(&db));

    // A drill whose assertion fails says which.
    let text = std::fs::read_to_string(&config).unwrap();
    write(
        &config,
        text.replace("t = 20000", "t = 100000000").as_bytes(),
    );
    let out = std::process::Command::new(bunker_bin())
        .arg("--config")
        .arg(&config)
        .args(["run", "db", "--verify"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("drill failed") && err.contains("at least 100000000 rows"),
        "{err}"
    );
}

fn restored_path(target: &Path) -> std::path::PathBuf {
    restored(target, Path::new("/app.db"))
}
