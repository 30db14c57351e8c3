//! The conditions the clock decides, in one place for the daemon's alerts, `bunker
//! watch` and `bunker status`: a scheduled run that has not succeeded within its grace
//! (late), and a newest restorable point older than the RPO. An RPO shorter than the
//! schedule's longest gap cannot be met by that schedule: it is a `config check`
//! warning, never a breach.

use bunker_catalog::Run;
use chrono::{DateTime, TimeDelta, Utc};

use crate::alerts::grace;
use crate::config::{Config, JobConfig, When};

/// A scheduled run that has not succeeded in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Late {
    /// The scheduled time that passed without a success.
    pub due: DateTime<Utc>,
    pub grace: TimeDelta,
}

/// Whether `job` is late at `now`: a scheduled time, plus the grace, has passed since it
/// was first seen, with no success started since (a second of slack for the clock).
pub fn late(
    config: &Config,
    job: &JobConfig,
    last_success: Option<&Run>,
    first_seen: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<Late> {
    let when = job.schedule.as_ref()?;
    let zone = job.zone(&config.daemon);
    let grace = grace(job, when.interval_at(now, zone));
    let due = when.last_at_or_before(now - grace, zone)?;
    let succeeded_since = last_success.is_some_and(|r| r.started + TimeDelta::seconds(1) >= due);
    (due > first_seen && !succeeded_since).then_some(Late { due, grace })
}

/// How old the newest restorable point is at `now`, when that breaches the job's RPO
/// (a job that never succeeded counts from when it was first seen). `None` when the RPO
/// holds, when there is none, and when the schedule cannot meet it
/// ([`unmeetable_rpo`]).
pub fn rpo_breach(
    config: &Config,
    job: &JobConfig,
    last_success: Option<&Run>,
    first_seen: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<TimeDelta> {
    let rpo = job.objectives.rpo?;
    if unmeetable_rpo(config, job, now).is_some() {
        return None;
    }
    let age = now - last_success.map_or(first_seen, |r| r.started);
    (age.to_std().unwrap_or_default() > rpo.0).then_some(age)
}

/// The schedule's longest gap between two runs when it is longer than the job's RPO:
/// the newest backup is then older than the objective for part of every gap, whatever
/// bunker does (an RPO of 1 h on a daily job). `None` when the schedule can meet it, and
/// for jobs without a schedule or an RPO.
pub fn unmeetable_rpo(config: &Config, job: &JobConfig, now: DateTime<Utc>) -> Option<TimeDelta> {
    let rpo = TimeDelta::from_std(job.objectives.rpo?.0).ok()?;
    let gap = longest_gap(job.schedule.as_ref()?, job.zone(&config.daemon), now)?;
    (gap > rpo).then_some(gap)
}

/// The longest time between two consecutive runs of `when` over the eight days (at most
/// 500 runs) after `from`: enough to see a weekly pattern (`0 2 * * 1-6`).
pub fn longest_gap(
    when: &When,
    zone: bunker_schedule::Tz,
    from: DateTime<Utc>,
) -> Option<TimeDelta> {
    let until = from + TimeDelta::days(8);
    let mut at = when.next_after(from, zone)?;
    let mut longest = None;
    for _ in 0..500 {
        let Some(next) = when.next_after(at, zone) else {
            break;
        };
        longest = longest.max(Some(next - at));
        if next > until {
            break;
        }
        at = next;
    }
    longest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(job: &str) -> Config {
        Config::parse(
            &format!(
                "[repositories.r]\nurl = \"/r\"\npassword = \"p\"\n[jobs.db]\nrepository = \"r\"\n\
                 source = {{ type = \"files\", paths = [\"/d\"] }}\n{job}"
            ),
            std::path::Path::new("bunker.toml"),
        )
        .unwrap()
    }

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn an_rpo_shorter_than_the_schedule_is_unmeetable_not_breached() {
        let now = t("2024-05-01T12:00:00Z");
        let daily = config("schedule = \"0 2 * * *\"\nobjectives = { rpo = \"1h\" }");
        let job = daily.job("db").unwrap();
        assert_eq!(unmeetable_rpo(&daily, job, now), Some(TimeDelta::hours(24)));
        assert_eq!(
            rpo_breach(&daily, job, None, now - TimeDelta::days(3), now),
            None
        );

        let hourly = config("schedule = \"0 * * * *\"\nobjectives = { rpo = \"2h\" }");
        let job = hourly.job("db").unwrap();
        assert_eq!(unmeetable_rpo(&hourly, job, now), None);
        let first_seen = now - TimeDelta::hours(3);
        assert_eq!(
            rpo_breach(&hourly, job, None, first_seen, now),
            Some(TimeDelta::hours(3))
        );

        // Monday to Saturday: the longest gap is the weekend's 48 hours.
        let weekdays = config("schedule = \"0 2 * * 1-6\"\nobjectives = { rpo = \"36h\" }");
        let job = weekdays.job("db").unwrap();
        assert_eq!(
            unmeetable_rpo(&weekdays, job, now),
            Some(TimeDelta::hours(48))
        );
    }

    #[test]
    fn late_after_the_grace_until_a_success() {
        let cfg = config("schedule = \"0 2 * * *\"");
        let job = cfg.job("db").unwrap();
        let due = t("2024-05-01T02:00:00Z");
        let first_seen = due - TimeDelta::hours(1);
        // The default grace of a daily job: a tenth of the interval, 2.4 h.
        assert_eq!(
            late(&cfg, job, None, first_seen, due + TimeDelta::hours(2)),
            None
        );
        let l = late(&cfg, job, None, first_seen, due + TimeDelta::hours(3)).unwrap();
        assert_eq!(l.due, due);
        assert_eq!(l.grace, TimeDelta::minutes(144));
        // Not before the job was first seen.
        assert_eq!(late(&cfg, job, None, due, due + TimeDelta::hours(3)), None);
    }
}
