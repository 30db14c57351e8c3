//! Since when a job has existed and when the daemon last ran: what "late" and "the
//! daemon was down for" are measured from.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use crate::error::Result;
use crate::schema::{time_at, time_text};
use crate::Catalog;

const HEARTBEAT: &str = "daemon_heartbeat";

impl Catalog {
    /// When `job` was first seen: `now` the first time it is asked about, the stored
    /// time ever after. A job that never ran is late from then on.
    pub fn first_seen(&self, job: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
        self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO jobs (name, first_seen) VALUES (?1, ?2)",
                params![job, time_text(now)],
            )?;
            c.query_row("SELECT first_seen FROM jobs WHERE name = ?1", [job], |r| {
                time_at(r, 0)
            })
        })
    }

    /// Records that the daemon is alive at `at`.
    pub fn set_daemon_heartbeat(&self, at: DateTime<Utc>) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO state (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![HEARTBEAT, time_text(at)],
            )
            .map(drop)
        })
    }

    /// The daemon's last heartbeat; at start, how long it was down.
    pub fn daemon_heartbeat(&self) -> Result<Option<DateTime<Utc>>> {
        self.with(|c| {
            c.query_row("SELECT value FROM state WHERE key = ?1", [HEARTBEAT], |r| {
                time_at(r, 0)
            })
            .optional()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_seen_is_stable() {
        let cat = Catalog::open_in_memory().unwrap();
        let t0: DateTime<Utc> = "2024-05-01T02:00:00.123456789Z".parse().unwrap();
        let t1 = t0 + chrono::Duration::days(3);
        assert_eq!(cat.first_seen("db", t0).unwrap(), t0);
        assert_eq!(cat.first_seen("db", t1).unwrap(), t0);
        assert_eq!(cat.first_seen("web", t1).unwrap(), t1);
    }

    #[test]
    fn heartbeat_keeps_the_latest() {
        let cat = Catalog::open_in_memory().unwrap();
        assert_eq!(cat.daemon_heartbeat().unwrap(), None);
        let t0: DateTime<Utc> = "2024-05-01T02:00:00Z".parse().unwrap();
        cat.set_daemon_heartbeat(t0).unwrap();
        cat.set_daemon_heartbeat(t0 + chrono::Duration::minutes(1))
            .unwrap();
        assert_eq!(
            cat.daemon_heartbeat().unwrap(),
            Some(t0 + chrono::Duration::minutes(1))
        );
    }
}
