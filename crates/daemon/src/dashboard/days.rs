//! A job's last days as the overview's strip shows them: for each UTC day, whether its
//! runs succeeded, came late, failed, or never happened when they were due.

use bunker_catalog::{Outcome, Run};
use bunker_jobs::alerts::grace;
use bunker_jobs::config::JobConfig;
use bunker_schedule::Tz;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use super::chart::Day;

/// Scheduled times looked at per day; a denser schedule is judged on its first ones.
const MAX_DUE_PER_DAY: usize = 96;

/// The `n` days up to today's (oldest first), judged from `runs` (any order) against
/// the job's schedule since `first_seen`.
pub fn days(
    job: &JobConfig,
    zone: Tz,
    runs: &[Run],
    first_seen: DateTime<Utc>,
    now: DateTime<Utc>,
    n: u32,
) -> Vec<(NaiveDate, Day)> {
    let today = now.date_naive();
    (0..n)
        .rev()
        .map(|back| {
            let date = today - TimeDelta::days(i64::from(back));
            (date, day(job, zone, runs, first_seen, now, date))
        })
        .collect()
}

fn day(
    job: &JobConfig,
    zone: Tz,
    runs: &[Run],
    first_seen: DateTime<Utc>,
    now: DateTime<Utc>,
    date: NaiveDate,
) -> Day {
    let start = date.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    let end = start + TimeDelta::days(1);
    let that_day: Vec<&Run> = runs
        .iter()
        .filter(|r| r.started >= start && r.started < end && r.outcome != Outcome::Running)
        .collect();
    let successes: Vec<DateTime<Utc>> = runs
        .iter()
        .filter(|r| r.outcome == Outcome::Success)
        .map(|r| r.started)
        .collect();
    // The scheduled times of the day whose grace has passed, since the job exists.
    let mut due = Vec::new();
    if let Some(when) = &job.schedule {
        let g = grace(job, when.interval_at(start, zone));
        let mut t = when.next_after(start.max(first_seen) - TimeDelta::milliseconds(1), zone);
        while let Some(d) = t.filter(|d| *d < end && *d + g <= now) {
            due.push((d, g));
            if due.len() >= MAX_DUE_PER_DAY {
                break;
            }
            t = when.next_after(d, zone);
        }
    }
    if that_day.is_empty() {
        return if due.is_empty() {
            Day::Idle
        } else {
            Day::Missed
        };
    }
    if !that_day.iter().any(|r| r.outcome == Outcome::Success) {
        return Day::Failed;
    }
    // Late: a due time whose first success after it came after its grace (or not yet).
    let late = due.iter().any(|(d, g)| {
        let first = successes
            .iter()
            .filter(|s| **s + TimeDelta::seconds(1) >= *d)
            .min();
        first.is_none_or(|s| *s > *d + *g)
    });
    if late {
        Day::Late
    } else {
        Day::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bunker_catalog::Trigger;

    fn job(schedule: &str) -> JobConfig {
        toml::from_str(&format!(
            "repository = \"r\"\nschedule = \"{schedule}\"\nsource = {{ type = \"files\", paths = [\"/x\"] }}"
        ))
        .unwrap()
    }

    fn run(at: DateTime<Utc>, outcome: Outcome) -> Run {
        Run {
            id: 1,
            job: "j".into(),
            trigger: Trigger::Schedule,
            repository: "r".into(),
            started: at,
            finished: Some(at),
            outcome,
            failed_step: None,
            error: None,
            snapshot: None,
            bytes_read: 0,
            bytes_added: 0,
            files: 0,
            total_size: None,
            snapshot_count: None,
            duration_seconds: Some(0.0),
        }
    }

    #[test]
    fn each_day_is_ok_late_failed_missed_or_idle() {
        let j = job("0 2 * * *");
        let zone = Tz::UTC;
        let day = |d: u32, h: u32| {
            NaiveDate::from_ymd_opt(2026, 5, d)
                .unwrap()
                .and_hms_opt(h, 0, 0)
                .unwrap()
                .and_utc()
        };
        let runs = vec![
            run(day(2, 2), Outcome::Success),
            run(day(3, 5), Outcome::Success),
            run(day(4, 2), Outcome::Failure),
        ];
        let now = day(6, 12);
        let got = days(&j, zone, &runs, day(1, 12), now, 6);
        let states: Vec<Day> = got.iter().map(|(_, d)| *d).collect();
        assert_eq!(
            states,
            [
                Day::Idle,
                Day::Ok,
                Day::Late,
                Day::Failed,
                Day::Missed,
                Day::Missed
            ]
        );
        assert_eq!(got[0].0, NaiveDate::from_ymd_opt(2026, 5, 1).unwrap());
    }
}
