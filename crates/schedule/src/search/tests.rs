use std::collections::BTreeSet;

use chrono::{DateTime, LocalResult, NaiveDate, TimeDelta, TimeZone, Utc};

use crate::{Schedule, Tz};

const BERLIN: Tz = Tz::Europe__Berlin;
const NEW_YORK: Tz = Tz::America__New_York;
const NAIROBI: Tz = Tz::Africa__Nairobi;
const UTC: Tz = Tz::UTC;

fn schedule(cron: &str, zone: Tz) -> Schedule {
    Schedule::new(cron.parse().unwrap(), zone)
}

/// An instant written as `2026-03-29 01:00` (UTC).
fn utc(text: &str) -> DateTime<Utc> {
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S"))
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .and_utc()
}

/// The first `n` runs after `from`, as UTC text.
fn runs(s: &Schedule, from: &str, n: usize) -> Vec<String> {
    let mut t = utc(from);
    let mut out = Vec::new();
    for _ in 0..n {
        t = s.next_after(t).expect("a next run");
        out.push(t.format("%Y-%m-%d %H:%M").to_string());
    }
    out
}

/// The last `n` runs at or before `until`, latest first, as UTC text.
fn runs_back(s: &Schedule, until: &str, n: usize) -> Vec<String> {
    let mut t = utc(until);
    let mut out = Vec::new();
    for _ in 0..n {
        let run = s.last_at_or_before(t).expect("a previous run");
        out.push(run.format("%Y-%m-%d %H:%M").to_string());
        t = run - TimeDelta::seconds(1);
    }
    out
}

#[test]
fn utc_next_is_strictly_after_and_last_is_at_or_before() {
    let s = schedule("*/15 * * * *", UTC);
    assert_eq!(
        runs(&s, "2026-05-04 10:07", 2),
        ["2026-05-04 10:15", "2026-05-04 10:30"]
    );
    assert_eq!(runs(&s, "2026-05-04 10:15", 1), ["2026-05-04 10:30"]);
    assert_eq!(runs(&s, "2026-05-04 10:14:59", 1), ["2026-05-04 10:15"]);
    assert_eq!(
        runs_back(&s, "2026-05-04 10:15", 2),
        ["2026-05-04 10:15", "2026-05-04 10:00"]
    );
    assert_eq!(
        runs_back(&s, "2026-05-04 10:14:59", 1),
        ["2026-05-04 10:00"]
    );
    let s = schedule("30 23 31 12 *", UTC);
    assert_eq!(
        runs(&s, "2026-05-04 10:07", 2),
        ["2026-12-31 23:30", "2027-12-31 23:30"]
    );
    assert_eq!(runs_back(&s, "2026-05-04 10:07", 1), ["2025-12-31 23:30"]);
}

#[test]
fn nairobi_is_three_hours_ahead_all_year() {
    let s = schedule("0 2 * * *", NAIROBI);
    assert_eq!(
        runs(&s, "2026-03-28 12:00", 2),
        ["2026-03-28 23:00", "2026-03-29 23:00"]
    );
    assert_eq!(
        runs(&s, "2026-10-24 12:00", 2),
        ["2026-10-24 23:00", "2026-10-25 23:00"]
    );
    assert_eq!(runs_back(&s, "2026-10-25 22:59", 1), ["2026-10-24 23:00"]);
}

#[test]
fn berlin_spring_forward_runs_a_skipped_time_at_the_end_of_the_gap() {
    // 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00 UTC).
    let s = schedule("30 2 * * *", BERLIN);
    assert_eq!(
        runs(&s, "2026-03-28 00:00", 3),
        ["2026-03-28 01:30", "2026-03-29 01:00", "2026-03-30 00:30"]
    );
    assert_eq!(
        runs_back(&s, "2026-03-30 00:29", 2),
        ["2026-03-29 01:00", "2026-03-28 01:30"]
    );
    // Several skipped times, and 03:00 itself, all run at the one instant, once.
    let s = schedule("0,15,45 2,3 * * *", BERLIN);
    assert_eq!(
        runs(&s, "2026-03-29 00:50", 4),
        [
            "2026-03-29 01:00",
            "2026-03-29 01:15",
            "2026-03-29 01:45",
            "2026-03-30 00:00"
        ]
    );
}

#[test]
fn berlin_fall_back_runs_a_repeated_time_once_at_its_first_occurrence() {
    // 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:00-02:59 happens twice.
    let s = schedule("30 2 * * *", BERLIN);
    assert_eq!(
        runs(&s, "2026-10-24 00:00", 3),
        ["2026-10-24 00:30", "2026-10-25 00:30", "2026-10-26 01:30"]
    );
    // Asked from inside the second copy, the next run is the next day's.
    assert_eq!(runs(&s, "2026-10-25 01:10", 1), ["2026-10-26 01:30"]);
    assert_eq!(runs_back(&s, "2026-10-25 01:45", 1), ["2026-10-25 00:30"]);
}

#[test]
fn every_hour_jobs_follow_real_time_across_fall_back() {
    let s = schedule("*/15 * * * *", BERLIN);
    let expected: Vec<String> = (0..9)
        .map(|i| utc("2026-10-25 00:00") + TimeDelta::minutes(15 * i))
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .collect();
    // 00:00-00:45 UTC are 02:xx CEST, 01:00-01:45 UTC the same wall times in CET.
    assert_eq!(runs(&s, "2026-10-24 23:50", 9), expected);
    let mut back = expected.clone();
    back.reverse();
    assert_eq!(runs_back(&s, "2026-10-25 02:00", 9), back);
    let s = schedule("0 * * * *", BERLIN);
    assert_eq!(
        runs(&s, "2026-10-24 23:30", 3),
        ["2026-10-25 00:00", "2026-10-25 01:00", "2026-10-25 02:00"]
    );
}

#[test]
fn every_hour_jobs_follow_real_time_across_spring_forward() {
    // 02:30 does not exist on 2026-03-29; the job stays hourly in real time.
    let s = schedule("30 * * * *", BERLIN);
    assert_eq!(
        runs(&s, "2026-03-29 00:00", 3),
        ["2026-03-29 00:30", "2026-03-29 01:30", "2026-03-29 02:30"]
    );
    let s = schedule("*/15 * * * *", BERLIN);
    assert_eq!(
        runs(&s, "2026-03-29 00:40", 3),
        ["2026-03-29 00:45", "2026-03-29 01:00", "2026-03-29 01:15"]
    );
}

#[test]
fn new_york_across_both_2026_transitions() {
    // 2026-03-08: 02:00 EST becomes 03:00 EDT (07:00 UTC).
    let s = schedule("30 2 * * *", NEW_YORK);
    assert_eq!(
        runs(&s, "2026-03-07 00:00", 3),
        ["2026-03-07 07:30", "2026-03-08 07:00", "2026-03-09 06:30"]
    );
    // 2026-11-01: 02:00 EDT becomes 01:00 EST; 01:30 EDT is 05:30 UTC.
    let s = schedule("30 1 * * *", NEW_YORK);
    assert_eq!(
        runs(&s, "2026-10-31 00:00", 3),
        ["2026-10-31 05:30", "2026-11-01 05:30", "2026-11-02 06:30"]
    );
    assert_eq!(runs_back(&s, "2026-11-01 06:45", 1), ["2026-11-01 05:30"]);
    let s = schedule("*/30 * * * *", NEW_YORK);
    assert_eq!(
        runs(&s, "2026-11-01 04:50", 5),
        [
            "2026-11-01 05:00",
            "2026-11-01 05:30",
            "2026-11-01 06:00",
            "2026-11-01 06:30",
            "2026-11-01 07:00"
        ]
    );
}

#[test]
fn leap_day_is_found_years_ahead_and_february_30_never() {
    let s = schedule("0 0 29 2 *", UTC);
    assert_eq!(
        runs(&s, "2026-01-01 00:00", 2),
        ["2028-02-29 00:00", "2032-02-29 00:00"]
    );
    assert_eq!(runs_back(&s, "2026-01-01 00:00", 1), ["2024-02-29 00:00"]);
    // 2100 is no leap year: eight years between 2096 and 2104.
    assert_eq!(runs(&s, "2096-03-01 00:00", 1), ["2104-02-29 00:00"]);
    let s = schedule("0 0 29 2 *", BERLIN);
    assert_eq!(runs(&s, "2026-01-01 00:00", 1), ["2028-02-28 23:00"]);
    // A day no month has is refused when read (see the cron tests), so every schedule
    // that parses has runs.
    assert!("0 0 30 2 *".parse::<crate::Cron>().is_err());
}

#[test]
fn day_of_month_or_day_of_week() {
    // Every 13th and every Friday; 2026-01-02 is a Friday.
    let s = schedule("0 12 13 * FRI", UTC);
    assert_eq!(
        runs(&s, "2026-01-01 00:00", 4),
        [
            "2026-01-02 12:00",
            "2026-01-09 12:00",
            "2026-01-13 12:00",
            "2026-01-16 12:00"
        ]
    );
    // Both must match with a `*` day field: odd days that are Mondays.
    let s = schedule("0 12 */2 * 1", UTC);
    assert_eq!(
        runs(&s, "2026-01-01 00:00", 2),
        ["2026-01-05 12:00", "2026-01-19 12:00"]
    );
}

#[test]
fn interval_is_the_period_a_run_is_due_in() {
    let t = utc("2026-05-06 15:07");
    let daily = schedule("0 2 * * *", BERLIN);
    assert_eq!(daily.interval_at(t), Some(TimeDelta::hours(24)));
    // The day clocks go forward is an hour short, the day they go back an hour long.
    assert_eq!(
        daily.interval_at(utc("2026-03-29 12:00")),
        Some(TimeDelta::hours(23))
    );
    assert_eq!(
        daily.interval_at(utc("2026-10-25 12:00")),
        Some(TimeDelta::hours(25))
    );
    let weekly = schedule("@weekly", UTC);
    assert_eq!(weekly.interval_at(t), Some(TimeDelta::days(7)));
    let quarter = schedule("*/15 * * * *", BERLIN);
    assert_eq!(quarter.interval_at(t), Some(TimeDelta::minutes(15)));
    assert_eq!(
        quarter.interval_at(utc("2026-10-25 01:20")),
        Some(TimeDelta::minutes(15))
    );
    let weekdays = schedule("0 9 * * 1-5", NEW_YORK);
    // Friday 09:00 to Monday 09:00.
    assert_eq!(
        weekdays.interval_at(utc("2026-05-09 12:00")),
        Some(TimeDelta::days(3))
    );
}

/// A small deterministic generator, so that the property test needs no dependency.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: i64) -> i64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % below as u64) as i64
    }
}

#[test]
fn last_and_next_agree_at_random_instants() {
    let crons = [
        "30 2 * * *",
        "*/15 * * * *",
        "0 * * * *",
        "5 1-3 * * *",
        "0 0 13 * 5",
        "0 0 29 2 *",
        "45 23 31 * *",
    ];
    let zones = [
        UTC,
        NAIROBI,
        BERLIN,
        NEW_YORK,
        Tz::Australia__Lord_Howe,
        Tz::America__Sao_Paulo,
    ];
    let mut random = Lcg(7);
    let base = utc("2024-01-01 00:00").timestamp();
    for cron in crons.iter().map(|c| c.parse::<crate::Cron>().unwrap()) {
        for &zone in &zones {
            let s = Schedule::new(cron.clone(), zone);
            for _ in 0..300 {
                let t = DateTime::from_timestamp(base + random.next(4 * 366 * 86400), 0).unwrap();
                let last = s.last_at_or_before(t).unwrap();
                let next = s.next_after(t).unwrap();
                assert!(last <= t && t < next, "{cron} in {zone} at {t}");
                assert_eq!(s.next_after(last), Some(next), "{cron} in {zone} at {t}");
                assert_eq!(
                    s.last_at_or_before(next),
                    Some(next),
                    "{cron} in {zone} at {t}"
                );
                assert_eq!(
                    s.last_at_or_before(next - TimeDelta::seconds(1)),
                    Some(last),
                    "{cron} in {zone} at {t}"
                );
            }
        }
    }
}

/// The runs whose wall-clock times fall on `days` days from `first`, found the slow way:
/// every matching wall-clock minute converted on its own, and the end of a gap found by
/// stepping through it a minute at a time.
fn slow_runs(s: &Schedule, first: NaiveDate, days: u64) -> BTreeSet<DateTime<Utc>> {
    let cron = s.cron();
    let mut runs = BTreeSet::new();
    for day in first.iter_days().take(days as usize) {
        if !cron.matches_date(day) {
            continue;
        }
        for minute in cron.minutes_of_day() {
            let wall = day.and_hms_opt(minute / 60, minute % 60, 0).unwrap();
            match s.zone().from_local_datetime(&wall) {
                LocalResult::Single(u) => {
                    runs.insert(u.to_utc());
                }
                LocalResult::Ambiguous(a, b) => {
                    runs.insert(a.to_utc());
                    if cron.every_hour() {
                        runs.insert(b.to_utc());
                    }
                }
                LocalResult::None if cron.every_hour() => {}
                LocalResult::None => {
                    let mut u = wall.and_utc() - TimeDelta::days(1);
                    while u.with_timezone(&s.zone()).naive_local() < wall {
                        u += TimeDelta::minutes(1);
                    }
                    runs.insert(u);
                }
            }
        }
    }
    runs
}

#[test]
fn searches_agree_with_converting_every_minute_around_transitions() {
    let crons = [
        "30 2 * * *",
        "*/15 * * * *",
        "0 * * * *",
        "5,35 1-3 * * *",
        "0 0 * * *",
        "30 23 * * *",
        "0,30 0 * * *",
        "10 2 * * 0",
    ];
    // Lord Howe moves its clocks by 30 minutes; Sao Paulo (in 2018) did so at midnight.
    let transitions = [
        (BERLIN, "2026-03-29"),
        (BERLIN, "2026-10-25"),
        (NEW_YORK, "2026-03-08"),
        (NEW_YORK, "2026-11-01"),
        (Tz::Australia__Lord_Howe, "2026-04-05"),
        (Tz::Australia__Lord_Howe, "2026-10-04"),
        (Tz::America__Sao_Paulo, "2018-02-17"),
        (Tz::America__Sao_Paulo, "2018-11-04"),
    ];
    for (zone, day) in transitions {
        let day = NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap();
        for cron in crons {
            let s = schedule(cron, zone);
            let expected = slow_runs(&s, day - TimeDelta::days(9), 19);
            let mut t = (day - TimeDelta::days(1))
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc();
            while t
                < (day + TimeDelta::days(2))
                    .and_hms_opt(0, 0, 0)
                    .unwrap()
                    .and_utc()
            {
                let next = expected.range(t + TimeDelta::seconds(1)..).next().copied();
                let last = expected.range(..=t).next_back().copied();
                assert_eq!(s.next_after(t), next, "next after {t}: {cron} in {zone}");
                assert_eq!(
                    s.last_at_or_before(t),
                    last,
                    "last at {t}: {cron} in {zone}"
                );
                t += TimeDelta::seconds(17 * 60 + 1);
            }
        }
    }
}

#[test]
fn a_leap_day_is_found_without_walking_the_years() {
    let s = schedule("0 0 29 2 *", BERLIN);
    let start = std::time::Instant::now();
    for day in 0..1000 {
        let t = utc("2024-03-01 00:00") + TimeDelta::hours(day * 7);
        assert!(s.next_after(t).is_some());
    }
    // Minute by minute this would take hours; day by day it is milliseconds.
    let elapsed = start.elapsed();
    assert!(elapsed < std::time::Duration::from_secs(10), "{elapsed:?}");
}

#[test]
fn instants_at_the_ends_of_time_have_no_runs_and_do_not_panic() {
    let s = schedule("0 2 * * *", BERLIN);
    for t in [DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MIN_UTC] {
        assert_eq!(s.next_after(t), None);
        assert_eq!(s.last_at_or_before(t), None);
        assert_eq!(s.interval_at(t), None);
    }
}
