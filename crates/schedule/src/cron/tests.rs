use super::*;

fn cron(text: &str) -> Cron {
    text.parse()
        .unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
}

fn error(text: &str) -> String {
    text.parse::<Cron>()
        .expect_err(&format!("{text:?} should not parse"))
}

fn values(mask: u64) -> Vec<u32> {
    bits(mask).collect()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

#[test]
fn fields_are_read_into_sets() {
    let c = cron("*/15 9-17 1,15 * MON-FRI");
    assert_eq!(values(c.minutes), [0, 15, 30, 45]);
    assert_eq!(values(c.hours), (9..=17).collect::<Vec<_>>());
    assert_eq!(values(c.days), [1, 15]);
    assert_eq!(values(c.months), (1..=12).collect::<Vec<_>>());
    assert_eq!(values(c.weekdays), [1, 2, 3, 4, 5]);
    assert!(c.days_or_weekdays());
}

#[test]
fn steps_ranges_and_start_steps() {
    assert_eq!(values(cron("1-30/7 * * * *").minutes), [1, 8, 15, 22, 29]);
    assert_eq!(
        values(cron("5/10 * * * *").minutes),
        [5, 15, 25, 35, 45, 55]
    );
    assert_eq!(values(cron("0 */6 * * *").hours), [0, 6, 12, 18]);
    assert_eq!(values(cron("0 0 */10 * *").days), [1, 11, 21, 31]);
    assert_eq!(values(cron("0 0 1 */3 *").months), [1, 4, 7, 10]);
    assert_eq!(values(cron("0,30 1,2-4,23 * * *").hours), [1, 2, 3, 4, 23]);
    assert_eq!(values(cron("0,30 * * * *").minutes), [0, 30]);
    // `N/step` on day-of-week runs to Saturday, not to the alias 7.
    assert_eq!(values(cron("0 0 * * 1/2").weekdays), [1, 3, 5]);
}

#[test]
fn names_are_case_insensitive_and_sunday_is_0_or_7() {
    assert_eq!(values(cron("0 0 1 jan-Mar,DEC *").months), [1, 2, 3, 12]);
    assert_eq!(values(cron("0 0 * * sun").weekdays), [0]);
    assert_eq!(values(cron("0 0 * * 7").weekdays), [0]);
    assert_eq!(values(cron("0 0 * * 5-7").weekdays), [0, 5, 6]);
    assert_eq!(
        values(cron("0 0 * * 0-7").weekdays),
        (0..=6).collect::<Vec<_>>()
    );
    assert_eq!(values(cron("0 0 * * Fri,SAT").weekdays), [5, 6]);
}

#[test]
fn macros_stand_for_their_expressions() {
    let same = |a: &str, b: &str| {
        let (a, b) = (cron(a), cron(b));
        assert_eq!(
            (
                a.minutes,
                a.hours,
                a.days,
                a.months,
                a.weekdays,
                a.days_star,
                a.weekdays_star
            ),
            (
                b.minutes,
                b.hours,
                b.days,
                b.months,
                b.weekdays,
                b.days_star,
                b.weekdays_star
            )
        );
    };
    same("@yearly", "0 0 1 1 *");
    same("@annually", "0 0 1 1 *");
    same("@monthly", "0 0 1 * *");
    same("@weekly", "0 0 * * 0");
    same("@daily", "0 0 * * *");
    same("@midnight", "0 0 * * *");
    same("@hourly", "0 * * * *");
    same("@DAILY", "0 0 * * *");
}

#[test]
fn display_is_the_text_as_written_trimmed() {
    assert_eq!(cron("  0  2 * * *\n").to_string(), "0  2 * * *");
    assert_eq!(cron(" @daily ").to_string(), "@daily");
    assert_eq!(cron("0  2 * *\t*").fields_text(), "0 2 * * *");
}

#[test]
fn out_of_range_values_name_the_field() {
    assert_eq!(error("61 * * * *"), "minute field: 61 is out of range 0-59");
    assert_eq!(error("0 24 * * *"), "hour field: 24 is out of range 0-23");
    assert_eq!(
        error("0 0 0 * *"),
        "day-of-month field: 0 is out of range 1-31"
    );
    assert_eq!(
        error("0 0 32 * *"),
        "day-of-month field: 32 is out of range 1-31"
    );
    assert_eq!(error("0 0 * 13 *"), "month field: 13 is out of range 1-12");
    assert_eq!(
        error("0 0 * * 8"),
        "day-of-week field: 8 is out of range 0-7"
    );
    assert_eq!(
        error("99999999999 * * * *"),
        "minute field: 99999999999 is out of range 0-59"
    );
}

#[test]
fn malformed_fields_name_the_field_and_value() {
    assert_eq!(
        error("0 0 * FOO *"),
        r#"month field: "FOO" is not a valid value (use 1-12 or JAN-DEC)"#
    );
    assert_eq!(
        error("0 0 * * MONDAY"),
        r#"day-of-week field: "MONDAY" is not a valid value (use 0-7 or SUN-SAT)"#
    );
    assert_eq!(
        error("x * * * *"),
        r#"minute field: "x" is not a valid value (use 0-59)"#
    );
    assert_eq!(
        error("*/0 * * * *"),
        "minute field: step 0 is out of range 1-59"
    );
    assert_eq!(
        error("0 */24 * * *"),
        "hour field: step 24 is out of range 1-23"
    );
    assert_eq!(
        error("*/ * * * *"),
        r#"minute field: step "" is not a number"#
    );
    assert_eq!(
        error("50-10 * * * *"),
        "minute field: range 50-10 runs backwards (write the smaller value first)"
    );
    assert_eq!(
        error("-5 * * * *"),
        r#"minute field: "-5" is not a valid range"#
    );
    assert_eq!(
        error("1,,2 * * * *"),
        r#"minute field: "1,,2" has an empty list item"#
    );
    assert_eq!(
        error("0 0 ? * *"),
        r#"day-of-month field: "?" is not a valid value (use 1-31)"#
    );
}

#[test]
fn wrong_field_counts_and_macros_are_refused() {
    assert_eq!(
        error("0 0 2 * * *"),
        r#""0 0 2 * * *" has 6 fields, but bunker schedules have minute resolution: use 5 fields (minute hour day-of-month month day-of-week)"#
    );
    assert!(error("0 0 2 * * * 2026")
        .contains("has 7 fields, but bunker schedules have minute resolution: use 5 fields"));
    assert_eq!(
        error("0 2 * *"),
        r#""0 2 * *" has 4 fields: use 5 (minute hour day-of-month month day-of-week)"#
    );
    assert!(error("   ").starts_with("empty cron expression"));
    assert!(error("@reboot").starts_with("@reboot is not a time"));
    assert_eq!(
        error("@fortnightly"),
        r#"unknown macro "@fortnightly": use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly"#
    );
    assert!(error("@daily 5").starts_with("unknown macro"));
}

#[test]
fn either_day_field_matches_when_both_are_restricted() {
    // Every 13th and every Friday.
    let c = cron("0 0 13 * 5");
    assert!(c.matches_date(date(2026, 1, 13))); // a Tuesday
    assert!(c.matches_date(date(2026, 1, 16))); // a Friday
    assert!(c.matches_date(date(2026, 2, 13))); // Friday the 13th
    assert!(!c.matches_date(date(2026, 1, 14)));
    // A day field starting with `*` makes both fields apply: odd days that are Mondays.
    let c = cron("0 0 */2 * 1");
    assert!(!c.days_or_weekdays());
    assert!(c.matches_date(date(2026, 1, 5)));
    assert!(!c.matches_date(date(2026, 1, 12)));
    assert!(!c.matches_date(date(2026, 1, 7)));
    // Months restrict both.
    let c = cron("0 0 13 JUN 5");
    assert!(!c.matches_date(date(2026, 1, 16)));
    assert!(c.matches_date(date(2026, 6, 5)));
}

#[test]
fn times_of_day_are_found_by_bit_arithmetic() {
    let c = cron("15,45 9-10,20 * * *");
    assert_eq!(
        c.minutes_of_day().collect::<Vec<_>>(),
        [555, 585, 615, 645, 1215, 1245]
    );
    assert_eq!(c.first_minute_from(0), Some(555));
    assert_eq!(c.first_minute_from(555), Some(555));
    assert_eq!(c.first_minute_from(556), Some(585));
    assert_eq!(c.first_minute_from(586), Some(615));
    assert_eq!(c.first_minute_from(646), Some(1215));
    assert_eq!(c.first_minute_from(1246), None);
    assert_eq!(c.first_minute_from(1440), None);
    assert_eq!(c.last_minute_until(1439), Some(1245));
    assert_eq!(c.last_minute_until(1245), Some(1245));
    assert_eq!(c.last_minute_until(1244), Some(1215));
    assert_eq!(c.last_minute_until(1214), Some(645));
    assert_eq!(c.last_minute_until(584), Some(555));
    assert_eq!(c.last_minute_until(554), None);
    assert!(cron("*/5 * * * *").every_hour());
    assert!(cron("0 0-23 * * *").every_hour());
    assert!(!cron("0 */2 * * *").every_hour());
}

#[test]
fn macros_are_written_out_in_lowercase() {
    assert_eq!(cron("@Daily").to_string(), "@Daily");
    assert_eq!(cron("@Daily").fields_text(), "@daily");
}

#[test]
fn a_feb_30_cron_that_never_fires_is_refused() {
    assert_eq!(
        error("0 0 30 2 *"),
        r#""0 0 30 2 *" never runs: day 30 does not occur in month 2"#
    );
    assert!(error("0 0 31 4,6,9,11 *").contains("never runs"));
    assert!(error("0 0 30,31 FEB *").contains("never runs"));
    // Days some listed month has, leap days, and a weekday that adds days all run.
    cron("0 0 31 2,3 *");
    cron("0 0 29 2 *");
    cron("0 0 30 2 MON");
    cron("0 0 */30 2 *");
}
