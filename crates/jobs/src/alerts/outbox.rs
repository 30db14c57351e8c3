//! Alerts that cannot be lost: each notification goes into the catalog's outbox before
//! it is sent, and leaves it only once delivered. A failed try is retried with backoff
//! ([`bunker_notify::retry_delay`]) by whoever comes next — the daemon every few seconds,
//! the next `bunker run` or `bunker watch` — until it is delivered or its target's
//! `expire_after` has passed. Then (or at once, when the receiver refused it for good)
//! a `delivery` incident tells the job's other targets, and the first message that gets
//! through again closes it.

use bunker_catalog::{NewNotification, Outgoing};
use bunker_notify::{Event, EventKind, Notifier};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

use super::{Alerter, Delivery};

/// How many due messages one pass over the outbox claims at a time.
const BATCH: usize = 50;

/// How long a sender holds a message it is sending: longer than the delivery may take,
/// so that nobody else sends it meanwhile, yet short enough that a sender that died
/// does not hold it up for long.
fn lease(n: &Notifier) -> TimeDelta {
    TimeDelta::from_std(n.timeout).unwrap_or(TimeDelta::MAX) + TimeDelta::seconds(30)
}

fn span(d: std::time::Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

impl Alerter<'_> {
    /// Sends `ev` to every target of `job` that wants its kind, through the outbox.
    pub(super) fn notify(&self, job: &str, ev: &Event) -> Vec<Delivery> {
        let targets = match self.config.job(job) {
            Ok(cfg) => self.config.notifiers_of(cfg),
            Err(_) => return Vec::new(),
        };
        self.notify_targets(job, targets, ev)
    }

    /// Stores `ev` for each of `targets` that wants it and tries each at once, unless
    /// older messages to the same target are still waiting: then it queues behind them.
    pub(super) fn notify_targets(
        &self,
        job: &str,
        targets: Vec<Notifier>,
        ev: &Event,
    ) -> Vec<Delivery> {
        let payload = match serde_json::to_string(ev) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "notification not stored: it cannot be serialised");
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for n in targets.into_iter().filter(|n| n.wants(ev.kind)) {
            let now = Utc::now();
            let new = NewNotification {
                notifier: &n.name,
                job,
                kind: ev.kind.as_str(),
                payload: &payload,
                created: now,
            };
            let waiting = self.catalog.next_notification_due(&n.name);
            let stored = match waiting {
                Ok(Some(due)) => {
                    let queued = self.catalog.enqueue_notification(&new, due.max(now), None);
                    if queued.is_ok() {
                        out.push(Delivery {
                            notifier: n.name.clone(),
                            kind: ev.kind,
                            error: Some(format!(
                                "queued behind earlier undelivered messages to {}",
                                n.name
                            )),
                            pending: true,
                        });
                        continue;
                    }
                    queued
                }
                Ok(None) => self
                    .catalog
                    .enqueue_notification(&new, now, Some(now + lease(&n))),
                Err(e) => Err(e),
            };
            match stored {
                Ok(id) => out.extend(self.attempt(&n, id, ev, now, 0)),
                Err(e) => {
                    // Without the outbox the alert still matters: one try, not retried.
                    tracing::warn!(notifier = %n.name, error = %e, "outbox unavailable; sending once without retries");
                    let error = n.send(ev).err().map(|e| e.to_string());
                    out.push(Delivery {
                        notifier: n.name.clone(),
                        kind: ev.kind,
                        error,
                        pending: false,
                    });
                }
            }
        }
        out
    }

    /// Tries every message that is due at `now`, oldest first; when one to a target
    /// fails, the later ones to that target wait with it. What happened to each.
    pub fn deliver_pending(&self, now: DateTime<Utc>) -> Vec<Delivery> {
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        loop {
            let longest = self
                .config
                .notify
                .iter()
                .map(|(name, c)| lease(&c.get_ref().notifier(name)))
                .max()
                .unwrap_or(TimeDelta::seconds(60));
            let batch = match self.catalog.claim_due_notifications(now, longest, BATCH) {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox not read");
                    break;
                }
            };
            // A message that came due again within this pass (a new try failed and was
            // scheduled before `now`) waits for the next pass.
            let batch: Vec<Outgoing> = batch.into_iter().filter(|o| seen.insert(o.id)).collect();
            if batch.is_empty() {
                break;
            }
            let mut stalled: std::collections::HashMap<String, DateTime<Utc>> = Default::default();
            for o in batch {
                if let Some(next) = stalled.get(&o.notifier) {
                    let _ = self.catalog.postpone_notification(o.id, *next);
                    continue;
                }
                let Some(target) = self.config.notify.get(&o.notifier) else {
                    tracing::warn!(notifier = %o.notifier, job = %o.job, kind = %o.kind, "notification dropped: its target is no longer configured");
                    let _ = self.catalog.remove_notification(o.id);
                    continue;
                };
                let n = target.get_ref().notifier(&o.notifier);
                let ev: Event = match serde_json::from_str(&o.payload) {
                    Ok(ev) => ev,
                    Err(e) => {
                        tracing::error!(notifier = %o.notifier, error = %e, "notification dropped: it cannot be read back");
                        let _ = self.catalog.remove_notification(o.id);
                        continue;
                    }
                };
                let results = self.attempt(&n, o.id, &ev, o.created, o.attempts);
                if let Some(Delivery { pending: true, .. }) = results.first() {
                    if let Ok(Some(m)) = self.catalog.notification(o.id) {
                        stalled.insert(o.notifier.clone(), m.next_attempt);
                    }
                }
                out.extend(results);
            }
        }
        out
    }

    /// One try of message `id` (`ev` to `n`, stored at `created`, tried `tries` times
    /// before); the first delivery returned is this one's, any others are those of the
    /// `delivery` incident it opened or closed. A message past its expiry still gets
    /// this one try: late is better than never.
    fn attempt(
        &self,
        n: &Notifier,
        id: i64,
        ev: &Event,
        created: DateTime<Utc>,
        tries: u32,
    ) -> Vec<Delivery> {
        let expires = created + span(self.expire_after(&n.name));
        let mut out = Vec::new();
        let e = match n.send(ev) {
            Ok(()) => {
                tracing::info!(notifier = %n.name, event = ev.kind.as_str(), job = %ev.job, "notified");
                let _ = self.catalog.remove_notification(id);
                out.push(Delivery {
                    notifier: n.name.clone(),
                    kind: ev.kind,
                    error: None,
                    pending: false,
                });
                out.extend(self.delivered_again(n));
                return out;
            }
            Err(e) => e,
        };
        let now = Utc::now();
        let next = now + span(bunker_notify::retry_delay(tries + 1));
        if e.is_temporary() && next < expires {
            tracing::warn!(notifier = %n.name, event = ev.kind.as_str(), job = %ev.job, error = %e, retry_at = %next.to_rfc3339(), "notification failed; will retry");
            let _ = self.catalog.notification_failed(id, &e.to_string(), next);
            out.push(Delivery {
                notifier: n.name.clone(),
                kind: ev.kind,
                error: Some(e.to_string()),
                pending: true,
            });
            return out;
        }
        let reason = if e.is_temporary() {
            format!(
                "{e} (tried {} times since {}, expired after {})",
                tries + 1,
                created.to_rfc3339(),
                crate::config::Span(self.expire_after(&n.name))
            )
        } else {
            e.to_string()
        };
        tracing::error!(notifier = %n.name, event = ev.kind.as_str(), job = %ev.job, error = %reason, "notification given up");
        let _ = self.catalog.remove_notification(id);
        out.push(Delivery {
            notifier: n.name.clone(),
            kind: ev.kind,
            error: Some(reason.clone()),
            pending: false,
        });
        out.extend(self.undeliverable(n, ev, &reason));
        out
    }

    fn expire_after(&self, notifier: &str) -> std::time::Duration {
        self.config
            .notify
            .get(notifier)
            .map_or(std::time::Duration::from_secs(24 * 3600), |c| {
                c.get_ref().expire_after()
            })
    }

    /// The targets that hear about trouble delivering to `failed`, for job `job`: the
    /// job's others, or every other target when the job is gone.
    fn others(&self, job: &str, failed: &str) -> Vec<Notifier> {
        let targets = match self.config.job(job) {
            Ok(cfg) => self.config.notifiers_of(cfg),
            Err(_) => self
                .config
                .notify
                .iter()
                .map(|(name, c)| c.get_ref().notifier(name))
                .collect(),
        };
        targets.into_iter().filter(|n| n.name != failed).collect()
    }

    /// A message to `n` was given up: the `delivery` incident of `n` opens (once) and
    /// the job's other targets hear of it.
    fn undeliverable(&self, n: &Notifier, ev: &Event, reason: &str) -> Vec<Delivery> {
        // Trouble reporting trouble is logged, not passed round again.
        if ev.kind == EventKind::Delivery {
            return Vec::new();
        }
        let key = format!("delivery:{}", n.name);
        let title = format!(
            "notification target {} could not be told: {} {}",
            n.name, ev.kind, ev.title
        );
        let opened = self
            .catalog
            .open_incident(
                &key,
                &ev.job,
                EventKind::Delivery.as_str(),
                &title,
                Utc::now(),
            )
            .unwrap_or(false);
        if !opened {
            return Vec::new();
        }
        let mut alert = self.event(
            EventKind::Delivery,
            &ev.job,
            title,
            format!(
                "The {} message of job {} (of {}) was given up: {reason}",
                ev.kind,
                ev.job,
                ev.time.to_rfc3339()
            ),
        );
        alert.incident = Some(key);
        alert.fields.insert("notifier".into(), json!(n.name));
        alert.fields.insert("undelivered".into(), json!(ev.kind));
        self.notify_targets(&ev.job, self.others(&ev.job, &n.name), &alert)
    }

    /// A message to `n` got through: a `delivery` incident of `n` closes and the others
    /// hear that it works again.
    fn delivered_again(&self, n: &Notifier) -> Vec<Delivery> {
        let key = format!("delivery:{}", n.name);
        let Ok(Some(inc)) = self.catalog.close_incident(&key) else {
            return Vec::new();
        };
        let mut ev = self.event(
            EventKind::Recovery,
            &inc.job,
            format!("notification target {} receives messages again", n.name),
            format!("undeliverable since {}", inc.opened.to_rfc3339()),
        );
        ev.incident = Some(key);
        ev.fields
            .insert("alert".into(), json!(EventKind::Delivery.as_str()));
        self.notify_targets(&inc.job, self.others(&inc.job, &n.name), &ev)
    }
}

#[cfg(test)]
mod tests;
