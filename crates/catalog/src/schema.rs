//! The catalog's tables, their forward migrations, and how values are stored in them.
//!
//! The schema version lives in `PRAGMA user_version`. Each entry of [`MIGRATIONS`]
//! takes the schema from its index to the next version; entries are never edited once
//! released, only appended. Times are RFC 3339 UTC text with nanoseconds (fixed width,
//! so text order is time order); the JSON of audit details is text.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::{FromSqlError, ValueRef};
use rusqlite::{Connection, Row, TransactionBehavior};

use crate::error::{Error, Result};

/// Version 1: runs, drills, audit, incidents, jobs seen, and small daemon state.
const V1: &str = "
CREATE TABLE runs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    job            TEXT NOT NULL,
    triggered_by   TEXT NOT NULL,
    repository     TEXT NOT NULL,
    started        TEXT NOT NULL,
    finished       TEXT,
    outcome        TEXT NOT NULL,
    failed_step    TEXT,
    error          TEXT,
    snapshot       TEXT,
    bytes_read     INTEGER NOT NULL DEFAULT 0,
    bytes_added    INTEGER NOT NULL DEFAULT 0,
    files          INTEGER NOT NULL DEFAULT 0,
    total_size     INTEGER,
    snapshot_count INTEGER,
    -- The process running it, so that only runs whose process is gone are marked
    -- interrupted (a CLI run and the daemon share the file).
    pid            INTEGER
);
CREATE INDEX runs_by_job ON runs (job, started);
CREATE INDEX runs_running ON runs (outcome) WHERE outcome = 'running';

CREATE TABLE drills (
    report_id        TEXT PRIMARY KEY,
    job              TEXT NOT NULL,
    snapshot         TEXT NOT NULL,
    started          TEXT NOT NULL,
    finished         TEXT NOT NULL,
    passed           INTEGER NOT NULL,
    restore_seconds  REAL NOT NULL,
    data_age_seconds REAL NOT NULL,
    detail           TEXT NOT NULL
);
CREATE INDEX drills_by_job ON drills (job, finished);

CREATE TABLE audit (
    id         TEXT PRIMARY KEY,
    time       TEXT NOT NULL,
    who        TEXT NOT NULL,
    host       TEXT NOT NULL,
    action     TEXT NOT NULL,
    repository TEXT NOT NULL,
    job        TEXT,
    detail     TEXT NOT NULL
);
CREATE INDEX audit_by_time ON audit (time);

CREATE TABLE incidents (
    key    TEXT PRIMARY KEY,
    job    TEXT NOT NULL,
    kind   TEXT NOT NULL,
    detail TEXT NOT NULL,
    opened TEXT NOT NULL
);

CREATE TABLE jobs (
    name       TEXT PRIMARY KEY,
    first_seen TEXT NOT NULL
);

CREATE TABLE state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

/// Version 2: the outbox of notifications not yet delivered.
const V2: &str = "
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    notifier     TEXT NOT NULL,
    job          TEXT NOT NULL,
    kind         TEXT NOT NULL,
    -- The event as the notifier's library serialises it.
    payload      TEXT NOT NULL,
    created      TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt TEXT NOT NULL,
    last_error   TEXT,
    -- While a process is sending it: until when the others leave it alone.
    claimed_until TEXT
);
CREATE INDEX outbox_due ON outbox (next_attempt);
";

/// Every migration, oldest first: entry `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[V1, V2];

/// The schema version this code writes.
pub(crate) const CURRENT: u32 = MIGRATIONS.len() as u32;

/// Brings the schema up to [`CURRENT`]. Two processes opening a new file at once both
/// get here: the write lock, and reading the version again under it, make one of them
/// create the tables and the other find them made.
pub(crate) fn migrate(conn: &mut Connection, name: &str) -> Result<()> {
    let sql = |e| Error::sqlite(name, e);
    if user_version(conn).map_err(sql)? == CURRENT {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql)?;
    let found = user_version(&tx).map_err(sql)?;
    if found > CURRENT {
        return Err(Error::Invalid(format!(
            "catalog {name} has schema version {found}, newer than this bunker's \
             ({CURRENT}): upgrade bunker, or move the file aside and run `bunker catalog rebuild`"
        )));
    }
    for (from, step) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(step).map_err(sql)?;
        tx.pragma_update(None, "user_version", from as u32 + 1)
            .map_err(sql)?;
    }
    tx.commit().map_err(sql)
}

fn user_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

#[cfg(test)]
pub(crate) fn version(cat: &crate::Catalog) -> Result<u32> {
    cat.with(|c| user_version(c))
}

/// A time as stored: RFC 3339, UTC, nanoseconds, `Z`.
pub(crate) fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Reads a stored time from column `idx`.
pub(crate) fn time_at(row: &Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    parse_time(row.get_ref(idx)?, idx)
}

/// Reads a stored time that may be NULL from column `idx`.
pub(crate) fn opt_time_at(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    match row.get_ref(idx)? {
        ValueRef::Null => Ok(None),
        v => parse_time(v, idx).map(Some),
    }
}

fn parse_time(v: ValueRef<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    let text = v.as_str().map_err(|e| from_sql_err(idx, v, e))?;
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| from_sql_err(idx, v, FromSqlError::Other(Box::new(e))))
}

fn from_sql_err(idx: usize, v: ValueRef<'_>, e: FromSqlError) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, v.data_type(), Box::new(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_schema_is_refused_with_the_remedy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        drop(crate::Catalog::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", CURRENT + 1)
            .unwrap();
        drop(conn);
        let err = crate::Catalog::open(&path).err().unwrap().to_string();
        assert!(err.contains("newer than this bunker"), "{err}");
        assert!(err.contains("catalog.db"), "{err}");
    }

    #[test]
    fn times_sort_as_text_and_round_trip() {
        let a: DateTime<Utc> = "2024-05-01T09:59:59.999999999Z".parse().unwrap();
        let b: DateTime<Utc> = "2024-05-01T10:00:00Z".parse().unwrap();
        assert!(time_text(a) < time_text(b));
        let cat = crate::Catalog::open_in_memory().unwrap();
        let back = cat
            .with(|c| c.query_row("SELECT ?1", [time_text(a)], |r| time_at(r, 0)))
            .unwrap();
        assert_eq!(back, a);
    }
}
