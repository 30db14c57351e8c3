//! Cron expressions evaluated in an IANA time zone, and the same schedule written out as
//! systemd, cron and Kubernetes units.
//!
//! A [`Schedule`] is a [`Cron`] expression plus a time zone. The scheduler daemon asks it
//! for the next run ([`Schedule::next_after`]), for the last run that should have happened
//! (to catch up a missed one, [`Schedule::last_at_or_before`]) and for the period a run is
//! due in (for "late" alerts, [`Schedule::interval_at`]). [`export`] writes the schedule
//! for `bunker schedule export`.
//!
//! # Cron syntax
//!
//! Five fields: minute (0-59), hour (0-23), day of month (1-31), month (1-12 or JAN-DEC)
//! and day of week (0-7 or SUN-SAT; 0 and 7 are Sunday). Each field is `*`, a value, a
//! range `1-5`, a step `*/15`, `1-30/2` or `5/10` (from 5 to the end in steps of 10), or a
//! comma-separated list of these. Names are case-insensitive. The macros `@yearly`,
//! `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight` and `@hourly` stand for the
//! usual expressions. As in Vixie cron, when both day fields are restricted (neither
//! starts with `*`) a day matches when either of them matches: `0 0 13 * 5` runs on every
//! 13th and on every Friday.
//!
//! # Daylight saving time
//!
//! Times in the expression are wall-clock times in the zone.
//!
//! - A time skipped when clocks go forward runs once, at the first instant after the gap:
//!   in Europe/Berlin on 2026-03-29 the clocks jump from 02:00 to 03:00, so `30 2 * * *`
//!   runs at 03:00 CEST (01:00 UTC) that day. Several skipped times all run at that one
//!   instant, once.
//! - A time repeated when clocks go back runs once, at its first occurrence: in
//!   Europe/Berlin on 2026-10-25, `30 2 * * *` runs at 02:30 CEST (00:30 UTC) only.
//! - The exception is a job whose hour field covers every hour (`*`, `*/1`, `0-23`), such
//!   as `*/15 * * * *` or `0 * * * *`. Its runs follow real time, as cronie runs such
//!   jobs, so frequent jobs keep their frequency: it runs in both copies of a repeated
//!   hour, and a wall-clock time skipped in spring has no run (the job goes on at its
//!   next time after the gap, as if the gap's times had passed).
//! - Zones without DST (UTC, Africa/Nairobi) have none of this.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use chrono_tz::Tz;
pub use cron::Cron;

mod cron;
pub mod export;
mod search;

/// An IANA time zone, read and written by its name (such as `Europe/Berlin`).
///
/// It is the configuration-file form of [`Tz`]; the default is UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Zone(pub Tz);

impl Default for Zone {
    fn default() -> Zone {
        Zone(Tz::UTC)
    }
}

impl FromStr for Zone {
    type Err = String;

    fn from_str(s: &str) -> Result<Zone, String> {
        let name = s.trim();
        name.parse::<Tz>().map(Zone).map_err(|_| {
            format!("unknown time zone {name:?} (use an IANA name such as Africa/Nairobi or UTC)")
        })
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}

impl Serialize for Zone {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.name())
    }
}

impl<'de> Deserialize<'de> for Zone {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Zone, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// A cron expression evaluated in a time zone: when a job runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    cron: Cron,
    zone: Tz,
}

impl Schedule {
    /// Evaluates `cron` in `zone`.
    pub fn new(cron: Cron, zone: Tz) -> Schedule {
        Schedule { cron, zone }
    }

    /// The cron expression.
    pub fn cron(&self) -> &Cron {
        &self.cron
    }

    /// The time zone the expression is read in.
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The first run strictly after `t`, or `None` at the end of time (every expression
    /// that parses runs at least once in eight years: `0 0 29 2 *`).
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.search().next_after(t)
    }

    /// The last run at or before `t`, or `None` if there is none in the ten years before.
    pub fn last_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.search().last_at_or_before(t)
    }

    /// The length of the period the job is due in at `t`: from the last run at or before
    /// `t` to the run after it. A run that has not finished by the end is late.
    pub fn interval_at(&self, t: DateTime<Utc>) -> Option<TimeDelta> {
        let last = self.last_at_or_before(t)?;
        Some(self.next_after(last)? - last)
    }

    fn search(&self) -> search::Search<'_> {
        search::Search {
            cron: &self.cron,
            zone: self.zone,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Deserialize, Serialize)]
    struct Job {
        schedule: Cron,
        #[serde(default)]
        zone: Zone,
    }

    #[test]
    fn zone_reads_and_prints_iana_names() {
        let zone: Zone = " Europe/Berlin ".parse().unwrap();
        assert_eq!(zone, Zone(Tz::Europe__Berlin));
        assert_eq!(zone.to_string(), "Europe/Berlin");
        assert_eq!(Zone::default(), Zone(Tz::UTC));
        assert_eq!(
            "Mars/Olympus".parse::<Zone>().unwrap_err(),
            r#"unknown time zone "Mars/Olympus" (use an IANA name such as Africa/Nairobi or UTC)"#
        );
    }

    #[test]
    fn toml_round_trip() {
        let job: Job =
            toml::from_str("schedule = \"  0 2 * * *\"\nzone = \"Africa/Nairobi\"\n").unwrap();
        assert_eq!(job.zone, Zone(Tz::Africa__Nairobi));
        assert_eq!(job.schedule.to_string(), "0 2 * * *");
        assert_eq!(
            toml::to_string(&job).unwrap(),
            "schedule = \"0 2 * * *\"\nzone = \"Africa/Nairobi\"\n"
        );
        let job: Job = toml::from_str("schedule = \"@daily\"").unwrap();
        assert_eq!(job.zone, Zone::default());
    }

    #[test]
    fn toml_errors_name_the_line_and_the_problem() {
        let error = toml::from_str::<Job>("zone = \"UTC\"\nschedule = \"61 * * * *\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("line 2"), "{error}");
        assert!(
            error.contains("minute field: 61 is out of range 0-59"),
            "{error}"
        );
        let error = toml::from_str::<Job>("schedule = \"@daily\"\nzone = \"Europe/Berln\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("line 2"), "{error}");
        assert!(
            error.contains(r#"unknown time zone "Europe/Berln""#),
            "{error}"
        );
    }

    #[test]
    fn schedule_accessors() {
        let schedule = Schedule::new("0 2 * * *".parse().unwrap(), Tz::Europe__Berlin);
        assert_eq!(schedule.cron().to_string(), "0 2 * * *");
        assert_eq!(schedule.zone(), Tz::Europe__Berlin);
    }
}
