use std::collections::BTreeSet;
use std::process::Command;

use chrono::{DateTime, NaiveDateTime, Utc};

use super::*;
use crate::{Cron, Tz};

fn schedule(cron: &str, zone: Tz) -> Schedule {
    Schedule::new(cron.parse().unwrap(), zone)
}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|word| word.to_string()).collect()
}

fn unit<'a>(job: &'a str, schedule: &'a Schedule, args: &'a [String]) -> Unit<'a> {
    Unit {
        job,
        schedule,
        program: "/usr/local/bin/bunker",
        args,
        image: "ghcr.io/example/bunker:1.0",
        environment_file: Some("/etc/bunker/bunker.env"),
    }
}

fn events(cron: &str, zone: Tz) -> Vec<String> {
    calendar::on_calendar(&cron.parse().unwrap(), zone)
}

#[test]
fn systemd_golden() {
    let s = schedule("0 2 * * *", Tz::Europe__Berlin);
    let args = strings(&["--config", "/etc/bunker/bunker.toml", "run", "db"]);
    let (service, timer) = systemd(&unit("db", &s, &args)).unwrap();
    assert_eq!(
        service,
        "# bunker job \"db\", written by `bunker schedule export`
[Unit]
Description=bunker job db
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
# The variables the configuration refers to (${NAME}, env:NAME), NAME=value a
# line; \"-\": the service also runs without the file.
EnvironmentFile=-/etc/bunker/bunker.env
ExecStart=/usr/local/bin/bunker --config /etc/bunker/bunker.toml run db
# The system's files stay read-only to the job (a repository, state or cache
# directory under /usr, /boot or /etc needs ReadWritePaths=), /tmp is its own (a
# PostgreSQL socket in /tmp needs PrivateTmp=false), and nothing it runs gains
# privileges.
ProtectSystem=full
PrivateTmp=true
NoNewPrivileges=true
"
    );
    assert_eq!(
        timer,
        "# bunker job \"db\": cron \"0 2 * * *\" in Europe/Berlin, written by `bunker schedule export`
# At DST changes systemd follows its own rules: a time that clocks skip in spring
# does not run that day.
[Unit]
Description=Schedule of bunker job db

[Timer]
OnCalendar=*-*-* 02:00:00 Europe/Berlin
Persistent=true
AccuracySec=1s

[Install]
WantedBy=timers.target
"
    );
}

#[test]
fn either_day_field_becomes_two_calendar_events() {
    let s = schedule("*/15 9-17 1,15 * MON-FRI", Tz::Africa__Nairobi);
    let (_, timer) = systemd(&unit("db", &s, &[])).unwrap();
    assert!(timer.contains(
        "OnCalendar=Mon..Fri *-*-* 09..17:00/15:00 Africa/Nairobi\n\
         OnCalendar=*-*-01,15 09..17:00/15:00 Africa/Nairobi\n"
    ));
}

#[test]
fn calendar_events_for_each_field_form() {
    assert_eq!(events("@hourly", Tz::UTC), ["*-*-* *:00:00 UTC"]);
    assert_eq!(events("@weekly", Tz::UTC), ["Sun *-*-* 00:00:00 UTC"]);
    assert_eq!(events("@yearly", Tz::UTC), ["*-01-01 00:00:00 UTC"]);
    assert_eq!(events("0 0 1 */3 *", Tz::UTC), ["*-01/3-01 00:00:00 UTC"]);
    assert_eq!(
        events("5/10 */6 * * *", Tz::UTC),
        ["*-*-* 00/6:05/10:00 UTC"]
    );
    assert_eq!(
        events("0,1,2,30 1,2 * * *", Tz::UTC),
        ["*-*-* 01,02:00..02,30:00 UTC"]
    );
    assert_eq!(
        events("0 0 * * 5-7", Tz::UTC),
        ["Fri..Sun *-*-* 00:00:00 UTC"]
    );
    assert_eq!(
        events("0 0 * * 0,6", Tz::UTC),
        ["Sat,Sun *-*-* 00:00:00 UTC"]
    );
    // With a `*` day field both fields apply, as in one systemd event.
    assert_eq!(
        events("0 0 */2 * 1", Tz::UTC),
        ["Mon *-*-01/2 00:00:00 UTC"]
    );
    // Either field matching every day makes every day match.
    assert_eq!(events("0 0 1-31 * 1", Tz::UTC), ["*-*-* 00:00:00 UTC"]);
    assert_eq!(events("0 0 13 * 0-6", Tz::UTC), ["*-*-* 00:00:00 UTC"]);
}

#[test]
fn systemd_quotes_arguments_and_escapes_specifiers() {
    let s = schedule("@daily", Tz::UTC);
    let args = strings(&["a b", "it's 50%", "$HOME", ";", "", "x\"y\\z", "tab\there"]);
    let (service, _) = systemd(&unit("db", &s, &args)).unwrap();
    assert!(service.contains(
        r#"ExecStart=/usr/local/bin/bunker "a b" "it's 50%%" $$HOME \; "" "x\"y\\z" "tab\there""#
    ));
}

#[test]
fn systemd_refuses_what_a_unit_cannot_hold() {
    let s = schedule("@daily", Tz::UTC);
    assert_eq!(
        systemd(&unit("my job", &s, &[])).unwrap_err(),
        "job name \"my job\" cannot be part of a systemd unit name: \
         use up to 200 letters, digits, '-', '_', '.' and ':'"
    );
    assert!(systemd(&unit("a/b", &s, &[])).is_err());
    assert!(systemd(&unit("", &s, &[])).is_err());
    let mut u = unit("db", &s, &[]);
    u.program = "-bunker";
    assert!(systemd(&u).unwrap_err().contains("reads as a flag"));
    u.program = "";
    assert!(systemd(&u).unwrap_err().contains("no program"));
}

#[test]
fn crontab_golden() {
    let s = schedule("0  2 * * *", Tz::Europe__Berlin);
    let args = strings(&["--config", "/etc/bunker/bunker.toml", "run", "db"]);
    assert_eq!(
        crontab(&unit("db", &s, &args)),
        "# bunker job \"db\", written by `bunker schedule export`
CRON_TZ=Europe/Berlin
0 2 * * * /usr/local/bin/bunker --config /etc/bunker/bunker.toml run db
"
    );
}

#[test]
fn crontab_quotes_for_the_shell_and_escapes_percent() {
    let s = schedule("@daily", Tz::UTC);
    let args = strings(&["a b", "it's 50%", "$HOME", ";", "", "--opt=x"]);
    let mut u = unit("db", &s, &args);
    u.program = "/opt/my bunker/bunker";
    assert_eq!(
        crontab(&u).lines().last().unwrap(),
        r#"@daily '/opt/my bunker/bunker' 'a b' 'it'\''s 50\%' '$HOME' ';' '' --opt=x"#
    );
    let args = strings(&["two\nlines"]);
    let text = crontab(&unit("db", &s, &args));
    assert!(text.ends_with(
        "# not written: an argument has a line break, which a crontab line cannot hold\n"
    ));
}

#[test]
fn kubernetes_golden() {
    let s = schedule("*/15 * * * *", Tz::America__New_York);
    let args = strings(&["--config", "/etc/bunker/bunker.toml", "run", "db"]);
    assert_eq!(
        kubernetes(&unit("db", &s, &args)),
        r#"# bunker job "db", written by `bunker schedule export`
apiVersion: batch/v1
kind: CronJob
metadata:
  name: bunker-db
  annotations:
    bunker/job: "db"
spec:
  schedule: "*/15 * * * *"
  timeZone: "America/New_York"
  concurrencyPolicy: Forbid
  startingDeadlineSeconds: 3600
  successfulJobsHistoryLimit: 3
  failedJobsHistoryLimit: 3
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: bunker
              image: "ghcr.io/example/bunker:1.0"
              command:
              - "/usr/local/bin/bunker"
              args:
              - "--config"
              - "/etc/bunker/bunker.toml"
              - "run"
              - "db"
"#
    );
}

#[test]
fn kubernetes_quotes_strings_and_names_the_cronjob_for_dns() {
    let s = schedule("@daily", Tz::UTC);
    let args = strings(&["yes", "1.0", "say \"hi\"\n", "C:\\x", "# not a comment"]);
    let yaml = kubernetes(&unit("Nightly DB_Backup", &s, &args));
    assert!(yaml.contains("  name: bunker-nightly-db-backup\n"));
    assert!(yaml.contains("    bunker/job: \"Nightly DB_Backup\"\n"));
    assert!(yaml.contains(
        r##"              - "yes"
              - "1.0"
              - "say \"hi\"\n"
              - "C:\\x"
              - "# not a comment"
"##
    ));
    assert!(kubernetes(&unit("db", &s, &[])).ends_with("              args: []\n"));
    assert_eq!(
        kubernetes_name(&"x".repeat(80)),
        format!("bunker-{}", "x".repeat(45))
    );
    assert_eq!(kubernetes_name("Été/2"), "bunker--t--2");
    assert_eq!(
        kubernetes_name(&format!("{}.x", "a".repeat(44))),
        format!("bunker-{}", "a".repeat(44))
    );
}

#[test]
fn kubernetes_schedule_is_rewritten_where_kubernetes_reads_it_otherwise() {
    let rewritten = |cron: &str| kubernetes_schedule(&cron.parse::<Cron>().unwrap());
    assert_eq!(rewritten("0  2 * * *"), ("0 2 * * *".to_string(), None));
    assert_eq!(rewritten("@weekly"), ("@weekly".to_string(), None));
    // Kubernetes' day of week is 0-6.
    assert_eq!(rewritten("0 0 * * 5-7").0, "0 0 * * 0,5,6");
    assert_eq!(rewritten("0 0 * * SUN,MON").0, "0 0 * * SUN,MON");
    // Kubernetes treats a stepped `*` as a restriction: either day field would match.
    assert!(rewritten("0 0 */2 * 1").1.is_some());
    assert!(rewritten("0 0 * * 1").1.is_none());
    assert!(rewritten("0 0 13 * 5").1.is_none());
}

/// The first `n` elapses after `base` of the union of `events`, as systemd computes them.
fn systemd_elapses(events: &[String], base: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
    let mut elapses = BTreeSet::new();
    for event in events {
        let output = Command::new("systemd-analyze")
            .env("TZ", "UTC")
            .arg("calendar")
            .arg(format!("--iterations={n}"))
            .arg(format!("--base-time=@{}", base.timestamp()))
            .arg(event)
            .output()
            .expect("this test needs systemd-analyze (Debian package systemd)");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{event:?}: {stderr}");
        for line in stdout.lines() {
            let Some((label, time)) = line.trim().split_once(": ") else {
                continue;
            };
            if label == "Next elapse" || label.starts_with("Iter. #") {
                let time = NaiveDateTime::parse_from_str(time, "%a %Y-%m-%d %H:%M:%S UTC")
                    .unwrap_or_else(|e| panic!("{line:?}: {e}"));
                elapses.insert(time.and_utc());
            }
        }
    }
    elapses.into_iter().take(n).collect()
}

/// systemd's next elapses of the exported events are the daemon's next runs. The windows
/// avoid DST changes, where systemd follows its own rules (see the module docs).
#[test]
fn systemd_analyze_agrees_with_next_after() {
    let crons = [
        "0 2 * * *",
        "*/15 9-17 1,15 * MON-FRI",
        "5/10 */6 * * *",
        "0 12 13 * 5-7",
        "30 4 */2 * 1",
        "0 0 1 */3 *",
        "@weekly",
        "0 0 29 2 *",
        "0,1,2,30 1,2 * JAN-MAR,DEC *",
    ];
    let windows = [
        (Tz::UTC, "2026-05-01 00:00:00"),
        (Tz::Africa__Nairobi, "2026-03-27 10:00:00"),
        (Tz::Europe__Berlin, "2026-04-02 12:34:56"),
        (Tz::America__New_York, "2026-11-03 00:00:00"),
    ];
    for (zone, base) in windows {
        let base = NaiveDateTime::parse_from_str(base, "%Y-%m-%d %H:%M:%S")
            .unwrap()
            .and_utc();
        for cron in crons {
            let s = schedule(cron, zone);
            // Few enough runs to stay clear of the next DST change for the frequent ones.
            let n = if s.cron().every_hour() { 12 } else { 6 };
            let mut expected = Vec::new();
            let mut t = base;
            for _ in 0..n {
                t = s.next_after(t).unwrap();
                expected.push(t);
            }
            let events = calendar::on_calendar(s.cron(), zone);
            assert_eq!(
                systemd_elapses(&events, base, n),
                expected,
                "{cron} in {zone} as {events:?}"
            );
        }
    }
}

#[test]
fn configuration_text_is_a_literal_block_only_when_it_reads_back_the_same() {
    assert_eq!(
        yaml_block("a = 1\n\nb = \"x\"\n", "  "),
        "|\n  a = 1\n\n  b = \"x\"\n"
    );
    // Leading blanks, trailing spaces, a missing or doubled final newline: quoted.
    for text in [" a = 1\n", "a = 1 \n", "a = 1", "a = 1\n\n", "\na = 1\n"] {
        assert!(yaml_block(text, "  ").starts_with('"'), "{text:?}");
    }
}
