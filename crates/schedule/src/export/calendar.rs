//! A cron expression as systemd calendar events (`OnCalendar=` values).

use chrono_tz::Tz;

use crate::cron::{bits, Cron};

/// Weekdays in systemd's order (Monday first), as cron numbers (Sunday is 0).
const SYSTEMD_WEEK: [u32; 7] = [1, 2, 3, 4, 5, 6, 0];
const WEEKDAY_NAMES: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// The calendar events whose union is the expression's runs, each
/// `[WEEKDAYS ]*-MONTHS-DAYS HOURS:MINUTES:00 ZONE`.
///
/// Vixie cron's either-day rule (both day fields restricted) becomes two events, one per
/// day field; systemd ANDs the fields within one event, as cron does otherwise.
pub(super) fn on_calendar(cron: &Cron, zone: Tz) -> Vec<String> {
    let time = format!(
        "{}:{}:00",
        numbers(cron.hours, 0, 23),
        numbers(cron.minutes, 0, 59)
    );
    let months = numbers(cron.months, 1, 12);
    let days = numbers(cron.days, 1, 31);
    let zone = zone.name();
    match weekdays(cron.weekdays) {
        Some(weekdays) if cron.days_or_weekdays() && days != "*" => vec![
            format!("{weekdays} *-{months}-* {time} {zone}"),
            format!("*-{months}-{days} {time} {zone}"),
        ],
        // Either day field matching every day makes every day match.
        _ if cron.days_or_weekdays() => vec![format!("*-{months}-* {time} {zone}")],
        Some(weekdays) => vec![format!("{weekdays} *-{months}-{days} {time} {zone}")],
        None => vec![format!("*-{months}-{days} {time} {zone}")],
    }
}

/// A set of numbers in systemd's syntax: `*` for all, `05/10` for a repetition that runs
/// to the end of the range, else a list of values and `a..b` ranges (two digits each).
fn numbers(mask: u64, min: u32, max: u32) -> String {
    let values: Vec<u32> = bits(mask).collect();
    if values.len() == (max - min + 1) as usize {
        return "*".to_string();
    }
    if let [first, second, ..] = values[..] {
        let step = second - first;
        let last = values[values.len() - 1];
        let evenly = values.windows(2).all(|pair| pair[1] - pair[0] == step);
        if values.len() >= 3 && step > 1 && evenly && last + step > max {
            return format!("{first:02}/{step}");
        }
    }
    runs(&values, |value| format!("{value:02}"))
}

/// The weekdays in systemd's syntax (`Mon..Fri`, `Sat,Sun`), or `None` for every day.
fn weekdays(mask: u64) -> Option<String> {
    if mask.count_ones() == 7 {
        return None;
    }
    // Positions in the Monday-first week, so that runs follow systemd's order.
    let positions: Vec<u32> = (0..7)
        .filter(|&index| mask & (1 << SYSTEMD_WEEK[index as usize]) != 0)
        .collect();
    Some(runs(&positions, |index| {
        WEEKDAY_NAMES[SYSTEMD_WEEK[index as usize] as usize].to_string()
    }))
}

/// Sorted values as a comma-separated list, with three or more consecutive ones as `a..b`.
fn runs(values: &[u32], show: impl Fn(u32) -> String) -> String {
    let mut parts = Vec::new();
    let mut start = 0;
    while start < values.len() {
        let mut end = start;
        while end + 1 < values.len() && values[end + 1] == values[end] + 1 {
            end += 1;
        }
        if end - start >= 2 {
            parts.push(format!("{}..{}", show(values[start]), show(values[end])));
        } else {
            parts.extend(values[start..=end].iter().map(|&value| show(value)));
        }
        start = end + 1;
    }
    parts.join(",")
}
