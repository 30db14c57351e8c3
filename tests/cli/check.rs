//! `check` of bunker's own prefixes: archived WAL (`wal/`), audit events (`audit/`) and
//! drill reports (`drills/`) are listed by every check and read in full by
//! `--read-data`, which names a damaged object and exits 1.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::pgcluster::Cluster;
use crate::util::*;

fn check_json(repo: &Path, args: &[&str]) -> (Option<i32>, Value) {
    let mut all = vec!["--json", "check"];
    all.extend_from_slice(args);
    let o = bunker_raw(repo, &all, None);
    let out = String::from_utf8_lossy(&o.stdout);
    let v = json_result(&out);
    (o.status.code(), v)
}

fn errors(v: &Value) -> Vec<String> {
    v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn check_read_data_verifies_wal_segments_and_audit_events_and_names_a_damaged_one() {
    let s = Scratch::new();
    let repo = s.repo();
    bunker(&repo, &["init"]);
    let cluster = Cluster::start(&[]);
    let segment = "000000010000000000000001";
    let o = bunker_raw(
        &repo,
        &[
            "wal-push",
            &format!("pg_wal/{segment}"),
            "--pgdata",
            cluster.data().to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    write(&s.path("src/a.txt"), b"audited\n");
    // A backup run by hand records an audit event under audit/.
    bunker(&repo, &["backup", s.path("src").to_str().unwrap()]);
    let wal: Vec<PathBuf> = files_under(&repo.join("wal"));
    assert_eq!(wal.len(), 1, "one archived segment");
    let audit = files_under(&repo.join("audit"));
    assert!(!audit.is_empty(), "an audit event");
    let objects = (wal.len() + audit.len()) as u64;

    let (code, v) = check_json(&repo, &[]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(
        v["objects"], objects,
        "plain check lists bunker's objects: {v}"
    );
    assert_eq!(v["objects_read"], 0, "{v}");
    let (code, v) = check_json(&repo, &["--read-data"]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["objects_read"], objects, "{v}");

    // Regression: a flipped byte in an archived segment passed check --read-data.
    flip_byte(&wal[0], |len| len / 2);
    let object = wal[0]
        .strip_prefix(&repo)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(object.ends_with(segment), "{object}");
    let (code, v) = check_json(&repo, &[]);
    assert_eq!(code, Some(0), "a same-size flip needs --read-data: {v}");
    let (code, v) = check_json(&repo, &["--read-data"]);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(
        errors(&v),
        vec![format!("object {object} is damaged: decryption failed")],
        "{v}"
    );
    let o = bunker_raw(&repo, &["check", "--read-data"], None);
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains(&format!("error: object {object} is damaged")),
        "{e}"
    );
    // restic does not look under wal/: its check stays clean.
    restic(&repo, &["check", "--read-data"]);

    // A damaged audit event is named by its id; a stray file is a warning.
    let event = audit[0].file_name().unwrap().to_str().unwrap().to_string();
    flip_byte(&audit[0], |_| 40);
    write(&repo.join("wal/not-a-segment"), b"stray");
    write(&repo.join("stray-top-level"), b"stray");
    let (code, v) = check_json(&repo, &["--read-data"]);
    assert_eq!(code, Some(1), "{v}");
    let errs = errors(&v);
    assert_eq!(errs.len(), 2, "{v}");
    assert!(
        errs.iter()
            .any(|e| e.contains(&format!("audit event {event}"))),
        "{v}"
    );
    let warnings = v["warnings"].to_string();
    assert!(
        warnings.contains("wal/not-a-segment: not named like a WAL object"),
        "{v}"
    );
    assert!(
        warnings.contains("stray-top-level: not part of a restic or bunker repository"),
        "{v}"
    );

    // A truncated segment is caught by its size, without reading data.
    std::fs::write(&wal[0], b"short").unwrap();
    let (code, v) = check_json(&repo, &[]);
    assert_eq!(code, Some(1), "{v}");
    assert!(
        errors(&v)[0].contains("too small for an encrypted file"),
        "{v}"
    );
}
