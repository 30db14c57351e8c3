//! Calendar spans for keep-within rules, and the date arithmetic Go does with them.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, FixedOffset, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone};

/// A calendar span in restic's syntax: `1y2m3d4h` (years, months, days, hours; any
/// subset, in any order; `m` is months). Subtracted the way Go's `AddDate` does, so one
/// month before March 31st is March 3rd (February 31st, normalised), not February 28th.
///
/// Spans are never negative: restic accepts `-3d`, and a window that ends before the
/// newest snapshot keeps nothing, so a sign typo removed every snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionDuration {
    pub years: u32,
    pub months: u32,
    pub days: u32,
    pub hours: u32,
}

impl RetentionDuration {
    pub fn is_zero(&self) -> bool {
        *self == RetentionDuration::default()
    }
}

impl FromStr for RetentionDuration {
    type Err = String;

    /// restic's grammar without its sign: numbers each followed by one unit, each unit
    /// at most once; the empty string is the zero duration. A minus sign (`-3d`, the
    /// typo `1h-2h`) or a unit given twice (`1h2h`) is an error, never a guess.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut d = RetentionDuration::default();
        let mut seen = String::new();
        let mut rest = s.trim();
        while !rest.is_empty() {
            if rest.starts_with('-') {
                return Err(format!(
                    "invalid duration {s:?}: a span cannot be negative (write 3d, not -3d)"
                ));
            }
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(format!("invalid duration {s:?}: no number found"));
            }
            let num: u32 = rest[..digits]
                .parse()
                .ok()
                .filter(|n| i32::try_from(*n).is_ok())
                .ok_or_else(|| format!("invalid duration {s:?}: number too large"))?;
            let mut after = rest[digits..].chars();
            let unit = after.next();
            let field = match unit {
                None => return Err(format!("invalid duration {s:?}: no unit after {num}")),
                Some('y') => &mut d.years,
                Some('m') => &mut d.months,
                Some('d') => &mut d.days,
                Some('h') => &mut d.hours,
                Some(c) => {
                    return Err(format!(
                        "invalid duration {s:?}: unknown unit {c:?} (use y, m, d or h)"
                    ))
                }
            };
            let unit = unit.expect("matched");
            if seen.contains(unit) {
                return Err(format!(
                    "invalid duration {s:?}: {unit:?} given twice (write each unit once)"
                ));
            }
            seen.push(unit);
            *field = num;
            rest = after.as_str();
        }
        Ok(d)
    }
}

impl fmt::Display for RetentionDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, unit) in [
            (self.years, 'y'),
            (self.months, 'm'),
            (self.days, 'd'),
            (self.hours, 'h'),
        ] {
            if n != 0 {
                write!(f, "{n}{unit}")?;
            }
        }
        Ok(())
    }
}

/// Go's `Date` normalisation: months overflow into years, then the days are counted from
/// the first of the month (so February 31st is March 3rd, or 2nd in a leap year).
pub(super) fn go_add_date(
    wall: NaiveDateTime,
    years: i64,
    months: i64,
    days: i64,
) -> Option<NaiveDateTime> {
    let month0 = i64::from(wall.year())
        .checked_add(years)?
        .checked_mul(12)?
        .checked_add(i64::from(wall.month0()))?
        .checked_add(months)?;
    let year = i32::try_from(month0.div_euclid(12)).ok()?;
    let month = u32::try_from(month0.rem_euclid(12)).ok()? + 1;
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let day_offset = i64::from(wall.day() - 1).checked_add(days)?;
    let date = first.checked_add_signed(TimeDelta::try_days(day_offset)?)?;
    Some(date.and_time(wall.time()))
}

/// The offset Go's `Date` picks for a wall-clock time in a zone with DST: the offset in
/// force at the wall time read as UTC, corrected once if that lands in another period
/// (a wall time in a spring-forward gap or a fall-back overlap resolves as Go does).
pub(super) fn go_local_offset<Tz: TimeZone>(zone: &Tz, wall: &NaiveDateTime) -> FixedOffset {
    let first = zone.offset_from_utc_datetime(wall).fix();
    let utc = *wall - TimeDelta::seconds(i64::from(first.local_minus_utc()));
    zone.offset_from_utc_datetime(&utc).fix()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dur(s: &str) -> RetentionDuration {
        s.parse().unwrap()
    }

    #[test]
    fn durations_parse_like_restic() {
        let d = dur("1y2m3d4h");
        assert_eq!((d.years, d.months, d.days, d.hours), (1, 2, 3, 4));
        assert_eq!(
            dur("4h1y"),
            RetentionDuration {
                years: 1,
                hours: 4,
                ..Default::default()
            }
        );
        assert_eq!(
            dur(" 2d "),
            RetentionDuration {
                days: 2,
                ..Default::default()
            }
        );
        assert!(dur("").is_zero());
        assert!(dur("0d").is_zero());
        let bad = [
            "1",
            "d",
            "1w",
            "1d-",
            "--1d",
            "1.5d",
            "99999999999y",
            "1 d",
            "3000000000d",
        ];
        for bad in bad {
            assert!(bad.parse::<RetentionDuration>().is_err(), "{bad:?} parsed");
        }
        assert_eq!(dur("2h3m1y").to_string(), "1y3m2h");
        assert_eq!(dur("0y5d").to_string(), "5d");
    }

    #[test]
    fn negative_or_repeated_spans_are_refused() {
        // Regression: "-3d" parsed (as restic parses it) and kept no snapshot at all.
        for bad in ["-3d", "1h-2h", "-0d", "1d2d", "1h2h", "2d-1d"] {
            let e = bad.parse::<RetentionDuration>().unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn add_date_normalises_like_go() {
        let wall = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        let go = |s: &str, y, m, d| go_add_date(wall(s), y, m, d).unwrap();
        assert_eq!(go("2024-03-31 12:00", 0, -1, 0), wall("2024-03-02 12:00"));
        assert_eq!(go("2023-03-31 12:00", 0, -1, 0), wall("2023-03-03 12:00"));
        assert_eq!(go("2024-02-29 10:00", -1, 0, 0), wall("2023-03-01 10:00"));
        assert_eq!(go("2021-01-15 00:00", 0, -13, 0), wall("2019-12-15 00:00"));
        assert_eq!(go("2021-03-01 05:00", 0, 0, -1), wall("2021-02-28 05:00"));
        assert_eq!(go("2021-03-01 05:00", 0, 0, 40), wall("2021-04-10 05:00"));
    }
}
