//! The audit log: who backed up, restored, forgot, pruned, copied or changed keys,
//! from which host, when. Kept in the catalog and, encrypted, in each repository the
//! event concerns (`audit/`, where restic does not look), so that it survives the
//! machine and [`crate::rebuild`] can bring it back.

use bunker_repo::{FileType, Repository};
use chrono::{DateTime, Utc};
use rusqlite::{params, Row};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::schema::{time_at, time_text};
use crate::Catalog;

/// One operation on a repository, as the audit log keeps it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Random 128-bit hex: the same event read back from two repositories is one.
    pub id: String,
    pub time: DateTime<Utc>,
    /// The user who ran it.
    pub who: String,
    pub host: String,
    /// `backup`, `restore`, `forget`, `prune`, `copy`, `check`, `drill`, `key-add`,
    /// `key-remove`, `key-passwd`, `init`, `tag` or `unlock`.
    pub action: String,
    pub repository: String,
    pub job: Option<String>,
    /// What the action did (snapshot ids, counts, paths), as the action sees fit.
    pub detail: serde_json::Value,
}

impl AuditEvent {
    /// An event happening now, by the current user on this host, with a fresh id.
    pub fn new(
        action: &str,
        repository: &str,
        job: Option<&str>,
        detail: serde_json::Value,
    ) -> AuditEvent {
        AuditEvent {
            id: format!("{:032x}", rand::random::<u128>()),
            time: Utc::now(),
            who: current_user(),
            host: bunker_repo::hostname(),
            action: action.to_string(),
            repository: repository.to_string(),
            job: job.map(str::to_string),
            detail,
        }
    }
}

/// `$USER` or `$LOGNAME`; where neither is set (a service, a container), `uid N` from
/// `/proc/self/status`.
fn current_user() -> String {
    for var in ["USER", "LOGNAME"] {
        if let Some(name) = std::env::var(var).ok().filter(|v| !v.is_empty()) {
            return name;
        }
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().next())
        .map(|uid| format!("uid {uid}"))
        .unwrap_or_else(|| "unknown".to_string())
}

fn audit_from_row(row: &Row<'_>) -> rusqlite::Result<AuditEvent> {
    let detail: String = row.get(7)?;
    Ok(AuditEvent {
        id: row.get(0)?,
        time: time_at(row, 1)?,
        who: row.get(2)?,
        host: row.get(3)?,
        action: row.get(4)?,
        repository: row.get(5)?,
        job: row.get(6)?,
        detail: serde_json::from_str(&detail).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(7, rusqlite::types::Type::Text, e.into())
        })?,
    })
}

impl Catalog {
    /// Records an event; an event already recorded (same id) is not recorded twice.
    pub fn record_audit(&self, e: &AuditEvent) -> Result<()> {
        self.with(|c| insert_audit(c, e).map(drop))
    }

    /// The newest `limit` events, newest first.
    pub fn audit(&self, limit: usize) -> Result<Vec<AuditEvent>> {
        self.with(|c| {
            c.prepare_cached(
                "SELECT id, time, who, host, action, repository, job, detail FROM audit \
                 ORDER BY time DESC, id DESC LIMIT ?1",
            )?
            .query_map([limit], audit_from_row)?
            .collect()
        })
    }

    /// The events of `job` from `from` to `to` (both included), oldest first, at most
    /// `limit`: what one run did, step by step.
    pub fn audit_of_job(
        &self,
        job: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>> {
        self.with(|c| {
            c.prepare_cached(
                "SELECT id, time, who, host, action, repository, job, detail FROM audit \
                 WHERE job = ?1 AND time >= ?2 AND time <= ?3 ORDER BY time, id LIMIT ?4",
            )?
            .query_map(
                params![job, time_text(from), time_text(to), limit],
                audit_from_row,
            )?
            .collect()
        })
    }
}

/// Inserts an event unless its id is there already; returns whether it was new.
pub(crate) fn insert_audit(c: &rusqlite::Connection, e: &AuditEvent) -> rusqlite::Result<bool> {
    let n = c.execute(
        "INSERT OR IGNORE INTO audit (id, time, who, host, action, repository, job, detail) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            e.id,
            time_text(e.time),
            e.who,
            e.host,
            e.action,
            e.repository,
            e.job,
            e.detail.to_string(),
        ],
    )?;
    Ok(n == 1)
}

/// Stores `e` in the repository's `audit/`, encrypted with its master key.
pub fn append_to_repository(repo: &Repository, e: &AuditEvent) -> Result<()> {
    repo.save_json(FileType::Audit, e)?;
    Ok(())
}

/// Every audit event stored in the repository, oldest first. A damaged event file
/// fails the call, naming the file ([`crate::rebuild`] skips such files and says so).
pub fn read_from_repository(repo: &Repository) -> Result<Vec<AuditEvent>> {
    let mut events = Vec::new();
    for (_, loaded) in crate::objects::load_all::<AuditEvent>(repo, FileType::Audit)? {
        events.push(loaded.map_err(Error::Repo)?);
    }
    sort_oldest_first(&mut events);
    Ok(events)
}

pub(crate) fn sort_oldest_first(events: &mut [AuditEvent]) {
    events.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_dedup_by_id_and_come_newest_first() {
        let cat = Catalog::open_in_memory().unwrap();
        let mut first = AuditEvent::new("backup", "main", Some("db"), json!({"snapshot": "ab"}));
        first.time = "2024-05-01T02:00:00Z".parse().unwrap();
        let mut second = AuditEvent::new("forget", "main", None, json!({"removed": 3}));
        second.time = "2024-05-01T03:00:00Z".parse().unwrap();
        assert_ne!(first.id, second.id);
        assert_eq!(first.id.len(), 32);
        assert!(!first.who.is_empty() && first.who != "unknown");

        cat.record_audit(&first).unwrap();
        cat.record_audit(&second).unwrap();
        // The same event, read back from a second repository.
        let mut again = first.clone();
        again.repository = "offsite".into();
        cat.record_audit(&again).unwrap();

        let log = cat.audit(10).unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].id, second.id);
        assert_eq!(log[1].id, first.id);
        assert_eq!(log[1].repository, "main");
        assert_eq!(log[1].job.as_deref(), Some("db"));
        assert_eq!(log[1].detail, json!({"snapshot": "ab"}));
        assert_eq!(log[1].time, first.time);
        assert_eq!(cat.audit(1).unwrap().len(), 1);
    }

    #[test]
    fn a_jobs_events_within_a_window_come_oldest_first() {
        let cat = Catalog::open_in_memory().unwrap();
        let at = |action: &str, job: Option<&str>, time: &str| {
            let mut e = AuditEvent::new(action, "main", job, json!({}));
            e.time = time.parse().unwrap();
            cat.record_audit(&e).unwrap();
        };
        at("backup", Some("db"), "2024-05-01T02:00:05Z");
        at("forget", Some("db"), "2024-05-01T02:00:09Z");
        at("backup", Some("web"), "2024-05-01T02:00:06Z");
        at("backup", Some("db"), "2024-05-02T02:00:05Z");
        at("prune", None, "2024-05-01T02:00:07Z");
        let got = cat
            .audit_of_job(
                "db",
                "2024-05-01T02:00:00Z".parse().unwrap(),
                "2024-05-01T02:01:00Z".parse().unwrap(),
                10,
            )
            .unwrap();
        let actions: Vec<&str> = got.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["backup", "forget"]);
    }
}
