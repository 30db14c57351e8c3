//! `forget`: the retention policy decided exactly as restic 0.14 decides it (restic is
//! the oracle, on the same repository), real removals that leave a repository restic
//! checks and that restores, labelled backups that no policy removes, and refusals.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

use crate::util::*;

/// One backup to make: when (RFC 3339), which host, which path set, which tags.
struct Planned {
    time: String,
    host: &'static str,
    both_paths: bool,
    tags: Vec<&'static str>,
}

fn at(host: &'static str, both_paths: bool, time: &str, tags: &[&'static str]) -> Planned {
    Planned {
        time: time.to_string(),
        host,
        both_paths,
        tags: tags.to_vec(),
    }
}

fn utc(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
}

/// `t` (UTC) written with the offset (in hours) `offset_of` gives for it.
fn with_offset(t: NaiveDateTime, offset_of: impl Fn(NaiveDateTime) -> i32) -> String {
    let off = FixedOffset::east_opt(offset_of(t) * 3600).unwrap();
    off.from_utc_datetime(&t).to_rfc3339()
}

/// Central European time in 2021: summer time from 03-28 01:00 to 10-31 01:00 UTC.
fn cet_2021(t: NaiveDateTime) -> i32 {
    if t >= utc("2021-03-28 01:00") && t < utc("2021-10-31 01:00") {
        2
    } else {
        1
    }
}

/// US Eastern time in 2021: daylight time from 03-14 07:00 to 11-07 06:00 UTC.
fn us_eastern_2021(t: NaiveDateTime) -> i32 {
    if t >= utc("2021-03-14 07:00") && t < utc("2021-11-07 06:00") {
        -4
    } else {
        -5
    }
}

/// Four groups (two hosts x two path sets), ~140 snapshots: dense runs across the
/// European and US DST changes, months across five years, leap days, ISO week edges,
/// the same wall-clock hour twice (fall back), one snapshot in the future, and times
/// that make restic's keep-within window depend on the machine's time zone.
fn plan() -> Vec<Planned> {
    let mut p = Vec::new();
    // h1, one path: Europe.
    for i in 0..30 {
        let t = utc("2021-03-22 00:00") + Duration::hours(7 * i);
        let tags: &[&str] = match i % 10 {
            5 => &["nightly", "important"],
            _ if i % 7 == 0 => &["manual"],
            _ if i % 3 == 0 => &["nightly"],
            _ => &[],
        };
        p.push(at("h1", false, &with_offset(t, cet_2021), tags));
    }
    for k in 0..31 {
        let month0 = 2019 * 12 + 2 * k;
        let (year, month) = (month0 / 12, (month0 % 12 + 1) as u32);
        if year == 2021 && (month == 3 || month == 4) {
            continue;
        }
        let day = (k * 7 % 28 + 1) as u32;
        let hour = (k * 5 % 24) as u32;
        let offset = if (4..=9).contains(&month) { 2 } else { 1 };
        let t = NaiveDate::from_ymd_opt(year, month, day)
            .unwrap()
            .and_hms_opt(hour, 15, 0)
            .unwrap();
        let local = FixedOffset::east_opt(offset * 3600)
            .unwrap()
            .from_local_datetime(&t)
            .unwrap();
        let tags: &[&str] = if k % 4 == 0 { &["nightly"] } else { &[] };
        p.push(at("h1", false, &local.to_rfc3339(), tags));
    }
    for t in [
        "2018-12-31T12:00:00+01:00",
        "2019-01-01T12:00:00+01:00",
        "2020-02-29T12:00:00+01:00",
        "2020-12-31T23:30:00+01:00",
        "2021-01-03T12:00:00+01:00",
        "2021-01-04T00:30:00+01:00",
        "2021-03-28T01:30:00+01:00",
        "2021-03-28T03:30:00+02:00",
        "2022-06-30T23:00:00+00:00",
        "2022-07-01T00:30:00+02:00",
        "2023-02-28T11:00:00+01:00",
        "2023-03-01T09:00:00+01:00",
        "2023-03-01T11:00:00+01:00",
        "2024-02-29T10:00:00+01:00",
    ] {
        p.push(at("h1", false, t, &["manual"]));
    }
    // h1, two paths: the European fall-back night; the newest is in winter time.
    for (t, tags) in [
        ("2021-10-24T12:00:00+02:00", &[][..]),
        ("2021-10-26T11:30:00+02:00", &[]),
        ("2021-10-26T12:30:00+02:00", &[]),
        ("2021-10-28T08:00:00+02:00", &["manual"]),
        ("2021-10-30T23:30:00+02:00", &[]),
        ("2021-10-31T01:10:00+02:00", &["nightly"]),
        ("2021-10-31T02:10:00+02:00", &[]),
        ("2021-10-31T02:30:00+02:00", &["nightly"]),
        ("2021-10-31T02:10:00+01:00", &[]),
        ("2021-10-31T02:30:00+01:00", &["nightly"]),
        ("2021-10-31T03:30:00+01:00", &[]),
        ("2021-11-01T12:00:00+01:00", &["manual"]),
        ("2021-11-02T09:00:00+01:00", &[]),
        ("2021-11-02T12:00:00+01:00", &["nightly"]),
    ] {
        p.push(at("h1", true, t, tags));
    }
    // h2, one path: US Eastern, spring forward and fall back.
    for i in 0..26 {
        let t = utc("2021-03-12 00:00") + Duration::hours(5 * i);
        let tags: &[&str] = if i % 3 == 0 { &["nightly"] } else { &[] };
        p.push(at("h2", false, &with_offset(t, us_eastern_2021), tags));
    }
    for t in [
        "2021-03-14T01:30:00-05:00",
        "2021-03-14T03:30:00-04:00",
        "2021-11-03T11:30:00-04:00",
        "2021-11-03T12:30:00-04:00",
        "2021-11-07T01:30:00-04:00",
        "2021-11-07T01:30:00-05:00",
        "2021-11-07T01:10:00-05:00",
        "2021-11-08T12:00:00-05:00",
        "2021-11-10T12:00:00-05:00",
    ] {
        p.push(at("h2", false, t, &[]));
    }
    // h2, two paths: leap days, month-end arithmetic, and a snapshot in the future.
    for t in [
        "2020-02-28T12:00:00Z",
        "2020-02-29T12:00:00Z",
        "2020-03-01T12:00:00Z",
        "2024-02-28T12:00:00Z",
        "2024-02-29T12:00:00Z",
        "2024-03-01T12:00:00Z",
        "2024-03-02T11:00:00Z",
        "2024-03-02T13:00:00Z",
        "2024-03-03T12:00:00Z",
        "2024-03-15T12:00:00Z",
        "2024-03-30T12:00:00Z",
        "2024-03-31T12:00:00Z",
        "2099-01-01T00:00:00Z",
    ] {
        p.push(at("h2", true, t, &["nightly"]));
    }
    // restic orders equal times by load order: keep every instant distinct.
    let mut instants: Vec<DateTime<Utc>> = p
        .iter()
        .map(|x| {
            DateTime::parse_from_rfc3339(&x.time)
                .unwrap()
                .with_timezone(&Utc)
        })
        .collect();
    instants.sort();
    instants.dedup();
    assert_eq!(
        instants.len(),
        p.len(),
        "two planned snapshots share an instant"
    );
    p
}

/// Runs `planned` backups with `threads` parallel bunker processes (backups share the
/// repository lock).
fn make_backups(repo: &Path, paths: &[PathBuf; 2], planned: &[Planned], threads: usize) {
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(b) = planned.get(i) else { break };
                let mut args = vec!["backup", "-q", "--time", &b.time, "--host", b.host];
                for t in &b.tags {
                    args.extend(["--tag", t]);
                }
                args.push(paths[0].to_str().unwrap());
                if b.both_paths {
                    args.push(paths[1].to_str().unwrap());
                }
                bunker(repo, &args);
            });
        }
    });
}

/// Runs bunker or restic with the test password, `TZ` set (the machine's local zone,
/// which restic's keep-within arithmetic depends on) and no restic cache.
fn tool_in_zone(program: &str, repo: &Path, tz: &str, args: &[&str]) -> Output {
    let (bin, env) = match program {
        "bunker" => (bunker_bin(), "BUNKER_PASSWORD"),
        _ => (tool("restic"), "RESTIC_PASSWORD"),
    };
    let mut cmd = Command::new(bin);
    cmd.arg("-r")
        .arg(repo)
        .args(args)
        .env(env, PASSWORD)
        .env("TZ", tz);
    if program == "restic" {
        cmd.arg("--no-cache");
    }
    run_with_stdin(cmd.env_remove("BUNKER_REPOSITORY"), None)
}

/// One group's decision as both tools print it with `forget --json`.
#[derive(Debug, PartialEq)]
struct Decision {
    keep: Vec<String>,
    remove: Vec<String>,
    matches: Vec<Value>,
    counters: Vec<Value>,
}

/// Groups by (host, paths, tags), from restic 0.14's `forget --json` shape.
fn decisions(json: &str) -> BTreeMap<String, Decision> {
    let groups: Vec<Value> = serde_json::from_str(json)
        .unwrap_or_else(|e| panic!("forget --json printed invalid JSON ({e}):\n{json}"));
    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|s| s["id"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let reasons = |v: &Value, field: &str| -> Vec<Value> {
        v.as_array()
            .map(|a| a.iter().map(|r| r[field].clone()).collect())
            .unwrap_or_default()
    };
    groups
        .iter()
        .map(|g| {
            let key = format!("host {} paths {} tags {}", g["host"], g["paths"], g["tags"]);
            let d = Decision {
                keep: ids(&g["keep"]),
                remove: ids(&g["remove"]),
                matches: reasons(&g["reasons"], "matches"),
                counters: reasons(&g["reasons"], "counters"),
            };
            (key, d)
        })
        .collect()
}

fn stdout_of(program: &str, args: &[&str], o: &Output) -> String {
    assert!(
        o.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// What comparing one policy found.
struct Comparison {
    /// How bunker's decision differs from restic's, if it does.
    problem: Option<String>,
    /// restic's decision.
    restic: BTreeMap<String, Decision>,
}

/// Asks both tools for a dry-run decision on `policy` and compares them.
fn compare(repo: &Path, tz: &str, policy: &[&str]) -> Comparison {
    let mut b_args = vec!["forget", "--dry-run", "--json"];
    b_args.extend_from_slice(policy);
    let mut r_args = vec!["forget", "--dry-run", "--no-lock", "--json"];
    r_args.extend_from_slice(policy);
    let ours = decisions(&stdout_of(
        "bunker",
        &b_args,
        &tool_in_zone("bunker", repo, tz, &b_args),
    ));
    let theirs = decisions(&stdout_of(
        "restic",
        &r_args,
        &tool_in_zone("restic", repo, tz, &r_args),
    ));
    let mut problems = Vec::new();
    for key in theirs.keys().chain(ours.keys()) {
        if ours.get(key) != theirs.get(key) && !problems.iter().any(|p: &String| p.contains(key)) {
            problems.push(format!(
                "group {key}:\n  bunker {:?}\n  restic {:?}",
                ours.get(key),
                theirs.get(key)
            ));
        }
    }
    Comparison {
        problem: (!problems.is_empty())
            .then(|| format!("TZ={tz} forget {policy:?}:\n{}", problems.join("\n"))),
        restic: theirs,
    }
}

fn kept_ids(d: &BTreeMap<String, Decision>) -> Vec<String> {
    let mut v: Vec<String> = d.values().flat_map(|g| g.keep.clone()).collect();
    v.sort();
    v
}

#[test]
fn policies_decide_exactly_as_restic() {
    let s = Scratch::new();
    let paths = [s.path("a"), s.path("b")];
    write(&paths[0].join("file"), b"a\n");
    write(&paths[1].join("file"), b"b\n");
    bunker(&s.repo(), &["init"]);
    let planned = plan();
    assert!(planned.len() >= 130, "{} snapshots", planned.len());
    make_backups(&s.repo(), &paths, &planned, 3);

    let a = paths[0].to_str().unwrap();
    let b = paths[1].to_str().unwrap();
    let policies: Vec<Vec<&str>> = vec![
        vec!["--keep-last", "5"],
        vec!["--keep-hourly", "30"],
        vec!["--keep-daily", "15"],
        vec!["--keep-weekly", "10"],
        vec!["--keep-monthly", "20"],
        vec!["--keep-yearly", "10"],
        vec!["-d", "7", "-w", "5", "-m", "12", "-y", "3"],
        vec![
            "--keep-last",
            "3",
            "--keep-hourly",
            "12",
            "--keep-daily",
            "4",
        ],
        vec!["--keep-last", "0", "--keep-daily", "4"],
        vec!["--keep-within", "2d"],
        vec!["--keep-within", "7d"],
        vec!["--keep-within", "1m"],
        vec!["--keep-within", "1y"],
        vec!["--keep-within", "1y2m3d4h"],
        vec![
            "--keep-within-hourly",
            "3d",
            "--keep-within-daily",
            "1m",
            "--keep-within-weekly",
            "3m",
            "--keep-within-monthly",
            "2y",
            "--keep-within-yearly",
            "10y",
        ],
        vec!["--keep-within-daily", "36h", "--keep-last", "2"],
        vec!["--keep-within-daily", "7d", "--keep-within-hourly", "2d"],
        vec!["--keep-tag", "manual", "--keep-last", "2"],
        vec![
            "--keep-tag",
            "nightly,important",
            "--keep-tag",
            "",
            "--keep-monthly",
            "2",
        ],
        vec!["--group-by", "host", "--keep-daily", "5"],
        vec!["--group-by", "tags", "--keep-weekly", "3"],
        vec!["--group-by", "", "--keep-monthly", "6", "--keep-last", "3"],
        vec![
            "--group-by",
            "host,paths,tags",
            "--keep-hourly",
            "10",
            "--keep-within",
            "3d",
        ],
        vec!["--host", "h2", "--keep-hourly", "30"],
        vec!["--tag", "nightly", "--keep-daily", "3"],
        vec!["--path", a, "--keep-weekly", "2"],
        vec![
            "--path",
            b,
            "--group-by",
            "paths",
            "--keep-yearly",
            "1",
            "--keep-within",
            "1m",
        ],
    ];
    // keep-within windows moved by the local zone's DST rules: run those in two zones.
    let zoned: Vec<(&str, Vec<&str>)> = ["Europe/Berlin", "America/New_York"]
        .into_iter()
        .flat_map(|tz| {
            [
                vec!["--keep-within", "7d"],
                vec!["--keep-within-daily", "7d", "--keep-within-hourly", "2d"],
                vec!["--keep-within", "1m", "--keep-daily", "2"],
            ]
            .into_iter()
            .map(move |p| (tz, p))
        })
        .collect();
    let jobs: Vec<(&str, Vec<&str>)> = policies
        .iter()
        .map(|p| ("UTC", p.clone()))
        .chain(zoned)
        .collect();

    let next = AtomicUsize::new(0);
    let results: Mutex<BTreeMap<usize, Comparison>> = Mutex::default();
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((tz, policy)) = jobs.get(i) else {
                    break;
                };
                let r = compare(&s.repo(), tz, policy);
                results.lock().unwrap().insert(i, r);
            });
        }
    });
    let results = results.into_inner().unwrap();
    let problems: Vec<&String> = results
        .values()
        .filter_map(|c| c.problem.as_ref())
        .collect();
    assert!(
        problems.is_empty(),
        "{} of {} policies differ from restic:\n{}",
        problems.len(),
        jobs.len(),
        problems
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );

    // The set exercises what it claims: policies remove something, and the local zone
    // changes restic's keep-within window for the DST groups.
    let total = planned.len();
    for (i, c) in &results {
        let kept = kept_ids(&c.restic).len();
        assert!(
            kept > 0 && kept < total,
            "policy {:?} kept {kept}",
            jobs[*i]
        );
    }
    let by_zone = |tz: &str| {
        let i = jobs
            .iter()
            .position(|(z, p)| *z == tz && *p == vec!["--keep-within", "7d"])
            .unwrap();
        kept_ids(&results[&i].restic)
    };
    assert_ne!(by_zone("UTC"), by_zone("Europe/Berlin"));
    assert_ne!(by_zone("UTC"), by_zone("America/New_York"));
}

/// Backs up `src` at `time` with extra arguments; returns the snapshot id.
fn backup_at(repo: &Path, src: &Path, time: &str, extra: &[&str]) -> String {
    let mut args = vec!["backup", "--json", "--time", time];
    args.extend_from_slice(extra);
    args.push(src.to_str().unwrap());
    let out = bunker(repo, &args);
    let summary: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    summary["snapshot_id"].as_str().unwrap().to_string()
}

/// Every regular file below `root` with its content.
fn contents(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn snapshot_ids(repo: &Path) -> Vec<String> {
    let snaps: Vec<Value> = serde_json::from_str(&restic(repo, &["snapshots", "--json"])).unwrap();
    let mut ids: Vec<String> = snaps
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn assert_restores(s: &Scratch, id: &str, src: &Path, expected: &BTreeMap<PathBuf, Vec<u8>>) {
    let target = s.path(&format!("restore-{id}"));
    bunker(
        &s.repo(),
        &["restore", id, "--target", target.to_str().unwrap()],
    );
    assert_eq!(
        &contents(&restored(&target, src)),
        expected,
        "snapshot {id}"
    );
}

#[test]
fn forget_removes_checks_clean_restores_and_spares_labelled_backups() {
    let s = Scratch::new();
    let repo = s.repo();
    let src = s.path("src");
    bunker(&repo, &["init"]);
    let mut ids = Vec::new();
    let mut versions = Vec::new();
    for i in 0..5u64 {
        write(&src.join("data.txt"), format!("version {i}\n").as_bytes());
        write(&src.join("sub/blob.bin"), &noise(200_000, i + 1));
        let label: &[&str] = if i == 1 {
            &["--label", "pre-migration"]
        } else {
            &[]
        };
        ids.push(backup_at(
            &repo,
            &src,
            &format!("2023-01-0{}T12:00:00Z", i + 1),
            label,
        ));
        versions.push(contents(&src));
    }
    let labelled: Value =
        serde_json::from_str(&bunker(&repo, &["cat", "snapshot", &ids[1]])).expect("snapshot json");
    assert_eq!(
        labelled["tags"],
        serde_json::json!(["pre-migration", "forever"])
    );

    // The labelled backup survives a policy that keeps only the newest.
    let out = bunker(&repo, &["forget", "--keep-last", "1"]);
    assert!(
        out.contains("last snapshot") && out.contains("protected"),
        "{out}"
    );
    assert!(out.contains("removed 3 snapshots"), "{out}");
    assert_eq!(
        snapshot_ids(&repo),
        sorted(vec![ids[1].clone(), ids[4].clone()])
    );
    restic(&repo, &["check", "--read-data"]);
    assert_restores(&s, &ids[4], &src, &versions[4]);
    assert_restores(&s, &ids[1], &src, &versions[1]);

    // Asking for a protected snapshot by id is refused.
    let o = bunker_raw(&repo, &["forget", &ids[1]], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("forever"));
    assert_eq!(snapshot_ids(&repo).len(), 2);

    // With --prune the data only the forgotten snapshot used goes too.
    write(&src.join("data.txt"), b"version 5\n");
    write(&src.join("sub/blob.bin"), &noise(200_000, 99));
    let newest = backup_at(&repo, &src, "2023-01-06T12:00:00Z", &[]);
    let newest_content = contents(&src);
    let out = bunker(&repo, &["forget", "--keep-last", "1", "--prune"]);
    assert!(out.contains("removed 1 snapshots"), "{out}");
    assert_eq!(
        snapshot_ids(&repo),
        sorted(vec![ids[1].clone(), newest.clone()])
    );
    restic(&repo, &["check", "--read-data"]);
    assert_restores(&s, &newest, &src, &newest_content);
    assert_restores(&s, &ids[1], &src, &versions[1]);

    // Removing by id (a prefix is enough), dry run first.
    let short = &newest[..8];
    let out = bunker(&repo, &["forget", "--dry-run", short]);
    assert!(out.contains("would remove 1 snapshots"), "{out}");
    assert_eq!(snapshot_ids(&repo).len(), 2);
    bunker(&repo, &["forget", short]);
    assert_eq!(snapshot_ids(&repo), vec![ids[1].clone()]);
    restic(&repo, &["check"]);
}

#[test]
fn forget_refuses_without_a_policy_or_with_a_bad_one() {
    let s = Scratch::new();
    let repo = s.repo();
    let src = s.path("src");
    write(&src.join("f"), b"x");
    bunker(&repo, &["init"]);
    for day in 1..=3 {
        backup_at(&repo, &src, &format!("2023-05-0{day}T08:00:00Z"), &[]);
    }
    let refused = |args: &[&str], code: i32, needle: &str| {
        let o = bunker_raw(&repo, args, None);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(snapshot_ids(&repo).len(), 3, "{args:?} removed something");
    };
    refused(&["forget"], 1, "no policy given");
    refused(&["forget", "--keep-last", "0"], 1, "no policy given");
    refused(
        &["forget", "--keep-within", "0d", "--json"],
        1,
        "no policy given",
    );
    refused(
        &["forget", "--host", "x", "--dry-run"],
        1,
        "no policy given",
    );
    refused(&["forget", "latest", "--keep-last", "1"], 1, "not both");
    refused(&["forget", "--keep-last", "-1"], 2, "-1");
    refused(&["forget", "--keep-within", "1w"], 2, "unknown unit");
    refused(
        &["forget", "--keep-last", "1", "--group-by", "day"],
        2,
        "day",
    );
    refused(
        &["backup", "--label", "a,b", src.to_str().unwrap()],
        1,
        "--label",
    );
    // A policy that keeps everything removes nothing.
    let out = bunker(&repo, &["forget", "--keep-daily", "10"]);
    assert!(out.contains("removed 0 snapshots"), "{out}");
    assert_eq!(snapshot_ids(&repo).len(), 3);
}

/// Regression (issue 14, item 1): `keep_within = "-3d"` passed `config check` and the
/// next run removed every snapshot; `forget --keep-within=-3d` and the typo `1h-2h` did
/// the same. Every keep-within option and key refuses them as usage errors (exit 2).
#[test]
fn negative_span_is_a_usage_error_and_deletes_nothing() {
    let s = Scratch::new();
    let repo = s.repo();
    let src = s.path("src");
    write(&src.join("f"), b"x");
    bunker(&repo, &["init"]);
    for day in 1..=3 {
        backup_at(&repo, &src, &format!("2023-05-0{day}T08:00:00Z"), &[]);
    }
    let before = snapshot_ids(&repo);
    for opt in [
        "keep-within",
        "keep-within-hourly",
        "keep-within-daily",
        "keep-within-weekly",
        "keep-within-monthly",
        "keep-within-yearly",
    ] {
        for span in ["-3d", "1h-2h", "1h2h"] {
            let arg = format!("--{opt}={span}");
            let o = bunker_raw(&repo, &["forget", &arg], None);
            let err = String::from_utf8_lossy(&o.stderr).into_owned();
            assert_eq!(o.status.code(), Some(2), "{arg}: {err}");
            assert!(err.contains(span), "{arg}: {err}");
        }
    }
    assert_eq!(snapshot_ids(&repo), before, "forget removed snapshots");

    std::fs::write(s.path("pass"), PASSWORD).unwrap();
    let cfg = s.path("bunker.toml");
    for key in [
        "keep_within",
        "keep_within_daily",
        "keep_within_weekly",
        "keep_within_monthly",
        "keep_within_yearly",
    ] {
        let text = format!(
            "[daemon]\nstate_dir = \"{state}\"\n\n[repositories.r]\nurl = \"{repo}\"\n\
             password_file = \"{pass}\"\n\n[jobs.site]\nrepository = \"r\"\n\
             source = {{ type = \"files\", paths = [\"{src}\"] }}\n\
             retention = {{ {key} = \"-3d\" }}\n",
            state = s.path("state").display(),
            repo = repo.display(),
            pass = s.path("pass").display(),
            src = src.display(),
        );
        std::fs::write(&cfg, text).unwrap();
        let col = 1 + "retention = { ".len() + key.len() + " = ".len();
        for args in [&["config", "check"][..], &["run", "site"][..]] {
            let o = Command::new(bunker_bin())
                .arg("--config")
                .arg(&cfg)
                .args(args)
                .env_remove("BUNKER_REPOSITORY")
                .env_remove("BUNKER_PASSWORD")
                .env("BUNKER_CACHE_DIR", s.path("cache"))
                .output()
                .expect("spawn bunker");
            let err = String::from_utf8_lossy(&o.stderr).into_owned();
            assert_eq!(o.status.code(), Some(2), "{key} {args:?}: {err}");
            assert!(
                err.contains(&format!("{}:11:{col}:", cfg.display())) && err.contains("-3d"),
                "{key} {args:?}: {err}"
            );
        }
    }
    assert_eq!(snapshot_ids(&repo), before, "a job removed snapshots");
}
