//! `watch`: the daemon's clock-driven checks once (late runs, the RPO, quotas), with
//! alerts and recoveries sent through the outbox, and the outbox's due messages tried
//! again. For jobs that cron or systemd run instead of the daemon; run it from a timer.

use anyhow::Result;
use bunker_jobs::alerts::Alerter;
use chrono::Utc;

use super::status::quota_sizes;
use super::Globals;

pub fn run(g: &Globals) -> Result<()> {
    let config = g.load_config()?;
    let catalog = g.catalog(&config)?;
    let alerter = Alerter {
        config: &config,
        catalog: &catalog,
    };
    let now = Utc::now();
    let mut deliveries = alerter.evaluate(now, None);
    deliveries.extend(alerter.evaluate_quota(&quota_sizes(&config, &[])));
    deliveries.extend(alerter.deliver_pending(now));
    let waiting = catalog.pending_notifications()?.len();
    if g.json {
        let sent: Vec<_> = deliveries
            .iter()
            .map(|d| {
                serde_json::json!({
                    "target": d.notifier,
                    "event": d.kind.as_str(),
                    "error": d.error,
                    "pending": d.pending,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({"notifications": sent, "waiting": waiting})
        );
        return Ok(());
    }
    for d in &deliveries {
        match (&d.error, d.pending) {
            (None, _) => g.say(format!("{} sent to {}", d.kind.as_str(), d.notifier)),
            (Some(e), true) => eprintln!(
                "warning: {} to {} not delivered yet (kept for another try): {e}",
                d.kind.as_str(),
                d.notifier
            ),
            (Some(e), false) => {
                eprintln!("warning: {} to {} failed: {e}", d.kind.as_str(), d.notifier)
            }
        }
    }
    g.say(format!(
        "{} notification(s) handled, {waiting} waiting in the outbox",
        deliveries.len()
    ));
    Ok(())
}
