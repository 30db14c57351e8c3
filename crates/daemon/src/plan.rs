//! What the scheduler decides, as functions of the configuration, the catalog and a
//! given time, so that schedules, catch-up and lateness are tested without waiting.

use std::collections::BTreeMap;

use bunker_catalog::Catalog;
use bunker_jobs::config::Config;
use chrono::{DateTime, Utc};

/// The next scheduled time of every scheduled job, strictly after `now`.
pub fn next_runs(config: &Config, now: DateTime<Utc>) -> BTreeMap<String, DateTime<Utc>> {
    config
        .jobs
        .iter()
        .filter_map(|(name, j)| {
            let job = j.get_ref();
            let when = job.schedule.as_ref()?;
            Some((
                name.clone(),
                when.next_after(now, job.zone(&config.daemon))?,
            ))
        })
        .collect()
}

/// Jobs that missed a scheduled run while the daemon was not running (systemd's
/// `Persistent=true`): a scheduled time passed after the job was first seen and no run
/// started since. Each is run once, however many times it was missed.
pub fn missed(config: &Config, catalog: &Catalog, now: DateTime<Utc>) -> Vec<String> {
    let mut out = Vec::new();
    for (name, j) in &config.jobs {
        let job = j.get_ref();
        let Some(when) = &job.schedule else { continue };
        let Some(due) = when.last_at_or_before(now, job.zone(&config.daemon)) else {
            continue;
        };
        let Ok(first_seen) = catalog.first_seen(name, now) else {
            continue;
        };
        if due <= first_seen {
            continue;
        }
        let last = catalog.last_attempt(name).ok().flatten();
        if last.is_none_or(|r| r.started < due) {
            out.push(name.clone());
        }
    }
    out
}

/// The jobs whose time has come: scheduled at or before `now`.
pub fn due_now(next: &BTreeMap<String, DateTime<Utc>>, now: DateTime<Utc>) -> Vec<String> {
    next.iter()
        .filter(|(_, t)| **t <= now)
        .map(|(j, _)| j.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bunker_catalog::{Outcome, RunResult, Trigger};
    use chrono::TimeZone;

    fn config(schedule: &str, tz: &str) -> Config {
        let text = format!(
            r#"
[repositories.r]
url = "/nonexistent"
password = "x"
[jobs.db]
repository = "r"
schedule = "{schedule}"
timezone = "{tz}"
source = {{ type = "files", paths = ["/etc"] }}
"#
        );
        Config::parse(&text, std::path::Path::new("t.toml")).unwrap()
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn next_run_follows_the_zone_across_dst() {
        // 02:30 Europe/Berlin does not exist on 2026-03-29: the run moves to 03:00 CEST.
        let c = config("30 2 * * *", "Europe/Berlin");
        let next = next_runs(&c, utc(2026, 3, 28, 12, 0));
        assert_eq!(next["db"], utc(2026, 3, 29, 1, 0));
        // Nairobi has no DST: 02:00 EAT is 23:00 UTC the day before.
        let c = config("0 2 * * *", "Africa/Nairobi");
        assert_eq!(
            next_runs(&c, utc(2026, 3, 28, 12, 0))["db"],
            utc(2026, 3, 28, 23, 0)
        );
    }

    #[test]
    fn a_run_missed_while_down_is_caught_up_once() {
        let c = config("0 2 * * *", "UTC");
        let cat = Catalog::open_in_memory().unwrap();
        // First seen on the 1st at noon; one successful run on the 2nd at 02:00.
        cat.first_seen("db", utc(2026, 11, 1, 12, 0)).unwrap();
        let id = cat
            .start_run("db", Trigger::Schedule, "r", utc(2026, 11, 2, 2, 0))
            .unwrap();
        cat.finish_run(
            id,
            &RunResult {
                outcome: Outcome::Success,
                finished: utc(2026, 11, 2, 2, 5),
                ..RunResult::default()
            },
        )
        .unwrap();
        // Up again on the 2nd at 10:00: nothing missed.
        assert!(missed(&c, &cat, utc(2026, 11, 2, 10, 0)).is_empty());
        // Down from then until the 5th: the runs of the 3rd, 4th and 5th were missed,
        // and one run catches up.
        assert_eq!(
            missed(&c, &cat, utc(2026, 11, 5, 9, 0)),
            vec!["db".to_string()]
        );
        // A job first seen after its last scheduled time has missed nothing.
        let cat = Catalog::open_in_memory().unwrap();
        cat.first_seen("db", utc(2026, 11, 5, 3, 0)).unwrap();
        assert!(missed(&c, &cat, utc(2026, 11, 5, 9, 0)).is_empty());
    }

    #[test]
    fn due_jobs_are_those_whose_time_has_come() {
        let mut next = BTreeMap::new();
        next.insert("a".to_string(), utc(2026, 1, 1, 0, 0));
        next.insert("b".to_string(), utc(2026, 1, 1, 0, 5));
        assert_eq!(due_now(&next, utc(2026, 1, 1, 0, 1)), vec!["a".to_string()]);
    }
}
