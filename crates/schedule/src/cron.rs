//! Parsing and matching of 5-field cron expressions, with Vixie cron's syntax and its
//! day-of-month/day-of-week rule.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A parsed 5-field cron expression (minute hour day-of-month month day-of-week).
///
/// It keeps the text as written, so it prints and serializes the way the user wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cron {
    text: String,
    /// Bit `m` set: minute `m` matches (0-59).
    pub(crate) minutes: u64,
    /// Bit `h` set: hour `h` matches (0-23).
    pub(crate) hours: u64,
    /// Bit `d` set: day of month `d` matches (1-31).
    pub(crate) days: u64,
    /// Bit `m` set: month `m` matches (1-12).
    pub(crate) months: u64,
    /// Bit `d` set: weekday `d` matches (0-6, Sunday is 0; a written 7 is stored as 0).
    pub(crate) weekdays: u64,
    /// The day-of-month field starts with `*`: Vixie cron then ANDs the two day fields.
    pub(crate) days_star: bool,
    /// The day-of-week field starts with `*`.
    pub(crate) weekdays_star: bool,
}

/// How one field is read: its name in errors, its bounds, and its value names if any.
struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    /// The last value `*` and `N/step` reach: 6 for day-of-week, where 7 is only an alias.
    star_max: u32,
    /// Names of the values from `min` on, matched case-insensitively.
    names: &'static [&'static str],
    /// How to write a valid value, for errors.
    hint: &'static str,
}

const MINUTE: FieldSpec = FieldSpec {
    name: "minute",
    min: 0,
    max: 59,
    star_max: 59,
    names: &[],
    hint: "0-59",
};
const HOUR: FieldSpec = FieldSpec {
    name: "hour",
    min: 0,
    max: 23,
    star_max: 23,
    names: &[],
    hint: "0-23",
};
const DAY_OF_MONTH: FieldSpec = FieldSpec {
    name: "day-of-month",
    min: 1,
    max: 31,
    star_max: 31,
    names: &[],
    hint: "1-31",
};
const MONTH: FieldSpec = FieldSpec {
    name: "month",
    min: 1,
    max: 12,
    star_max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
    hint: "1-12 or JAN-DEC",
};
const DAY_OF_WEEK: FieldSpec = FieldSpec {
    name: "day-of-week",
    min: 0,
    max: 7,
    star_max: 6,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    hint: "0-7 or SUN-SAT",
};

/// The macros and the expressions they stand for.
const MACROS: &[(&str, &str)] = &[
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

/// Every hour of the day, as an hour set.
const ALL_HOURS: u64 = (1 << 24) - 1;

impl FromStr for Cron {
    type Err = String;

    fn from_str(s: &str) -> Result<Cron, String> {
        let text = s.trim();
        if text.is_empty() {
            return Err("empty cron expression: write 5 fields \
                        (minute hour day-of-month month day-of-week) or a macro such as @daily"
                .to_string());
        }
        let expanded = if text.starts_with('@') {
            expand_macro(text)?
        } else {
            text
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        match fields.len() {
            5 => {}
            6 | 7 => {
                return Err(format!(
                    "{text:?} has {} fields, but bunker schedules have minute resolution: \
                     use 5 fields (minute hour day-of-month month day-of-week)",
                    fields.len()
                ))
            }
            n => {
                return Err(format!(
                    "{text:?} has {n} field{}: use 5 (minute hour day-of-month month day-of-week)",
                    if n == 1 { "" } else { "s" }
                ))
            }
        }
        let mut weekdays = parse_field(&DAY_OF_WEEK, fields[4])?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays & !(1 << 7)) | 1;
        }
        let cron = Cron {
            text: text.to_string(),
            minutes: parse_field(&MINUTE, fields[0])?,
            hours: parse_field(&HOUR, fields[1])?,
            days: parse_field(&DAY_OF_MONTH, fields[2])?,
            months: parse_field(&MONTH, fields[3])?,
            weekdays,
            days_star: fields[2].starts_with('*'),
            weekdays_star: fields[4].starts_with('*'),
        };
        cron.check_runs(fields[2], fields[3])?;
        Ok(cron)
    }
}

/// The most days month `m` (1-12) ever has: February counts its leap day.
fn longest_month(m: u32) -> u32 {
    match m {
        2 => 29,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Cron {
    /// Refuses an expression that matches no day at all, such as `0 0 30 2 *`: its job
    /// would never run and never be reported late. Only the day of the month can rule
    /// out every day; a restricted day of week always adds days of its own.
    fn check_runs(&self, days_field: &str, months_field: &str) -> Result<(), String> {
        if self.days_star || !self.weekdays_star {
            return Ok(());
        }
        let some_day =
            bits(self.months).any(|m| bits(self.days).any(|d| (1..=longest_month(m)).contains(&d)));
        if some_day {
            return Ok(());
        }
        Err(format!(
            "{:?} never runs: day {days_field} does not occur in month {months_field}",
            self.text
        ))
    }
}

fn expand_macro(text: &str) -> Result<&'static str, String> {
    if text.eq_ignore_ascii_case("@reboot") {
        return Err(
            "@reboot is not a time: bunker schedules run at times of day, \
                    use a cron expression or a macro such as @daily"
                .to_string(),
        );
    }
    MACROS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(text))
        .map(|(_, expansion)| *expansion)
        .ok_or_else(|| {
            format!(
                "unknown macro {text:?}: use @yearly, @annually, @monthly, @weekly, \
                 @daily, @midnight or @hourly"
            )
        })
}

/// Parses one field (`*`, lists, ranges, steps, names) into a bit set.
fn parse_field(spec: &FieldSpec, field: &str) -> Result<u64, String> {
    let name = spec.name;
    let mut bits = 0u64;
    for item in field.split(',') {
        if item.is_empty() {
            return Err(format!("{name} field: {field:?} has an empty list item"));
        }
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, Some(parse_step(spec, step)?)),
            None => (item, None),
        };
        let (low, high) = if range == "*" {
            (spec.min, spec.star_max)
        } else if let Some((low, high)) = range.split_once('-') {
            if low.is_empty() || high.is_empty() {
                return Err(format!("{name} field: {item:?} is not a valid range"));
            }
            let (low, high) = (parse_value(spec, low)?, parse_value(spec, high)?);
            if low > high {
                return Err(format!(
                    "{name} field: range {range} runs backwards (write the smaller value first)"
                ));
            }
            (low, high)
        } else {
            let value = parse_value(spec, range)?;
            // `N/step` means from N to the end of the field's range.
            (
                value,
                if step.is_some() {
                    spec.star_max.max(value)
                } else {
                    value
                },
            )
        };
        for value in (low..=high).step_by(step.unwrap_or(1) as usize) {
            bits |= 1 << value;
        }
    }
    Ok(bits)
}

fn parse_value(spec: &FieldSpec, text: &str) -> Result<u32, String> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        // A number too long for u32 is out of range all the same.
        let value = text.parse::<u32>().unwrap_or(u32::MAX);
        if value < spec.min || value > spec.max {
            return Err(format!(
                "{} field: {text} is out of range {}-{}",
                spec.name, spec.min, spec.max
            ));
        }
        return Ok(value);
    }
    spec.names
        .iter()
        .position(|name| name.eq_ignore_ascii_case(text))
        .map(|index| spec.min + index as u32)
        .ok_or_else(|| {
            format!(
                "{} field: {text:?} is not a valid value (use {})",
                spec.name, spec.hint
            )
        })
}

fn parse_step(spec: &FieldSpec, text: &str) -> Result<u32, String> {
    let name = spec.name;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{name} field: step {text:?} is not a number"));
    }
    let step = text.parse::<u32>().unwrap_or(u32::MAX);
    if step == 0 || step > spec.max {
        return Err(format!(
            "{name} field: step {text} is out of range 1-{}",
            spec.max
        ));
    }
    Ok(step)
}

impl Cron {
    /// Whether `date` is a day the expression runs on (month and the two day fields).
    pub(crate) fn matches_date(&self, date: NaiveDate) -> bool {
        if !self.matches_month(date.month()) {
            return false;
        }
        let day = self.days & (1 << date.day()) != 0;
        let weekday = self.weekdays & (1 << date.weekday().num_days_from_sunday()) != 0;
        if self.days_or_weekdays() {
            day || weekday
        } else {
            day && weekday
        }
    }

    /// Vixie cron: when both day fields are restricted (neither starts with `*`), a day
    /// matches when either matches; otherwise both must.
    pub(crate) fn days_or_weekdays(&self) -> bool {
        !self.days_star && !self.weekdays_star
    }

    pub(crate) fn matches_month(&self, month: u32) -> bool {
        self.months & (1 << month) != 0
    }

    /// The hour field covers every hour: such a job follows real time across DST changes.
    pub(crate) fn every_hour(&self) -> bool {
        self.hours == ALL_HOURS
    }

    /// The first matching time of day, in minutes since midnight, at or after `from`.
    pub(crate) fn first_minute_from(&self, from: u32) -> Option<u32> {
        let (hour, minute) = (from / 60, from % 60);
        let mut matched_hour = next_bit(self.hours, hour)?;
        if matched_hour == hour {
            if let Some(minute) = next_bit(self.minutes, minute) {
                return Some(hour * 60 + minute);
            }
            matched_hour = next_bit(self.hours, hour + 1)?;
        }
        Some(matched_hour * 60 + next_bit(self.minutes, 0)?)
    }

    /// The last matching time of day, in minutes since midnight, at or before `until`.
    pub(crate) fn last_minute_until(&self, until: u32) -> Option<u32> {
        let (hour, minute) = (until / 60, until % 60);
        let mut matched_hour = prev_bit(self.hours, hour)?;
        if matched_hour == hour {
            if let Some(minute) = prev_bit(self.minutes, minute) {
                return Some(hour * 60 + minute);
            }
            matched_hour = prev_bit(self.hours, hour.checked_sub(1)?)?;
        }
        Some(matched_hour * 60 + prev_bit(self.minutes, 59)?)
    }

    /// Every matching time of day, in minutes since midnight, in order.
    pub(crate) fn minutes_of_day(&self) -> impl Iterator<Item = u32> + '_ {
        bits(self.hours).flat_map(move |hour| bits(self.minutes).map(move |m| hour * 60 + m))
    }

    /// The five fields as written, separated by single spaces; a macro in lowercase, the
    /// only way other crons read them.
    pub(crate) fn fields_text(&self) -> String {
        if self.text.starts_with('@') {
            return self.text.to_ascii_lowercase();
        }
        self.text.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

/// The lowest set bit at or above `from`.
fn next_bit(mask: u64, from: u32) -> Option<u32> {
    if from >= 64 {
        return None;
    }
    let above = mask & (u64::MAX << from);
    (above != 0).then(|| above.trailing_zeros())
}

/// The highest set bit at or below `until`.
fn prev_bit(mask: u64, until: u32) -> Option<u32> {
    let below = if until >= 63 {
        mask
    } else {
        mask & ((1 << (until + 1)) - 1)
    };
    (below != 0).then(|| 63 - below.leading_zeros())
}

/// The set bits of `mask`, lowest first.
pub(crate) fn bits(mask: u64) -> impl Iterator<Item = u32> {
    (0..64).filter(move |bit| mask & (1 << bit) != 0)
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Cron {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Cron {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Cron, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
