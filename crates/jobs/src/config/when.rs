//! When something runs: a cron expression in the job's time zone, or a fixed interval.

use std::fmt;
use std::time::Duration;

use bunker_schedule::{Cron, Schedule, Tz};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::value::{parse_duration, Span};

/// A schedule as written in the configuration: a cron expression (`0 2 * * *`,
/// `@daily`) or `@every DURATION` for intervals below a minute or not aligned to the
/// clock (`@every 30s`, counted from the Unix epoch so restarts do not shift it).
#[derive(Clone, Debug, PartialEq)]
pub enum When {
    Cron(Cron),
    Every(Duration),
}

impl When {
    /// The next time strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>, zone: Tz) -> Option<DateTime<Utc>> {
        match self {
            When::Cron(c) => Schedule::new(c.clone(), zone).next_after(t),
            When::Every(d) => {
                let step = every_step(d)?;
                let now = t.timestamp_millis();
                DateTime::from_timestamp_millis(
                    now.div_euclid(step).checked_add(1)?.checked_mul(step)?,
                )
            }
        }
    }

    /// The last time at or before `t`.
    pub fn last_at_or_before(&self, t: DateTime<Utc>, zone: Tz) -> Option<DateTime<Utc>> {
        match self {
            When::Cron(c) => Schedule::new(c.clone(), zone).last_at_or_before(t),
            When::Every(d) => {
                let step = every_step(d)?;
                DateTime::from_timestamp_millis(
                    t.timestamp_millis().div_euclid(step).checked_mul(step)?,
                )
            }
        }
    }

    /// The length of the period that contains `t`.
    pub fn interval_at(&self, t: DateTime<Utc>, zone: Tz) -> Option<TimeDelta> {
        match self {
            When::Cron(c) => Schedule::new(c.clone(), zone).interval_at(t),
            When::Every(d) => TimeDelta::from_std(*d).ok(),
        }
    }
}

/// An `@every` interval in milliseconds; `None` for one no configuration can hold
/// (zero, or beyond `i64`), so a hand-built value cannot divide by zero.
fn every_step(d: &Duration) -> Option<i64> {
    i64::try_from(d.as_millis()).ok().filter(|ms| *ms > 0)
}

impl fmt::Display for When {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            When::Cron(c) => write!(f, "{c}"),
            When::Every(d) => write!(f, "@every {}", Span(*d)),
        }
    }
}

impl std::str::FromStr for When {
    type Err = String;
    fn from_str(s: &str) -> Result<When, String> {
        let s = s.trim();
        if let Some(rest) = s.strip_prefix("@every") {
            let d = parse_duration(rest.trim())?;
            if d < Duration::from_secs(1) {
                return Err(format!(
                    "@every {}: the shortest interval is 1s",
                    rest.trim()
                ));
            }
            return Ok(When::Every(d));
        }
        s.parse().map(When::Cron)
    }
}

impl<'de> Deserialize<'de> for When {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for When {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
