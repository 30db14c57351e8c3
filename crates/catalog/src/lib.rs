//! bunker's local catalog: job runs, drill results, open alert incidents, notifications
//! not yet delivered and the audit log, in one SQLite file under the state directory.
//!
//! The catalog is a convenience, not the truth: repositories hold the snapshots, the
//! drill reports (`drills/`) and the audit log (`audit/`), and [`rebuild::rebuild`]
//! reconstructs the catalog from them when the local file is lost.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rusqlite::Connection;

pub mod audit;
mod drills;
mod error;
mod incidents;
mod liveness;
mod marks;
mod objects;
mod outbox;
pub mod rebuild;
mod runs;
mod schema;

pub use audit::AuditEvent;
pub use drills::DrillRecord;
pub use error::{Error, Result};
pub use incidents::Incident;
pub use outbox::{NewNotification, Outgoing};
pub use runs::{Outcome, Run, RunResult, Trigger};

/// How long a write waits for another process (a CLI `bunker run` beside the daemon)
/// to finish its own before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// An open catalog. One connection behind a mutex: every call is a short statement or
/// transaction, so threads share one handle; processes share the file through SQLite's
/// locking (WAL journal, busy timeout).
pub struct Catalog {
    conn: Mutex<Connection>,
    /// The file, for error messages (`:memory:` for an in-memory catalog).
    name: String,
}

impl Catalog {
    /// Opens the catalog at `path`, creating the file, its parent directories and the
    /// schema when needed, and migrating an older schema forward.
    ///
    /// The catalog names repositories, jobs, who ran what and the audit log: the file
    /// (and SQLite's `-wal` and `-shm` beside it) is readable by its owner only, in
    /// directories created 0700, whatever the umask; a file left readable by an older
    /// version is made private.
    pub fn open(path: &Path) -> Result<Catalog> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { path, source }
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io(dir))?;
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(io(path))?;
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            make_private(Path::new(&file)).map_err(io(Path::new(&file)))?;
        }
        let name = path.display().to_string();
        let conn = Connection::open(path).map_err(|e| Error::sqlite(&name, e))?;
        Catalog::setup(conn, name)
    }

    /// A catalog that lives in memory only, for tests and one-shot commands.
    pub fn open_in_memory() -> Result<Catalog> {
        let name = ":memory:".to_string();
        let conn = Connection::open_in_memory().map_err(|e| Error::sqlite(&name, e))?;
        Catalog::setup(conn, name)
    }

    fn setup(mut conn: Connection, name: String) -> Result<Catalog> {
        let sql = |e| Error::sqlite(&name, e);
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
        use_wal(&conn).map_err(sql)?;
        schema::migrate(&mut conn, &name)?;
        Ok(Catalog {
            conn: Mutex::new(conn),
            name,
        })
    }

    /// Runs `f` on the connection, naming the catalog file in any error.
    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T> {
        // A thread that panicked while holding the lock left the connection usable:
        // SQLite rolled back whatever it had not committed.
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn).map_err(|e| Error::sqlite(&self.name, e))
    }
}

/// Takes the group's and others' permissions off a file bunker owns, if it exists.
fn make_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Ok(m) if m.permissions().mode() & 0o077 != 0 => std::fs::set_permissions(
            path,
            std::fs::Permissions::from_mode(m.permissions().mode() & 0o700),
        ),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Switches the file to WAL, which lets readers (the dashboard) go on while a run
/// writes; the mode is kept in the file, so this changes something once. Changing the
/// mode fails at once, without the busy timeout, while another connection reads the
/// file (two processes opening a new catalog together), so it is retried here.
/// An in-memory database stays in "memory" mode, which is fine.
fn use_wal(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0)) {
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(rand::random::<u64>() % 20 + 1));
            }
            r => return r.map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;

    #[test]
    fn catalog_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Catalog>();
    }

    #[test]
    fn open_creates_parent_dirs_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/deeper/catalog.db");
        let cat = Catalog::open(&path).unwrap();
        cat.first_seen("db", Utc::now()).unwrap();
        drop(cat);
        let cat = Catalog::open(&path).unwrap();
        assert_eq!(schema::version(&cat).unwrap(), schema::CURRENT);
        let mode: String = cat
            .with(|c| c.pragma_query_value(None, "journal_mode", |r| r.get(0)))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn two_handles_on_one_file_write_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        let handles: Vec<_> = (0..2)
            .map(|n| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let cat = Catalog::open(&path).unwrap();
                    for i in 0..100 {
                        let job = format!("job{n}");
                        let id = cat
                            .start_run(&job, Trigger::Schedule, "main", Utc::now())
                            .unwrap();
                        cat.finish_run(id, &RunResult::new(Outcome::Success, Utc::now()))
                            .unwrap();
                        let e = AuditEvent::new("backup", "main", Some(&job), json!({"i": i}));
                        cat.record_audit(&e).unwrap();
                        cat.open_incident(&format!("{job}/{i}"), &job, "late", "", Utc::now())
                            .unwrap();
                        cat.mark_interrupted(Utc::now()).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let cat = Catalog::open(&path).unwrap();
        assert_eq!(cat.runs(None, 1000).unwrap().len(), 200);
        assert_eq!(cat.recent_successes("job1", 1000).unwrap().len(), 100);
        assert_eq!(cat.audit(1000).unwrap().len(), 200);
        assert_eq!(cat.open_incidents().unwrap().len(), 200);
    }
}
