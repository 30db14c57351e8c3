//! `type = "sqlite"`: one SQLite database, copied with SQLite's online backup API (a
//! consistent copy while writers go on, WAL mode included) and stored as one file;
//! restored to a new directory, and drilled by restoring it into scratch space, running
//! `PRAGMA integrity_check` and the job's assertions.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bunker_repo::{
    backup_stream, BackupOptions, BackupProgress, Repository, RestoreOptions, RestoreProgress,
    Snapshot,
};
use chrono::Local;
use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};

use super::{tree, Backup, Item, Restored, Source, Target};
use crate::drill::{check, Assertions, Check, DatabaseDrill, DrillReport, TableRows};
use crate::error::{Error, Result};
use crate::value::Text;

/// The database file.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sqlite {
    pub path: Text,
}

fn sql_error(what: &str, path: &Path, e: rusqlite::Error) -> Error {
    Error::Invalid(format!("{what} {}: {e}", path.display()))
}

impl Sqlite {
    fn path(&self) -> &Path {
        Path::new(&self.path.0)
    }

    /// The name the database is stored under: its file name.
    fn file_name(&self) -> String {
        self.path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "database.sqlite".into())
    }

    /// A consistent copy of the database in `dir`, made in one step of the backup API
    /// (all pages at once, under one read transaction: writers in WAL mode go on, and
    /// none of their half-done transactions is in the copy; a step of fewer pages would
    /// start over each time a writer commits).
    fn copy_into(&self, dir: &Path) -> Result<PathBuf> {
        let src_path = self.path();
        let src = Connection::open_with_flags(
            src_path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| sql_error("opening", src_path, e))?;
        src.busy_timeout(Duration::from_secs(60))
            .map_err(|e| sql_error("opening", src_path, e))?;
        let copy = dir.join(self.file_name());
        let mut dst = Connection::open(&copy).map_err(|e| sql_error("creating", &copy, e))?;
        rusqlite::backup::Backup::new(&src, &mut dst)
            .and_then(|b| b.run_to_completion(i32::MAX, Duration::ZERO, None))
            .map_err(|e| sql_error("copying", src_path, e))?;
        Ok(copy)
    }
}

/// The checks of a drill on a restored database file.
fn checks_of(db: &Path, a: &Assertions) -> (Vec<Check>, Vec<TableRows>) {
    let conn = match Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY) {
        Ok(c) => c,
        Err(e) => return (vec![check("open", false, e.to_string())], Vec::new()),
    };
    let mut checks = Vec::new();
    let integrity: rusqlite::Result<String> =
        conn.query_row("PRAGMA integrity_check", [], |r| r.get(0));
    checks.push(match integrity {
        Ok(s) => check("integrity_check", s == "ok", s),
        Err(e) => check("integrity_check", false, e.to_string()),
    });
    let count = |table: &str| -> rusqlite::Result<u64> {
        conn.query_row(
            &format!("SELECT count(*) FROM \"{}\"", table.replace('"', "\"\"")),
            [],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n as u64)
    };
    let mut tables = Vec::new();
    // SQLite has no schemas: `public.t` and `t` are the table `t`.
    for t in &a.expect_tables {
        match count(&t.name) {
            Ok(n) => {
                tables.push(TableRows {
                    table: t.name.clone(),
                    rows: n,
                });
                checks.push(check(
                    format!("{} has rows", t.name),
                    n > 0,
                    format!("{n} rows"),
                ));
            }
            Err(e) => checks.push(check(format!("{} has rows", t.name), false, e.to_string())),
        }
    }
    for (t, min) in &a.min_rows {
        let name = format!("{} has at least {min} rows", t.name);
        checks.push(match count(&t.name) {
            Ok(n) => check(name, n >= *min, format!("{n} rows")),
            Err(e) => check(name, false, e.to_string()),
        });
    }
    for q in &a.sql {
        let r: rusqlite::Result<bool> = conn.query_row(q, [], |r| r.get(0));
        checks.push(match r {
            Ok(v) => check(q.clone(), v, if v { "true" } else { "false" }),
            Err(e) => check(q.clone(), false, e.to_string()),
        });
    }
    (checks, tables)
}

impl Source for Sqlite {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn check(&self) -> std::result::Result<(), String> {
        if self.path.0.is_empty() {
            return Err("path is empty: name the database file".into());
        }
        Ok(())
    }

    /// The copy goes through a private temporary file (the backup API writes a
    /// database, not a stream), then into the snapshot as one file.
    fn backup(
        &self,
        repo: Arc<Repository>,
        opts: BackupOptions,
        progress: &BackupProgress,
    ) -> Result<Backup> {
        if !self.path().is_file() {
            return Err(Error::Invalid(format!(
                "{}: no such database file",
                self.path().display()
            )));
        }
        let tmp = tempfile::Builder::new()
            .prefix("bunker-sqlite-")
            .tempdir()
            .map_err(|e| Error::Invalid(format!("a temporary directory: {e}")))?;
        let copy = self.copy_into(tmp.path())?;
        let file = std::fs::File::open(&copy).map_err(|e| Error::Io {
            path: copy.clone(),
            source: e,
        })?;
        let result = backup_stream(repo, file, &self.file_name(), &opts, progress, &mut || {
            Ok(())
        })?;
        Ok(Backup {
            result,
            warnings: Vec::new(),
        })
    }

    /// Into a new directory, as the one file. In place would mean replacing a file that
    /// applications hold open: restore beside it and swap while they are stopped.
    fn restore(
        &self,
        repo: &Arc<Repository>,
        snapshot: &Snapshot,
        target: &Target,
    ) -> Result<Restored> {
        tree::restore(
            repo,
            snapshot,
            target,
            self.kind(),
            "restore in place; restore into a new directory and swap the file while \
             its applications are stopped",
        )
    }

    fn drill(
        &self,
        repo: &Arc<Repository>,
        snapshot: &Snapshot,
        scratch: &Path,
        assertions: &Assertions,
    ) -> Result<DrillReport> {
        let dir = tree::scratch_dir(scratch)?;
        let started = Local::now().fixed_offset();
        let t0 = Instant::now();
        let restored = bunker_repo::restore(
            repo,
            snapshot,
            dir.as_path(),
            &RestoreOptions::default(),
            &RestoreProgress::default(),
        );
        let restore_seconds = t0.elapsed().as_secs_f64();
        let name = self.file_name();
        let (checks, tables) = match restored {
            Err(e) => (vec![check("restore", false, e.to_string())], Vec::new()),
            Ok(r) if !r.damaged.is_empty() => (
                vec![check("restore", false, r.damaged.join("; "))],
                Vec::new(),
            ),
            Ok(_) => {
                let file = snapshot
                    .paths
                    .first()
                    .map(|p| dir.as_path().join(p.trim_start_matches('/')))
                    .unwrap_or_else(|| dir.as_path().join(&name));
                let mut checks = vec![check("restore", true, format!("{restore_seconds:.1} s"))];
                let (more, tables) = checks_of(&file, assertions);
                checks.extend(more);
                (checks, tables)
            }
        };
        let _ = std::fs::remove_dir_all(&dir);
        let passed = checks.iter().all(|c| c.passed);
        Ok(DrillReport {
            kind: "sqlite".into(),
            snapshot: snapshot.id.to_hex(),
            snapshot_time: snapshot.time,
            host: bunker_repo::hostname(),
            started,
            finished: Local::now().fixed_offset(),
            data_age_seconds: (started - snapshot.time).num_milliseconds() as f64 / 1000.0,
            restore_seconds,
            passed,
            databases: vec![DatabaseDrill {
                name,
                scratch_database: dir.as_path().display().to_string(),
                restore_seconds,
                passed,
                checks,
                tables,
            }],
            job: None,
        })
    }

    fn contents(&self, _repo: &Arc<Repository>, snapshot: &Snapshot) -> Result<Vec<Item>> {
        Ok(tree::single_file(snapshot, "database"))
    }
}
