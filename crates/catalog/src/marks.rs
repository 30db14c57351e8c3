//! When scheduled upkeep (prune, check, drill) of a job was last done, so that a run
//! does it only when its schedule says it is due.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use crate::error::Result;
use crate::schema::{time_at, time_text};
use crate::Catalog;

impl Catalog {
    /// When `key` (e.g. `prune:db`) was last done.
    pub fn mark(&self, key: &str) -> Result<Option<DateTime<Utc>>> {
        let key = format!("mark:{key}");
        self.with(|c| {
            c.query_row("SELECT value FROM state WHERE key = ?1", [&key], |r| {
                time_at(r, 0)
            })
            .optional()
        })
    }

    /// Records that `key` was done at `at`.
    pub fn set_mark(&self, key: &str, at: DateTime<Utc>) -> Result<()> {
        let key = format!("mark:{key}");
        self.with(|c| {
            c.execute(
                "INSERT INTO state (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, time_text(at)],
            )
            .map(drop)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_kept_per_key() {
        let c = Catalog::open_in_memory().unwrap();
        assert_eq!(c.mark("prune:db").unwrap(), None);
        let t = Utc::now();
        c.set_mark("prune:db", t).unwrap();
        assert_eq!(c.mark("prune:db").unwrap(), Some(t));
        assert_eq!(c.mark("check:db").unwrap(), None);
    }
}
