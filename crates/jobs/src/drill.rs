//! Restore drills: restore a backup into a throwaway target, check what came back,
//! measure how long it took and how old the data was, and keep the report in the
//! repository (encrypted, under `drills/`) so that the history outlives the machine.

use std::sync::Arc;
use std::time::Instant;

use bunker_repo::{FileType, Id, Repository};
use bunker_sources::postgres::{quote_literal, ScratchDatabase, Server, TableRef};
use chrono::{DateTime, FixedOffset, Local};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::postgres::PgSnapshot;

/// What must hold in every drilled database, besides "it restored and has tables".
#[derive(Clone, Debug, Default)]
pub struct Assertions {
    /// Tables that must exist and hold at least one row.
    pub expect_tables: Vec<TableRef>,
    /// Tables that must hold at least so many rows.
    pub min_rows: Vec<(TableRef, u64)>,
    /// Queries that must return true.
    pub sql: Vec<String>,
}

impl Assertions {
    /// From the command line's `TABLE`, `TABLE=N` and query strings.
    pub fn parse(expect: &[String], min_rows: &[String], sql: &[String]) -> Result<Assertions> {
        let expect_tables = expect
            .iter()
            .map(|t| t.parse().map_err(Error::from))
            .collect::<Result<_>>()?;
        let min_rows = min_rows
            .iter()
            .map(|s| {
                let (t, n) = s
                    .rsplit_once('=')
                    .ok_or_else(|| Error::MinRowsForm(s.clone()))?;
                let n = n
                    .trim()
                    .parse()
                    .map_err(|_| Error::RowCount(n.to_string()))?;
                Ok((t.trim().parse()?, n))
            })
            .collect::<Result<_>>()?;
        Ok(Assertions {
            expect_tables,
            min_rows,
            sql: sql.to_vec(),
        })
    }
}

/// One check and its outcome.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

/// Rows in one restored table.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TableRows {
    pub table: String,
    pub rows: u64,
}

/// The drill of one database.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DatabaseDrill {
    pub name: String,
    /// The throwaway database it was restored into (dropped afterwards).
    pub scratch_database: String,
    pub restore_seconds: f64,
    pub passed: bool,
    pub checks: Vec<Check>,
    pub tables: Vec<TableRows>,
}

/// A drill's report, as kept in the repository.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DrillReport {
    /// What was drilled: "postgres".
    pub kind: String,
    pub snapshot: String,
    pub snapshot_time: DateTime<FixedOffset>,
    pub host: String,
    pub started: DateTime<FixedOffset>,
    pub finished: DateTime<FixedOffset>,
    /// The data's age when the drill started: from the dump's start (the point it
    /// restores to) to now. The recovery point a restore now would give.
    pub data_age_seconds: f64,
    /// Time to restore all drilled databases: the measured recovery time.
    pub restore_seconds: f64,
    pub passed: bool,
    pub databases: Vec<DatabaseDrill>,
    /// The job that was drilled, when a job ran it (the catalog rebuilds drill
    /// history per job from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
}

impl DrillReport {
    /// The first failed check of each failed database, for a one-line verdict.
    pub fn failures(&self) -> Vec<String> {
        self.databases
            .iter()
            .filter(|d| !d.passed)
            .filter_map(|d| {
                d.checks
                    .iter()
                    .find(|c| !c.passed)
                    .map(|c| format!("{}: {} ({})", d.name, c.name, c.detail))
            })
            .collect()
    }
}

pub(crate) fn check(name: impl Into<String>, passed: bool, detail: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        passed,
        detail: detail.into(),
    }
}

/// Row counts of every user table, in one round trip.
fn table_rows(server: &Server, db: &str) -> Result<Vec<TableRows>> {
    Ok(server.query(
        Some(db),
        "SELECT format('%s.%s', n.nspname, c.relname) AS table, \
         (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', \
         n.nspname, c.relname), false, true, '')))[1]::text::bigint AS rows \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
         AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1",
    )?)
}

fn rows_of(server: &Server, db: &str, t: &TableRef) -> std::result::Result<u64, String> {
    let exists: bool = server
        .query_value(
            Some(db),
            &format!(
                "SELECT to_regclass({}) IS NOT NULL",
                quote_literal(&t.quoted())
            ),
        )
        .map_err(|e| e.to_string())?;
    if !exists {
        return Err(format!("table {t} does not exist"));
    }
    server
        .query_value(Some(db), &format!("SELECT count(*) FROM {}", t.quoted()))
        .map_err(|e| e.to_string())
}

pub(crate) fn run_checks(
    server: &Server,
    db: &str,
    a: &Assertions,
) -> Result<(Vec<Check>, Vec<TableRows>)> {
    let tables = table_rows(server, db)?;
    let mut checks = Vec::new();
    let nonempty = tables.iter().filter(|t| t.rows > 0).count();
    checks.push(check(
        "tables exist",
        !tables.is_empty(),
        format!("{} tables, {nonempty} with rows", tables.len()),
    ));
    for t in &a.expect_tables {
        let c = match rows_of(server, db, t) {
            Ok(0) => check(format!("{t} is not empty"), false, "0 rows"),
            Ok(n) => check(format!("{t} is not empty"), true, format!("{n} rows")),
            Err(e) => check(format!("{t} is not empty"), false, e),
        };
        checks.push(c);
    }
    for (t, min) in &a.min_rows {
        let name = format!("{t} has at least {min} rows");
        let c = match rows_of(server, db, t) {
            Ok(n) => check(name, n >= *min, format!("{n} rows")),
            Err(e) => check(name, false, e),
        };
        checks.push(c);
    }
    for q in &a.sql {
        let c = match server.query_value::<Option<bool>>(Some(db), q) {
            Ok(Some(true)) => check(q.clone(), true, "true"),
            Ok(Some(false)) => check(q.clone(), false, "returned false"),
            Ok(None) => check(q.clone(), false, "returned NULL"),
            Err(e) => check(q.clone(), false, e.to_string()),
        };
        checks.push(c);
    }
    Ok((checks, tables))
}

/// Drills databases `dbs` of a PostgreSQL snapshot (all of them when empty): each is
/// restored into a throwaway database named so that it cannot collide, checked, and
/// dropped, also when something fails.
pub fn drill_pg(
    snap: &PgSnapshot,
    server: &Server,
    dbs: &[String],
    assertions: &Assertions,
    host: String,
) -> Result<DrillReport> {
    let _lock = snap.repo().lock(false)?;
    let started = Local::now().fixed_offset();
    let data_age = (started - snap.meta.started).num_milliseconds() as f64 / 1000.0;
    let names: Vec<String> = if dbs.is_empty() {
        snap.meta
            .databases
            .iter()
            .map(|d| d.database.name.clone())
            .collect()
    } else {
        dbs.to_vec()
    };
    let mut databases = Vec::new();
    let mut restore_total = 0.0;
    for name in &names {
        let dumped = snap.database(name)?;
        let scratch_name = crate::postgres::scratch_name("bunker_drill", name);
        let t0 = Instant::now();
        let restored = ScratchDatabase::create(server, &scratch_name, &dumped.database)
            .map_err(Error::from)
            .and_then(|scratch| {
                crate::postgres::restore_archive(snap, server, dumped, scratch.name(), 1, None)?;
                Ok(scratch)
            });
        let restore_seconds = t0.elapsed().as_secs_f64();
        restore_total += restore_seconds;
        let (checks, tables) = match restored {
            Err(e) => (vec![check("restore", false, e.to_string())], Vec::new()),
            Ok(scratch) => {
                let mut checks = vec![check("restore", true, format!("{restore_seconds:.1} s"))];
                let (more, tables) = run_checks(server, scratch.name(), assertions)?;
                checks.extend(more);
                drop(scratch);
                (checks, tables)
            }
        };
        databases.push(DatabaseDrill {
            name: name.clone(),
            scratch_database: scratch_name,
            restore_seconds,
            passed: checks.iter().all(|c| c.passed),
            checks,
            tables,
        });
    }
    Ok(DrillReport {
        kind: "postgres".into(),
        snapshot: snap.snapshot.id.to_hex(),
        snapshot_time: snap.snapshot.time,
        host,
        started,
        finished: Local::now().fixed_offset(),
        data_age_seconds: data_age,
        restore_seconds: restore_total,
        passed: databases.iter().all(|d| d.passed),
        databases,
        job: None,
    })
}

/// Stores a report in the repository, encrypted like restic's own files.
pub fn save_report(repo: &Repository, report: &DrillReport) -> Result<Id> {
    Ok(repo.save_json(FileType::Drill, report)?)
}

/// Every drill report in the repository, oldest first.
pub fn history(repo: &Arc<Repository>) -> Result<Vec<(Id, DrillReport)>> {
    let mut out = Vec::new();
    for (id, _) in repo.storage().list(FileType::Drill)? {
        out.push((id, repo.load_json::<DrillReport>(FileType::Drill, &id)?));
    }
    out.sort_by_key(|(_, r)| r.started);
    Ok(out)
}
