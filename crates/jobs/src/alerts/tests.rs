//! Lateness, objectives and size anomalies with the clock given, so that a day's
//! schedule, a DST change and a daemon that was down are tested without waiting.

use std::path::Path;

use bunker_catalog::{Catalog, Outcome, RunResult, Trigger};
use chrono::{DateTime, TimeZone, Utc};

use super::*;

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn config(job_extra: &str) -> Config {
    let text = format!(
        r#"
[repositories.r]
url = "/nonexistent"
password = "x"
[jobs.db]
repository = "r"
source = {{ type = "files", paths = ["/etc"] }}
{job_extra}
"#
    );
    Config::parse(&text, Path::new("t.toml")).unwrap()
}

fn success(cat: &Catalog, at: DateTime<Utc>, total: u64) -> i64 {
    let id = cat.start_run("db", Trigger::Schedule, "r", at).unwrap();
    let mut r = RunResult::new(Outcome::Success, at + TimeDelta::minutes(5));
    r.total_size = Some(total);
    cat.finish_run(id, &r).unwrap();
    id
}

fn open_kinds(cat: &Catalog) -> Vec<String> {
    cat.open_incidents()
        .unwrap()
        .into_iter()
        .map(|i| i.kind)
        .collect()
}

#[test]
fn late_is_raised_once_after_the_grace_and_cleared_by_a_success() {
    let c = config(
        "schedule = \"0 2 * * *\"\ntimezone = \"Europe/Berlin\"\nalerts = { grace = \"1h\" }",
    );
    let cat = Catalog::open_in_memory().unwrap();
    cat.first_seen("db", utc(2026, 3, 27, 12, 0)).unwrap();
    success(&cat, utc(2026, 3, 28, 1, 0), 100); // 02:00 CET
    let a = Alerter {
        config: &c,
        catalog: &cat,
    };
    // 2026-03-29 is the spring-forward day in Berlin: 02:00 does not exist, the run is
    // due at 03:00 CEST = 01:00 UTC. Within the grace it is not late yet.
    a.evaluate(utc(2026, 3, 29, 1, 30), None);
    assert!(open_kinds(&cat).is_empty());
    // After the grace it is, and a second evaluation does not open it again.
    a.evaluate(utc(2026, 3, 29, 2, 1), None);
    assert_eq!(open_kinds(&cat), ["late"]);
    let opened = cat.open_incidents().unwrap()[0].opened;
    a.evaluate(utc(2026, 3, 29, 3, 0), None);
    assert_eq!(cat.open_incidents().unwrap()[0].opened, opened);
    // The late run succeeds: the incident closes.
    success(&cat, utc(2026, 3, 29, 3, 10), 100);
    a.evaluate(utc(2026, 3, 29, 3, 20), None);
    assert!(open_kinds(&cat).is_empty());
}

#[test]
fn lateness_found_at_start_up_says_how_long_the_daemon_was_down() {
    let c = config("schedule = \"0 2 * * *\"\ntimezone = \"Africa/Nairobi\"");
    let cat = Catalog::open_in_memory().unwrap();
    cat.first_seen("db", utc(2026, 11, 1, 0, 0)).unwrap();
    success(&cat, utc(2026, 11, 1, 23, 0), 100); // 02:00 EAT on the 2nd
    let a = Alerter {
        config: &c,
        catalog: &cat,
    };
    let down = (utc(2026, 11, 2, 6, 0), utc(2026, 11, 4, 9, 0));
    a.evaluate(down.1, Some(down));
    let inc = cat.open_incidents().unwrap();
    assert_eq!(inc.len(), 1);
    assert!(inc[0].detail.contains("late"), "{}", inc[0].detail);
    // A job added after its last scheduled time is not late.
    let cat = Catalog::open_in_memory().unwrap();
    cat.first_seen("db", utc(2026, 11, 4, 8, 0)).unwrap();
    Alerter {
        config: &c,
        catalog: &cat,
    }
    .evaluate(utc(2026, 11, 4, 9, 0), None);
    assert!(open_kinds(&cat).is_empty());
}

#[test]
fn rpo_is_breached_when_the_newest_backup_is_too_old() {
    let c = config("objectives = { rpo = \"1h\" }");
    let cat = Catalog::open_in_memory().unwrap();
    cat.first_seen("db", utc(2026, 1, 1, 0, 0)).unwrap();
    success(&cat, utc(2026, 1, 1, 10, 0), 100);
    let a = Alerter {
        config: &c,
        catalog: &cat,
    };
    a.evaluate(utc(2026, 1, 1, 10, 30), None);
    assert!(open_kinds(&cat).is_empty());
    a.evaluate(utc(2026, 1, 1, 11, 1), None);
    assert_eq!(open_kinds(&cat), ["objective"]);
}

#[test]
fn a_size_jump_against_the_median_is_an_anomaly() {
    let c = config("");
    let cat = Catalog::open_in_memory().unwrap();
    for (i, size) in [100_000_000u64, 110_000_000, 105_000_000, 95_000_000]
        .iter()
        .enumerate()
    {
        success(&cat, utc(2026, 1, 1 + i as u32, 2, 0), *size);
    }
    let a = Alerter {
        config: &c,
        catalog: &cat,
    };
    let report = |id: i64, total: u64| RunReport {
        job: "db".into(),
        run_id: id,
        repository: "r".into(),
        started: utc(2026, 1, 9, 2, 0),
        finished: utc(2026, 1, 9, 2, 1),
        outcome: Outcome::Success,
        failed_step: None,
        error: None,
        snapshot: None,
        bytes_read: total,
        bytes_added: 0,
        files: 1,
        total_size: Some(total),
        snapshot_count: None,
        copies: Vec::new(),
        forgotten: 0,
        pruned_packs: None,
        check: None,
        drill: None,
        reach: Vec::new(),
        warnings: Vec::new(),
        repo_code: None,
    };
    // +60% against a median of 102.5 MB with a ±50% band.
    let id = success(&cat, utc(2026, 1, 9, 2, 0), 164_000_000);
    a.finished(&report(id, 164_000_000));
    assert_eq!(open_kinds(&cat), ["size"]);
    let title = cat.open_incidents().unwrap()[0].detail.clone();
    assert!(title.contains("+60%"), "{title}");
    // Back within the band: cleared.
    let id = success(&cat, utc(2026, 1, 10, 2, 0), 104_000_000);
    a.finished(&report(id, 104_000_000));
    assert!(open_kinds(&cat).is_empty());
}
