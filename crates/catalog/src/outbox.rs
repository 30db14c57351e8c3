//! The outbox: every notification is stored here before it is sent and stays until it
//! was delivered or given up, so that a receiver that is down when an alert fires gets
//! it when it is back, from the daemon or from the next `bunker run`.
//!
//! A sender claims a message for a while (a lease) before sending it, so that the daemon
//! and a command-line run sharing the file never send the same message twice at once.

use chrono::{DateTime, TimeDelta, Utc};
use rusqlite::{params, OptionalExtension, Row, TransactionBehavior};
use serde::Serialize;

use crate::error::Result;
use crate::schema::{opt_time_at, time_at, time_text};
use crate::Catalog;

/// A notification waiting to be delivered.
#[derive(Clone, Debug, Serialize)]
pub struct Outgoing {
    pub id: i64,
    /// The notification target's name in the configuration.
    pub notifier: String,
    pub job: String,
    /// The event kind (`failure`, `late`, `recovery`…).
    pub kind: String,
    /// The event, serialised by the notifier library.
    #[serde(skip)]
    pub payload: String,
    pub created: DateTime<Utc>,
    /// Deliveries tried so far.
    pub attempts: u32,
    /// When the next try is due.
    pub next_attempt: DateTime<Utc>,
    /// Why the last try failed.
    pub last_error: Option<String>,
    /// While a process holds it for sending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claimed_until: Option<DateTime<Utc>>,
}

/// A notification to store: for whom, about what, and the event itself.
#[derive(Clone, Copy, Debug)]
pub struct NewNotification<'a> {
    pub notifier: &'a str,
    pub job: &'a str,
    pub kind: &'a str,
    /// The event, serialised by the notifier library.
    pub payload: &'a str,
    pub created: DateTime<Utc>,
}

const COLUMNS: &str = "id, notifier, job, kind, payload, created, attempts, next_attempt, \
     last_error, claimed_until";

fn outgoing_from_row(row: &Row<'_>) -> rusqlite::Result<Outgoing> {
    Ok(Outgoing {
        id: row.get(0)?,
        notifier: row.get(1)?,
        job: row.get(2)?,
        kind: row.get(3)?,
        payload: row.get(4)?,
        created: time_at(row, 5)?,
        attempts: row.get(6)?,
        next_attempt: time_at(row, 7)?,
        last_error: row.get(8)?,
        claimed_until: opt_time_at(row, 9)?,
    })
}

impl Catalog {
    /// Stores a notification, due at `due`; with `claimed_until` the caller holds it
    /// until then (it sends it right away). Returns its id.
    pub fn enqueue_notification(
        &self,
        n: &NewNotification<'_>,
        due: DateTime<Utc>,
        claimed_until: Option<DateTime<Utc>>,
    ) -> Result<i64> {
        self.with(|c| {
            c.execute(
                "INSERT INTO outbox (notifier, job, kind, payload, created, next_attempt, \
                 claimed_until) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    n.notifier,
                    n.job,
                    n.kind,
                    n.payload,
                    time_text(n.created),
                    time_text(due),
                    claimed_until.map(time_text)
                ],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    /// When the earliest of `notifier`'s undelivered messages is due, if it has any: a
    /// new message waits behind them, so that a receiver hears things in order.
    pub fn next_notification_due(&self, notifier: &str) -> Result<Option<DateTime<Utc>>> {
        self.with(|c| {
            c.query_row(
                "SELECT min(next_attempt) FROM outbox WHERE notifier = ?1",
                [notifier],
                |r| opt_time_at(r, 0),
            )
        })
    }

    /// Claims up to `limit` notifications that are due at `now` and that nobody holds,
    /// oldest first, until `now + lease`.
    pub fn claim_due_notifications(
        &self,
        now: DateTime<Utc>,
        lease: TimeDelta,
        limit: usize,
    ) -> Result<Vec<Outgoing>> {
        let now_text = time_text(now);
        let until = time_text(now + lease);
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let due: Vec<Outgoing> = tx
                .prepare(&format!(
                    "SELECT {COLUMNS} FROM outbox WHERE next_attempt <= ?1 \
                     AND (claimed_until IS NULL OR claimed_until <= ?1) \
                     ORDER BY next_attempt, id LIMIT ?2"
                ))?
                .query_map(params![now_text, limit], outgoing_from_row)?
                .collect::<rusqlite::Result<_>>()?;
            for o in &due {
                tx.execute(
                    "UPDATE outbox SET claimed_until = ?2 WHERE id = ?1",
                    params![o.id, until],
                )?;
            }
            tx.commit()?;
            Ok(due)
        })
    }

    /// The message was delivered, or is given up (expired, refused for good, or its
    /// target is gone): it leaves the outbox.
    pub fn remove_notification(&self, id: i64) -> Result<()> {
        self.with(|c| {
            c.execute("DELETE FROM outbox WHERE id = ?1", [id])
                .map(drop)
        })
    }

    /// A try failed: counts it, keeps the reason, and makes the message due again at
    /// `next_attempt` for whoever comes first.
    pub fn notification_failed(
        &self,
        id: i64,
        error: &str,
        next_attempt: DateTime<Utc>,
    ) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, \
                 next_attempt = ?3, claimed_until = NULL WHERE id = ?1",
                params![id, error, time_text(next_attempt)],
            )
            .map(drop)
        })
    }

    /// Lets go of a claimed message without counting a try: it is due at `next_attempt`
    /// (a message behind one of the same target that just failed waits with it).
    pub fn postpone_notification(&self, id: i64, next_attempt: DateTime<Utc>) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE outbox SET next_attempt = ?2, claimed_until = NULL WHERE id = ?1",
                params![id, time_text(next_attempt)],
            )
            .map(drop)
        })
    }

    /// Every notification not delivered yet, oldest first.
    pub fn pending_notifications(&self) -> Result<Vec<Outgoing>> {
        self.with(|c| {
            c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM outbox ORDER BY created, id"
            ))?
            .query_map([], outgoing_from_row)?
            .collect()
        })
    }

    /// One notification by id, if it is still in the outbox.
    pub fn notification(&self, id: i64) -> Result<Option<Outgoing>> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM outbox WHERE id = ?1"),
                [id],
                outgoing_from_row,
            )
            .optional()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn new(notifier: &str, created: DateTime<Utc>) -> NewNotification<'_> {
        NewNotification {
            notifier,
            job: "db",
            kind: "failure",
            payload: "{}",
            created,
        }
    }

    #[test]
    fn a_message_is_held_by_its_sender_then_due_again_after_a_failure() {
        let cat = Catalog::open_in_memory().unwrap();
        let now = t("2026-05-01T10:00:00Z");
        let lease = TimeDelta::seconds(60);
        let id = cat
            .enqueue_notification(&new("hook", now), now, Some(now + lease))
            .unwrap();
        assert_eq!(cat.next_notification_due("hook").unwrap(), Some(now));
        assert_eq!(cat.next_notification_due("mail").unwrap(), None);
        // Its sender holds it: nobody else may take it meanwhile.
        assert!(cat
            .claim_due_notifications(now, lease, 10)
            .unwrap()
            .is_empty());
        cat.notification_failed(id, "connection refused", now + TimeDelta::seconds(5))
            .unwrap();
        assert!(cat
            .claim_due_notifications(now, lease, 10)
            .unwrap()
            .is_empty());
        let later = now + TimeDelta::seconds(5);
        let due = cat.claim_due_notifications(later, lease, 10).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].attempts, 1);
        assert_eq!(due[0].last_error.as_deref(), Some("connection refused"));
        // Claimed once: a second sender at the same moment gets nothing.
        assert!(cat
            .claim_due_notifications(later, lease, 10)
            .unwrap()
            .is_empty());
        // A sender that died lets its lease run out, and the message is due again.
        let after_lease = later + lease;
        assert_eq!(
            cat.claim_due_notifications(after_lease, lease, 10)
                .unwrap()
                .len(),
            1
        );
        cat.remove_notification(id).unwrap();
        assert!(cat.pending_notifications().unwrap().is_empty());
        assert!(cat.notification(id).unwrap().is_none());
    }

    #[test]
    fn pending_lists_oldest_first_and_claims_honour_the_limit() {
        let cat = Catalog::open_in_memory().unwrap();
        let now = t("2026-05-01T10:00:00Z");
        for (i, n) in ["a", "b", "c"].iter().enumerate() {
            let at = now + TimeDelta::seconds(i as i64);
            cat.enqueue_notification(&new(n, at), at, None).unwrap();
        }
        let names: Vec<String> = cat
            .pending_notifications()
            .unwrap()
            .into_iter()
            .map(|o| o.notifier)
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        let later = now + TimeDelta::minutes(1);
        let first = cat
            .claim_due_notifications(later, TimeDelta::seconds(30), 2)
            .unwrap();
        assert_eq!(first.len(), 2);
        assert_eq!(first[0].notifier, "a");
        let rest = cat
            .claim_due_notifications(later, TimeDelta::seconds(30), 2)
            .unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].notifier, "c");
        // Postponed without counting a try.
        cat.postpone_notification(rest[0].id, later + TimeDelta::minutes(5))
            .unwrap();
        let c = cat.notification(rest[0].id).unwrap().unwrap();
        assert_eq!((c.attempts, c.claimed_until), (0, None));
        assert_eq!(c.next_attempt, later + TimeDelta::minutes(5));
    }
}
