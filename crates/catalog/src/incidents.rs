//! Open alert incidents: a problem is alerted once when it starts, not at every check
//! that still sees it, and a recovery is sent once when it clears.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use crate::error::Result;
use crate::schema::{time_at, time_text};
use crate::Catalog;

/// A problem that has been alerted and has not cleared yet.
#[derive(Clone, Debug, Serialize)]
pub struct Incident {
    /// What identifies the problem across checks, such as `db/late` or `db/failed`.
    pub key: String,
    pub job: String,
    /// The kind of problem: `failed`, `late`, `drill-failed`…
    pub kind: String,
    /// The message sent when it opened.
    pub detail: String,
    pub opened: DateTime<Utc>,
}

fn incident_from_row(row: &Row<'_>) -> rusqlite::Result<Incident> {
    Ok(Incident {
        key: row.get(0)?,
        job: row.get(1)?,
        kind: row.get(2)?,
        detail: row.get(3)?,
        opened: time_at(row, 4)?,
    })
}

impl Catalog {
    /// Opens incident `key` unless it is open already; true when it was newly opened,
    /// that is when an alert should go out.
    pub fn open_incident(
        &self,
        key: &str,
        job: &str,
        kind: &str,
        detail: &str,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let n = self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO incidents (key, job, kind, detail, opened) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![key, job, kind, detail, time_text(at)],
            )
        })?;
        Ok(n == 1)
    }

    /// Closes incident `key`; returns it when it was open, that is when a recovery
    /// should go out.
    pub fn close_incident(&self, key: &str) -> Result<Option<Incident>> {
        self.with(|c| {
            c.query_row(
                "DELETE FROM incidents WHERE key = ?1 \
                 RETURNING key, job, kind, detail, opened",
                [key],
                incident_from_row,
            )
            .optional()
        })
    }

    /// Every open incident, oldest first.
    pub fn open_incidents(&self) -> Result<Vec<Incident>> {
        self.with(|c| {
            c.prepare_cached(
                "SELECT key, job, kind, detail, opened FROM incidents ORDER BY opened, key",
            )?
            .query_map([], incident_from_row)?
            .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incidents_open_once_and_close_once() {
        let cat = Catalog::open_in_memory().unwrap();
        let at: DateTime<Utc> = "2024-05-01T02:00:00Z".parse().unwrap();
        let later = at + chrono::Duration::hours(1);
        assert!(cat
            .open_incident("db/late", "db", "late", "no backup for 26 h", at)
            .unwrap());
        assert!(!cat
            .open_incident("db/late", "db", "late", "no backup for 27 h", later)
            .unwrap());
        assert!(cat
            .open_incident("web/failed", "web", "failed", "exit 1", later)
            .unwrap());

        let open = cat.open_incidents().unwrap();
        assert_eq!(open.len(), 2);
        assert_eq!(open[0].key, "db/late");
        assert_eq!(open[0].detail, "no backup for 26 h");
        assert_eq!(open[0].opened, at);

        let closed = cat.close_incident("db/late").unwrap().unwrap();
        assert_eq!((closed.job.as_str(), closed.kind.as_str()), ("db", "late"));
        assert_eq!(closed.opened, at);
        assert!(cat.close_incident("db/late").unwrap().is_none());
        assert_eq!(cat.open_incidents().unwrap().len(), 1);
        // Once closed, the same problem opens a new incident.
        assert!(cat
            .open_incident("db/late", "db", "late", "again", later)
            .unwrap());
    }
}
