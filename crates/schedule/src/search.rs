//! Finding runs. The expression is matched against wall-clock days and times in the zone,
//! and each matching wall-clock time becomes zero, one or two instants by the DST rules in
//! the crate docs.
//!
//! Days that do not match are skipped with bit tests, and months that do not match are
//! skipped whole. On a day with one UTC offset throughout (nearly every day) the run is
//! found with bit arithmetic; only on a day with an offset change is every matching time
//! of the day converted on its own.

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeDelta};
use chrono::{TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use crate::cron::Cron;

/// How far the search looks, in days from `t`: about ten years, so that a leap day
/// (at most eight years apart) is always found.
const HORIZON_DAYS: u64 = 3660;

/// Instants whose year is further from zero than this have no runs: it keeps the date
/// arithmetic below well inside chrono's range.
const MAX_YEAR: i32 = 200_000;

/// A cron expression in a zone, as the search sees it.
pub(crate) struct Search<'a> {
    pub(crate) cron: &'a Cron,
    pub(crate) zone: Tz,
}

impl Search<'_> {
    /// The first run strictly after `t`.
    pub(crate) fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if t.year().abs() > MAX_YEAR {
            return None;
        }
        // A run after `t` can show a wall-clock time before the one at `t` (the second
        // copy of a repeated hour), so the search starts a day early.
        let start = self.wall_clock(t).date().pred_opt()?;
        let mut stop = start.checked_add_days(chrono::Days::new(HORIZON_DAYS))?;
        let mut best: Option<DateTime<Utc>> = None;
        let mut day = start;
        while day <= stop {
            if !self.cron.matches_month(day.month()) {
                day = first_of_next_month(day);
                continue;
            }
            if self.cron.matches_date(day) {
                let found = match self.steady_offset(day) {
                    Some(offset) => self.first_on_steady_day(day, offset, t),
                    None => self.runs_on(day).into_iter().filter(|&u| u > t).min(),
                };
                if let Some(found) = found {
                    best = Some(best.map_or(found, |best| best.min(found)));
                    // Around an offset change the next day's runs can come first.
                    stop = stop.min(day.succ_opt().unwrap_or(day));
                }
            }
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        best
    }

    /// The last run at or before `t`.
    pub(crate) fn last_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if t.year().abs() > MAX_YEAR {
            return None;
        }
        let start = self.wall_clock(t).date().succ_opt()?;
        let mut stop = start.checked_sub_days(chrono::Days::new(HORIZON_DAYS))?;
        let mut best: Option<DateTime<Utc>> = None;
        let mut day = start;
        while day >= stop {
            if !self.cron.matches_month(day.month()) {
                match first_of_month(day).pred_opt() {
                    Some(previous) => day = previous,
                    None => break,
                }
                continue;
            }
            if self.cron.matches_date(day) {
                let found = match self.steady_offset(day) {
                    Some(offset) => self.last_on_steady_day(day, offset, t),
                    None => self.runs_on(day).into_iter().filter(|&u| u <= t).max(),
                };
                if let Some(found) = found {
                    best = Some(best.map_or(found, |best| best.max(found)));
                    stop = stop.max(day.pred_opt().unwrap_or(day));
                }
            }
            match day.pred_opt() {
                Some(previous) => day = previous,
                None => break,
            }
        }
        best
    }

    /// The first run on `day` after `t`, on a day whose UTC offset is `offset` throughout.
    fn first_on_steady_day(
        &self,
        day: NaiveDate,
        offset: i32,
        t: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let clock = t.naive_utc() + TimeDelta::seconds(offset.into());
        // Runs are on whole minutes: the first one after `clock` is at least a minute on.
        let from = match clock.date().cmp(&day) {
            std::cmp::Ordering::Less => 0,
            std::cmp::Ordering::Equal => minute_of_day(clock) + 1,
            std::cmp::Ordering::Greater => return None,
        };
        let minute = self.cron.first_minute_from(from)?;
        Some(at_minute(day, minute) - TimeDelta::seconds(offset.into()))
    }

    /// The last run on `day` at or before `t`, on a day whose UTC offset is `offset`.
    fn last_on_steady_day(
        &self,
        day: NaiveDate,
        offset: i32,
        t: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let clock = t.naive_utc() + TimeDelta::seconds(offset.into());
        let until = match clock.date().cmp(&day) {
            std::cmp::Ordering::Less => return None,
            std::cmp::Ordering::Equal => minute_of_day(clock),
            std::cmp::Ordering::Greater => 24 * 60 - 1,
        };
        let minute = self.cron.last_minute_until(until)?;
        Some(at_minute(day, minute) - TimeDelta::seconds(offset.into()))
    }

    /// Every run whose wall-clock time falls on `day`, by the DST rules (unordered).
    fn runs_on(&self, day: NaiveDate) -> Vec<DateTime<Utc>> {
        let real_time = self.cron.every_hour();
        let mut runs = Vec::new();
        for minute in self.cron.minutes_of_day() {
            let wall = day.and_time(chrono::NaiveTime::MIN) + TimeDelta::minutes(minute.into());
            match self.zone.from_local_datetime(&wall) {
                LocalResult::Single(u) => runs.push(u.to_utc()),
                LocalResult::Ambiguous(first, second) => {
                    runs.push(first.to_utc());
                    if real_time {
                        runs.push(second.to_utc());
                    }
                }
                LocalResult::None if !real_time => runs.extend(self.end_of_gap(wall)),
                LocalResult::None => {}
            }
        }
        runs
    }

    /// The first instant after the spring-forward gap that skips the wall-clock time `wall`.
    fn end_of_gap(&self, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
        let as_utc = wall.and_utc();
        let before = self.offset_at(as_utc - TimeDelta::days(1));
        let after = self.offset_at(as_utc + TimeDelta::days(1));
        // Before the change the clock shows times before `wall`, after it times after it;
        // bisect for the second of the change.
        let mut low = as_utc.timestamp() - i64::from(after);
        let mut high = as_utc.timestamp() - i64::from(before);
        while high - low > 1 {
            let middle = low + (high - low) / 2;
            if self.wall_clock(DateTime::from_timestamp(middle, 0)?) > wall {
                high = middle;
            } else {
                low = middle;
            }
        }
        DateTime::from_timestamp(high, 0)
    }

    /// The zone's UTC offset on all of `day`'s wall-clock times, if it is one offset.
    ///
    /// Checks the offset a day before, in the middle of, and a day after the day: offsets
    /// are under a day, so every instant showing a time of `day` lies between the first
    /// and last probe, and no zone changes its offset and back within 36 hours.
    fn steady_offset(&self, day: NaiveDate) -> Option<i32> {
        let midnight = day.and_time(chrono::NaiveTime::MIN).and_utc();
        let offset = self.offset_at(midnight - TimeDelta::days(1));
        let same = self.offset_at(midnight + TimeDelta::hours(12)) == offset
            && self.offset_at(midnight + TimeDelta::days(2)) == offset;
        same.then_some(offset)
    }

    fn offset_at(&self, u: DateTime<Utc>) -> i32 {
        self.zone
            .offset_from_utc_datetime(&u.naive_utc())
            .fix()
            .local_minus_utc()
    }

    fn wall_clock(&self, u: DateTime<Utc>) -> NaiveDateTime {
        u.naive_utc() + TimeDelta::seconds(self.offset_at(u).into())
    }
}

fn minute_of_day(clock: NaiveDateTime) -> u32 {
    clock.hour() * 60 + clock.minute()
}

/// `day` at `minute` minutes after midnight, read as UTC.
fn at_minute(day: NaiveDate, minute: u32) -> DateTime<Utc> {
    (day.and_time(chrono::NaiveTime::MIN) + TimeDelta::minutes(minute.into())).and_utc()
}

fn first_of_month(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

fn first_of_next_month(day: NaiveDate) -> NaiveDate {
    let (year, month) = match day.month() {
        12 => (day.year() + 1, 1),
        month => (day.year(), month + 1),
    };
    NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(NaiveDate::MAX)
}

#[cfg(test)]
mod tests;
