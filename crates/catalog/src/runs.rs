//! Job runs: when each run started, how it ended, and what it moved.

use chrono::{DateTime, Utc};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{params, OptionalExtension, Row, ToSql};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::schema::{opt_time_at, time_at, time_text};
use crate::Catalog;

/// What started a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// The job's schedule came due.
    Schedule,
    /// A run the daemon missed while it was down, made up at start.
    CatchUp,
    /// `bunker run JOB` on the command line.
    Manual,
    /// A request to the daemon's HTTP API.
    Api,
}

/// How a run ended, or that it has not yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Running,
    Success,
    /// The default, so that a result nobody filled in does not pass for a success.
    #[default]
    Failure,
    /// A snapshot was written, but without some files (restic's exit code 3).
    Partial,
    /// The process running it ended before it finished (killed, crashed, rebooted).
    Interrupted,
}

/// What a finished run reports to [`Catalog::finish_run`].
#[derive(Clone, Debug, Default)]
pub struct RunResult {
    pub outcome: Outcome,
    pub finished: DateTime<Utc>,
    /// The step that failed (`dump`, `backup`, `forget`, `copy`…), if one did.
    pub failed_step: Option<String>,
    pub error: Option<String>,
    /// The snapshot written, as full hex id.
    pub snapshot: Option<String>,
    pub bytes_read: u64,
    pub bytes_added: u64,
    pub files: u64,
    /// The repository's size after the run, when it was measured.
    pub total_size: Option<u64>,
    /// The job's snapshots after the run (and its retention), when counted.
    pub snapshot_count: Option<u64>,
}

impl RunResult {
    /// A result with the given outcome and end, everything else empty.
    pub fn new(outcome: Outcome, finished: DateTime<Utc>) -> RunResult {
        RunResult {
            outcome,
            finished,
            ..RunResult::default()
        }
    }
}

/// One run as the catalog holds it.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    pub id: i64,
    pub job: String,
    pub trigger: Trigger,
    pub repository: String,
    pub started: DateTime<Utc>,
    /// When it ended; for an interrupted run, when that was noticed.
    pub finished: Option<DateTime<Utc>>,
    pub outcome: Outcome,
    pub failed_step: Option<String>,
    pub error: Option<String>,
    pub snapshot: Option<String>,
    pub bytes_read: u64,
    pub bytes_added: u64,
    pub files: u64,
    pub total_size: Option<u64>,
    pub snapshot_count: Option<u64>,
    /// Seconds from start to end; `None` while running and for interrupted runs, whose
    /// end is not known.
    pub duration_seconds: Option<f64>,
}

const RUN_COLUMNS: &str = "id, job, triggered_by, repository, started, finished, outcome, \
     failed_step, error, snapshot, bytes_read, bytes_added, files, total_size, snapshot_count";

fn run_from_row(row: &Row<'_>) -> rusqlite::Result<Run> {
    let started = time_at(row, 4)?;
    let finished = opt_time_at(row, 5)?;
    let outcome: Outcome = row.get(6)?;
    let duration_seconds = finished
        .filter(|_| outcome != Outcome::Interrupted)
        .map(|f| (f - started).num_milliseconds() as f64 / 1000.0);
    Ok(Run {
        id: row.get(0)?,
        job: row.get(1)?,
        trigger: row.get(2)?,
        repository: row.get(3)?,
        started,
        finished,
        outcome,
        failed_step: row.get(7)?,
        error: row.get(8)?,
        snapshot: row.get(9)?,
        bytes_read: row.get(10)?,
        bytes_added: row.get(11)?,
        files: row.get(12)?,
        total_size: row.get(13)?,
        snapshot_count: row.get(14)?,
        duration_seconds,
    })
}

impl Catalog {
    /// Records that a run of `job` started; returns its id for [`Self::finish_run`].
    pub fn start_run(
        &self,
        job: &str,
        trigger: Trigger,
        repository: &str,
        started: DateTime<Utc>,
    ) -> Result<i64> {
        self.start_run_as(job, trigger, repository, started, std::process::id())
    }

    fn start_run_as(
        &self,
        job: &str,
        trigger: Trigger,
        repository: &str,
        started: DateTime<Utc>,
        pid: u32,
    ) -> Result<i64> {
        self.with(|c| {
            c.execute(
                "INSERT INTO runs (job, triggered_by, repository, started, outcome, pid) \
                 VALUES (?1, ?2, ?3, ?4, 'running', ?5)",
                params![job, trigger, repository, time_text(started), pid],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    /// Records how run `id` ended.
    pub fn finish_run(&self, id: i64, r: &RunResult) -> Result<()> {
        let changed = self.with(|c| {
            c.execute(
                "UPDATE runs SET finished = ?2, outcome = ?3, failed_step = ?4, error = ?5, \
                 snapshot = ?6, bytes_read = ?7, bytes_added = ?8, files = ?9, \
                 total_size = ?10, snapshot_count = ?11 WHERE id = ?1",
                params![
                    id,
                    time_text(r.finished),
                    r.outcome,
                    r.failed_step,
                    r.error,
                    r.snapshot,
                    r.bytes_read,
                    r.bytes_added,
                    r.files,
                    r.total_size,
                    r.snapshot_count,
                ],
            )
        })?;
        match changed {
            0 => Err(Error::Invalid(format!(
                "catalog {}: there is no run {id} to finish",
                self.name
            ))),
            _ => Ok(()),
        }
    }

    /// The newest successful run of `job` (a partial one does not count).
    pub fn last_success(&self, job: &str) -> Result<Option<Run>> {
        self.one_run("job = ?1 AND outcome = 'success'", job)
    }

    /// The newest run of `job`, whatever its outcome, running ones included.
    pub fn last_attempt(&self, job: &str) -> Result<Option<Run>> {
        self.one_run("job = ?1", job)
    }

    /// The newest run of `job` that has ended, whatever its outcome: what a run going
    /// now does not change until it ends.
    pub fn last_finished(&self, job: &str) -> Result<Option<Run>> {
        self.one_run("job = ?1 AND outcome != 'running'", job)
    }

    fn one_run(&self, filter: &str, job: &str) -> Result<Option<Run>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE {filter} ORDER BY started DESC, id DESC LIMIT 1"
        );
        self.with(|c| c.query_row(&sql, [job], run_from_row).optional())
    }

    /// Runs of `job` (of every job with `None`), newest first, at most `limit`.
    pub fn runs(&self, job: Option<&str>, limit: usize) -> Result<Vec<Run>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE ?1 IS NULL OR job = ?1 \
             ORDER BY started DESC, id DESC LIMIT ?2"
        );
        self.with(|c| {
            c.prepare_cached(&sql)?
                .query_map(params![job, limit], run_from_row)?
                .collect()
        })
    }

    /// One run by its id.
    pub fn run(&self, id: i64) -> Result<Option<Run>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1");
        self.with(|c| c.query_row(&sql, [id], run_from_row).optional())
    }

    /// Runs of `job` (of every job with `None`) that started at or after `since`, oldest
    /// first, at most `limit`: what charts and reports over a period are drawn from.
    pub fn runs_since(
        &self,
        job: Option<&str>,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Run>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM (SELECT * FROM runs WHERE (?1 IS NULL OR job = ?1)              AND started >= ?2 ORDER BY started DESC, id DESC LIMIT ?3)              ORDER BY started, id"
        );
        self.with(|c| {
            c.prepare_cached(&sql)?
                .query_map(params![job, time_text(since), limit], run_from_row)?
                .collect()
        })
    }

    /// The newest `n` successful runs of `job`, newest first: what the medians of size
    /// and duration, against which a run is judged unusual, are taken over.
    pub fn recent_successes(&self, job: &str, n: usize) -> Result<Vec<Run>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE job = ?1 AND outcome = 'success' \
             ORDER BY started DESC, id DESC LIMIT ?2"
        );
        self.with(|c| {
            c.prepare_cached(&sql)?
                .query_map(params![job, n], run_from_row)?
                .collect()
        })
    }

    /// How many runs of `job` failed, ever (interrupted ones are not failures).
    pub fn failures_total(&self, job: &str) -> Result<u64> {
        self.with(|c| {
            c.query_row(
                "SELECT count(*) FROM runs WHERE job = ?1 AND outcome = 'failure'",
                [job],
                |r| r.get(0),
            )
        })
    }

    /// Marks as interrupted, ended at `now`, the runs still `running` whose process is
    /// gone (killed, crashed, the machine rebooted); runs of live processes (a CLI run
    /// beside the daemon) are left alone. Returns how many were marked.
    pub fn mark_interrupted(&self, now: DateTime<Utc>) -> Result<usize> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let running: Vec<(i64, Option<u32>)> = tx
                .prepare("SELECT id, pid FROM runs WHERE outcome = 'running'")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut marked = 0;
            for (id, pid) in running {
                if pid.is_some_and(process_alive) {
                    continue;
                }
                marked += tx.execute(
                    "UPDATE runs SET outcome = 'interrupted', finished = ?2, \
                     error = coalesce(error, 'the process running it ended before it finished') \
                     WHERE id = ?1",
                    params![id, time_text(now)],
                )?;
            }
            tx.commit()?;
            Ok(marked)
        })
    }
}

/// Inserts a finished run as it is (rebuild); the id is chosen by the catalog.
pub(crate) fn insert_finished_run(c: &rusqlite::Connection, r: &Run) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO runs (job, triggered_by, repository, started, finished, outcome, \
         failed_step, error, snapshot, bytes_read, bytes_added, files, total_size, \
         snapshot_count) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params![
            r.job,
            r.trigger,
            r.repository,
            time_text(r.started),
            r.finished.map(time_text),
            r.outcome,
            r.failed_step,
            r.error,
            r.snapshot,
            r.bytes_read,
            r.bytes_added,
            r.files,
            r.total_size,
            r.snapshot_count,
        ],
    )?;
    Ok(())
}

/// Whether process `pid` still runs, from `/proc`. Where there is no `/proc` every
/// process counts as gone, so that leftover runs are still cleared.
fn process_alive(pid: u32) -> bool {
    let proc = std::path::Path::new("/proc");
    proc.join("self").exists() && proc.join(pid.to_string()).exists()
}

impl Trigger {
    /// The name stored and shown: `schedule`, `catch-up`, `manual`, `api`.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::CatchUp => "catch-up",
            Trigger::Manual => "manual",
            Trigger::Api => "api",
        }
    }
}

impl Outcome {
    /// The name stored and shown: `running`, `success`, `failure`, `partial`, `interrupted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Running => "running",
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Partial => "partial",
            Outcome::Interrupted => "interrupted",
        }
    }
}

impl ToSql for Trigger {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for Trigger {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        let all = [
            Trigger::Schedule,
            Trigger::CatchUp,
            Trigger::Manual,
            Trigger::Api,
        ];
        let s = v.as_str()?;
        all.into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| unknown("trigger", s))
    }
}

impl ToSql for Outcome {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for Outcome {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        let all = [
            Outcome::Running,
            Outcome::Success,
            Outcome::Failure,
            Outcome::Partial,
            Outcome::Interrupted,
        ];
        let s = v.as_str()?;
        all.into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| unknown("outcome", s))
    }
}

fn unknown(what: &str, s: &str) -> FromSqlError {
    FromSqlError::Other(format!("unknown {what} {s:?}").into())
}

#[cfg(test)]
mod tests;
