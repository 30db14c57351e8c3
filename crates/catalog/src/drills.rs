//! Restore drill results, one per report kept in a repository's `drills/`.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::schema::{time_at, time_text};
use crate::Catalog;

/// The outcome of one restore drill of a job: the measured recovery time and point.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DrillRecord {
    pub job: String,
    /// The id of the report file in the repository's `drills/` (full hex).
    pub report_id: String,
    /// The drilled snapshot (full hex id).
    pub snapshot: String,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    pub passed: bool,
    /// How long the restore took: the measured recovery time.
    pub restore_seconds: f64,
    /// How old the restored data was when the drill started: the recovery point.
    pub data_age_seconds: f64,
    /// The first failed check of each failed database, `; `-separated; empty when the
    /// drill passed.
    pub detail: String,
}

fn drill_from_row(row: &Row<'_>) -> rusqlite::Result<DrillRecord> {
    Ok(DrillRecord {
        report_id: row.get(0)?,
        job: row.get(1)?,
        snapshot: row.get(2)?,
        started: time_at(row, 3)?,
        finished: time_at(row, 4)?,
        passed: row.get(5)?,
        restore_seconds: row.get(6)?,
        data_age_seconds: row.get(7)?,
        detail: row.get(8)?,
    })
}

impl Catalog {
    /// Records a drill; recording the same report again changes nothing.
    pub fn record_drill(&self, d: &DrillRecord) -> Result<()> {
        self.with(|c| insert_drill(c, d).map(drop))
    }

    /// The newest drill of `job`, by when it finished.
    pub fn last_drill(&self, job: &str) -> Result<Option<DrillRecord>> {
        self.with(|c| {
            c.query_row(
                "SELECT report_id, job, snapshot, started, finished, passed, restore_seconds, \
                 data_age_seconds, detail FROM drills WHERE job = ?1 \
                 ORDER BY finished DESC, report_id DESC LIMIT 1",
                [job],
                drill_from_row,
            )
            .optional()
        })
    }

    /// Drills of `job` (of every job with `None`), newest first, at most `limit`.
    pub fn drills(&self, job: Option<&str>, limit: usize) -> Result<Vec<DrillRecord>> {
        self.with(|c| {
            c.prepare_cached(
                "SELECT report_id, job, snapshot, started, finished, passed, restore_seconds, \
                 data_age_seconds, detail FROM drills WHERE ?1 IS NULL OR job = ?1 \
                 ORDER BY finished DESC, report_id DESC LIMIT ?2",
            )?
            .query_map(params![job, limit], drill_from_row)?
            .collect()
        })
    }
}

/// Inserts a drill unless its report is there already; returns whether it was new.
pub(crate) fn insert_drill(c: &rusqlite::Connection, d: &DrillRecord) -> rusqlite::Result<bool> {
    let n = c.execute(
        "INSERT OR IGNORE INTO drills (report_id, job, snapshot, started, finished, passed, \
         restore_seconds, data_age_seconds, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            d.report_id,
            d.job,
            d.snapshot,
            time_text(d.started),
            time_text(d.finished),
            d.passed,
            d.restore_seconds,
            d.data_age_seconds,
            d.detail,
        ],
    )?;
    Ok(n == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drill(job: &str, report: &str, finished: &str, passed: bool) -> DrillRecord {
        let finished: DateTime<Utc> = finished.parse().unwrap();
        DrillRecord {
            job: job.into(),
            report_id: report.into(),
            snapshot: "ab".repeat(32),
            started: finished - chrono::Duration::seconds(40),
            finished,
            passed,
            restore_seconds: 31.5,
            data_age_seconds: 3600.0,
            detail: "app: restored".into(),
        }
    }

    #[test]
    fn drills_are_recorded_once_and_the_newest_is_found() {
        let cat = Catalog::open_in_memory().unwrap();
        assert!(cat.last_drill("db").unwrap().is_none());
        let old = drill("db", "r1", "2024-05-01T03:00:00Z", true);
        let new = drill("db", "r2", "2024-05-02T03:00:00Z", false);
        cat.record_drill(&new).unwrap();
        cat.record_drill(&old).unwrap();
        cat.record_drill(&old).unwrap();
        cat.record_drill(&drill("web", "r3", "2024-05-03T03:00:00Z", true))
            .unwrap();
        let last = cat.last_drill("db").unwrap().unwrap();
        assert_eq!(last.report_id, "r2");
        assert!(!last.passed);
        assert_eq!(last.finished, new.finished);
        assert_eq!(last.started, new.started);
        assert_eq!(last.restore_seconds, 31.5);
        let n: u64 = cat
            .with(|c| c.query_row("SELECT count(*) FROM drills", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(n, 3);
    }

    #[test]
    fn drills_list_newest_first_per_job_or_all() {
        let cat = Catalog::open_in_memory().unwrap();
        for (job, id, at) in [
            ("db", "r1", "2024-05-01T03:00:00Z"),
            ("db", "r2", "2024-05-02T03:00:00Z"),
            ("web", "r3", "2024-05-03T03:00:00Z"),
        ] {
            cat.record_drill(&drill(job, id, at, true)).unwrap();
        }
        let ids = |d: Vec<DrillRecord>| d.into_iter().map(|d| d.report_id).collect::<Vec<_>>();
        assert_eq!(ids(cat.drills(Some("db"), 10).unwrap()), ["r2", "r1"]);
        assert_eq!(ids(cat.drills(None, 2).unwrap()), ["r3", "r2"]);
    }
}
