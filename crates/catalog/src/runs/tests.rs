//! Runs: recording, finding, and clearing those a killed process left behind.

use super::*;
use chrono::Duration;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn finished(cat: &Catalog, id: i64, outcome: Outcome, at: &str, bytes: u64) {
    let r = RunResult {
        bytes_added: bytes,
        snapshot: Some(format!("snap{id}")),
        ..RunResult::new(outcome, t(at))
    };
    cat.finish_run(id, &r).unwrap();
}

#[test]
fn runs_start_finish_and_are_found() {
    let cat = Catalog::open_in_memory().unwrap();
    let base = t("2024-05-01T02:00:00Z");
    assert!(cat.last_attempt("db").unwrap().is_none());

    let a = cat
        .start_run("db", Trigger::Schedule, "main", base)
        .unwrap();
    finished(&cat, a, Outcome::Success, "2024-05-01T02:01:30Z", 10);
    let b = cat
        .start_run("db", Trigger::Manual, "main", base + Duration::hours(1))
        .unwrap();
    finished(&cat, b, Outcome::Failure, "2024-05-01T03:00:05Z", 0);
    let c = cat
        .start_run("db", Trigger::CatchUp, "main", base + Duration::hours(2))
        .unwrap();
    finished(&cat, c, Outcome::Success, "2024-05-01T04:02:00Z", 30);
    let other = cat
        .start_run("files", Trigger::Api, "s3", base + Duration::hours(3))
        .unwrap();

    let last = cat.last_success("db").unwrap().unwrap();
    assert_eq!(last.id, c);
    assert_eq!(last.trigger, Trigger::CatchUp);
    assert_eq!(last.duration_seconds, Some(120.0));
    assert_eq!(last.bytes_added, 30);
    assert_eq!(last.snapshot.as_deref(), Some(&*format!("snap{c}")));
    assert_eq!(last.started, base + Duration::hours(2));

    let attempt = cat.last_attempt("files").unwrap().unwrap();
    assert_eq!(attempt.id, other);
    assert_eq!(attempt.outcome, Outcome::Running);
    assert_eq!(attempt.finished, None);
    assert_eq!(attempt.duration_seconds, None);
    assert_eq!(cat.last_attempt("db").unwrap().unwrap().id, c);
    assert!(cat.last_success("files").unwrap().is_none());

    let ids = |runs: Vec<Run>| runs.iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(cat.recent_successes("db", 5).unwrap()), [c, a]);
    assert_eq!(ids(cat.recent_successes("db", 1).unwrap()), [c]);
    assert_eq!(ids(cat.runs(Some("db"), 10).unwrap()), [c, b, a]);
    assert_eq!(ids(cat.runs(None, 2).unwrap()), [other, c]);
    assert_eq!(cat.failures_total("db").unwrap(), 1);
    assert_eq!(cat.failures_total("files").unwrap(), 0);

    // A run going does not change the last finished one until it ends.
    assert!(cat.last_finished("files").unwrap().is_none());
    let running = cat
        .start_run("db", Trigger::Api, "main", base + Duration::hours(4))
        .unwrap();
    assert_eq!(cat.last_attempt("db").unwrap().unwrap().id, running);
    assert_eq!(cat.last_finished("db").unwrap().unwrap().id, c);
    finished(&cat, running, Outcome::Failure, "2024-05-01T06:00:05Z", 0);
    assert_eq!(cat.last_finished("db").unwrap().unwrap().id, running);

    let err = cat.finish_run(999, &RunResult::default()).unwrap_err();
    assert!(err.to_string().contains("no run 999"), "{err}");
}

#[test]
fn runs_of_gone_processes_become_interrupted() {
    let cat = Catalog::open_in_memory().unwrap();
    let start = t("2024-05-01T02:00:00Z");
    // Above any pid_max Linux allows: a process that cannot be running.
    let dead = cat
        .start_run_as("db", Trigger::Schedule, "main", start, 4_999_999)
        .unwrap();
    let live = cat
        .start_run("files", Trigger::Manual, "main", start)
        .unwrap();
    let done = cat.start_run("db", Trigger::Manual, "main", start).unwrap();
    finished(&cat, done, Outcome::Success, "2024-05-01T02:05:00Z", 1);

    let now = t("2024-05-01T09:00:00Z");
    assert_eq!(cat.mark_interrupted(now).unwrap(), 1);
    assert_eq!(cat.mark_interrupted(now).unwrap(), 0);
    let runs = cat.runs(None, 10).unwrap();
    let get = |id| runs.iter().find(|r| r.id == id).unwrap();
    assert_eq!(get(dead).outcome, Outcome::Interrupted);
    assert_eq!(get(dead).finished, Some(now));
    assert_eq!(get(dead).duration_seconds, None);
    assert!(get(dead).error.as_deref().unwrap().contains("ended"));
    assert_eq!(get(live).outcome, Outcome::Running);
    assert_eq!(get(done).outcome, Outcome::Success);
    assert_eq!(cat.failures_total("db").unwrap(), 0);
}

#[test]
fn runs_since_a_time_come_oldest_first_and_one_run_by_id() {
    let cat = Catalog::open_in_memory().unwrap();
    let at = |s: &str| {
        cat.start_run("db", Trigger::Schedule, "main", t(s))
            .unwrap()
    };
    let old = at("2024-04-01T02:00:00Z");
    let a = at("2024-05-01T02:00:00Z");
    let b = at("2024-05-02T02:00:00Z");
    let other = cat
        .start_run("files", Trigger::Manual, "main", t("2024-05-03T02:00:00Z"))
        .unwrap();
    finished(&cat, a, Outcome::Success, "2024-05-01T02:05:00Z", 7);
    let since = t("2024-04-15T00:00:00Z");
    let ids = |runs: Vec<Run>| runs.iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(cat.runs_since(Some("db"), since, 10).unwrap()), [a, b]);
    assert_eq!(ids(cat.runs_since(None, since, 10).unwrap()), [a, b, other]);
    // The limit keeps the newest.
    assert_eq!(ids(cat.runs_since(None, since, 2).unwrap()), [b, other]);
    let one = cat.run(a).unwrap().unwrap();
    assert_eq!((one.job.as_str(), one.bytes_added), ("db", 7));
    assert!(cat.run(old + 100).unwrap().is_none());
}
