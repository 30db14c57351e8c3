//! Rebuild against real repositories made with bunker-repo in a temporary directory.

use std::path::Path;
use std::sync::Arc;

use bunker_repo::{
    backup_stream, BackupOptions, BackupProgress, FileType, Repository, Snapshot, Storage,
    StorageOptions,
};
use chrono::Utc;
use serde_json::json;

use super::rebuild;
use crate::audit::{append_to_repository, read_from_repository};
use crate::{AuditEvent, Catalog, Outcome, RunResult, Trigger};

fn new_repo(dir: &Path) -> Arc<Repository> {
    let storage = Storage::create(dir.to_str().unwrap(), &StorageOptions::default()).unwrap();
    Arc::new(Repository::init(storage, "secret").unwrap())
}

fn backup(repo: &Arc<Repository>, tag: &str, content: &[u8]) -> Snapshot {
    let opts = BackupOptions {
        host: "db1".into(),
        tags: vec![tag.into()],
        threads: 1,
        ..BackupOptions::default()
    };
    let progress = BackupProgress::default();
    backup_stream(
        repo.clone(),
        content,
        "dump.sql",
        &opts,
        &progress,
        &mut || Ok(()),
    )
    .unwrap()
    .snapshot
}

/// A report shaped like bunker-jobs' `DrillReport`.
fn drill_report(
    snapshot: &Snapshot,
    job: Option<&str>,
    hour: u32,
    passed: bool,
) -> serde_json::Value {
    let mut report = json!({
        "kind": "postgres",
        "snapshot": snapshot.id.to_hex(),
        "snapshot_time": snapshot.time,
        "host": "db1",
        "started": format!("2024-05-01T{hour:02}:00:00+02:00"),
        "finished": format!("2024-05-01T{hour:02}:00:42+02:00"),
        "data_age_seconds": 3600.5,
        "restore_seconds": 40.25,
        "passed": passed,
        "databases": [{
            "name": "app", "scratch_database": "bunker_drill_app", "restore_seconds": 40.25,
            "passed": passed,
            "checks": [{"name": "tables exist", "passed": passed, "detail": "0 tables"}],
            "tables": []
        }]
    });
    if let Some(job) = job {
        report["job"] = json!(job);
    }
    report
}

#[test]
fn rebuild_restores_runs_drills_and_audit_from_repositories() {
    let dir = tempfile::tempdir().unwrap();
    let main = new_repo(&dir.path().join("main"));
    let offsite = new_repo(&dir.path().join("offsite"));

    let first = backup(&main, "job=db", b"CREATE TABLE t (x int);\n");
    let second = backup(&main, "job=db", b"CREATE TABLE t (x int);\nINSERT 1;\n");
    let by_hand = backup(&main, "manual", b"something else\n");
    // The offsite copy of the first backup is the same run, not another one.
    bunker_repo::copy(
        &main,
        offsite.clone(),
        std::slice::from_ref(&first),
        1,
        &Default::default(),
    )
    .unwrap();

    let both = AuditEvent::new(
        "backup",
        "main",
        Some("db"),
        json!({"snapshot": first.id.to_hex()}),
    );
    append_to_repository(&main, &both).unwrap();
    append_to_repository(&offsite, &both).unwrap();
    let copied = AuditEvent::new("copy", "offsite", Some("db"), json!({"copied": 1}));
    append_to_repository(&offsite, &copied).unwrap();
    assert_eq!(read_from_repository(&offsite).unwrap().len(), 2);

    let named = main
        .save_json(FileType::Drill, &drill_report(&first, Some("db"), 3, true))
        .unwrap();
    let tagged = main
        .save_json(FileType::Drill, &drill_report(&second, None, 5, false))
        .unwrap();
    main.save_json(FileType::Drill, &drill_report(&by_hand, None, 6, true))
        .unwrap();

    // A catalog with live state, then wiped of what rebuild restores.
    let path = dir.path().join("state/catalog.db");
    let cat = Catalog::open(&path).unwrap();
    let seen = cat.first_seen("db", Utc::now()).unwrap();
    assert!(cat
        .open_incident("db/late", "db", "late", "no backup", Utc::now())
        .unwrap());
    let stale = cat
        .start_run("db", Trigger::Manual, "main", Utc::now())
        .unwrap();
    cat.finish_run(stale, &RunResult::new(Outcome::Failure, Utc::now()))
        .unwrap();
    let repos = vec![
        ("main".to_string(), main.clone()),
        ("offsite".to_string(), offsite.clone()),
    ];
    let report = rebuild(&cat, &repos).unwrap();
    assert_eq!((report.runs, report.drills, report.audit), (2, 2, 2));
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(report.warnings[0].contains("names no job"));
    assert_eq!(cat.failures_total("db").unwrap(), 0);
    assert_eq!(cat.open_incidents().unwrap().len(), 1);
    assert_eq!(cat.first_seen("db", Utc::now()).unwrap(), seen);
    drop(cat);

    // The file lost: a new catalog from the repositories alone.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let cat = Catalog::open(&path).unwrap();
    let report = rebuild(&cat, &repos).unwrap();
    assert_eq!((report.runs, report.drills, report.audit), (2, 2, 2));

    let runs = cat.runs(Some("db"), 10).unwrap();
    assert_eq!(runs.len(), 2);
    assert!(cat.runs(None, 10).unwrap().iter().all(|r| r.job == "db"));
    let (newest, oldest) = (&runs[0], &runs[1]);
    assert_eq!(newest.snapshot, Some(second.id.to_hex()));
    assert_eq!(oldest.snapshot, Some(first.id.to_hex()));
    assert_eq!(oldest.repository, "main");
    assert_eq!(oldest.outcome, Outcome::Success);
    assert_eq!(oldest.started, first.time.with_timezone(&Utc));
    let summary = first.summary.clone().unwrap();
    assert_eq!(
        oldest.finished,
        summary.backup_end.map(|t| t.with_timezone(&Utc))
    );
    assert_eq!(oldest.bytes_read, 24);
    assert_eq!(oldest.bytes_added, summary.data_added);
    assert_eq!(oldest.files, 1);
    assert!(oldest.duration_seconds.is_some());
    assert_eq!(cat.last_success("db").unwrap().unwrap().id, newest.id);

    let drill = cat.last_drill("db").unwrap().unwrap();
    assert_eq!(drill.report_id, tagged.to_hex());
    assert_eq!(drill.snapshot, second.id.to_hex());
    assert!(!drill.passed);
    assert_eq!(drill.detail, "app: tables exist (0 tables)");
    assert_eq!(drill.restore_seconds, 40.25);
    assert_eq!(
        drill.started,
        "2024-05-01T03:00:00Z"
            .parse::<chrono::DateTime<Utc>>()
            .unwrap()
    );
    assert_ne!(named, tagged);

    let log = cat.audit(10).unwrap();
    let ids: Vec<&str> = log.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, [copied.id.as_str(), both.id.as_str()]);
    assert_eq!(log[1].detail, both.detail);
    assert_eq!(log[1].who, both.who);
}
