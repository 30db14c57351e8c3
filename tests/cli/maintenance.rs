//! tag, diff and stats, checked against restic on the same repository.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::Value;

use crate::util::*;

fn json(out: &str) -> Value {
    json_result(out)
}

fn json_lines(out: &str) -> Vec<Value> {
    out.lines().map(json).collect()
}

fn snapshots(repo: &Path) -> Vec<Value> {
    json(&bunker(repo, &["snapshots", "--json"]))
        .as_array()
        .unwrap()
        .clone()
}

fn tags(snap: &Value) -> Vec<String> {
    snap["tags"]
        .as_array()
        .map(|a| a.iter().map(|t| t.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

fn changed(out: &str) -> u64 {
    let last = json_lines(out).pop().expect("summary line");
    assert_eq!(last["message_type"], "summary", "{out}");
    last["changed_snapshots"].as_u64().unwrap()
}

#[test]
fn tag_add_remove_set_rewrites_snapshots_restic_reads() {
    let s = Scratch::new();
    let src = s.path("src");
    write(&src.join("a.txt"), b"tagged data\n");
    write(&src.join("big.bin"), &noise(2 * 1024 * 1024, 7));
    let repo = s.repo();
    bunker(&repo, &["init"]);
    bunker(&repo, &["backup", "--host", "web-1", src.to_str().unwrap()]);
    bunker(&repo, &["backup", "--host", "db-1", src.to_str().unwrap()]);
    let first: Vec<Value> = snapshots(&repo);
    let web_id = first.iter().find(|s| s["hostname"] == "web-1").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let nothing = bunker_raw(&repo, &["tag", &web_id[..8]], None);
    assert_eq!(nothing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&nothing.stderr).contains("nothing to do"));

    // Add, by id prefix: only that snapshot changes.
    let out = bunker(
        &repo,
        &["tag", "--json", "--add", "a, b", "--add", "c", &web_id[..8]],
    );
    assert_eq!(changed(&out), 1);
    let snaps = snapshots(&repo);
    assert_eq!(snaps.len(), 2, "the old snapshot file is gone");
    let web = snaps.iter().find(|s| s["hostname"] == "web-1").unwrap();
    assert_eq!(tags(web), ["a", "b", "c"]);
    assert_eq!(web["original"], web_id.as_str());
    assert_ne!(web["id"], web_id.as_str());
    let db = snaps.iter().find(|s| s["hostname"] == "db-1").unwrap();
    assert!(tags(db).is_empty());
    assert!(db.get("original").is_none());

    // Remove, selected by a tag filter; `original` stays the first id.
    assert_eq!(
        changed(&bunker(
            &repo,
            &["tag", "--json", "--tag", "a", "--remove", "b"]
        )),
        1
    );
    let web = snapshots(&repo)
        .into_iter()
        .find(|s| s["hostname"] == "web-1")
        .unwrap();
    assert_eq!(tags(&web), ["a", "c"]);
    assert_eq!(web["original"], web_id.as_str());

    // Applying the same change again changes nothing.
    assert_eq!(
        changed(&bunker(&repo, &["tag", "--json", "--remove", "b"])),
        0
    );

    // Set on every snapshot (no ids, no filters), then on one host only.
    assert_eq!(changed(&bunker(&repo, &["tag", "--json", "--set", "x"])), 2);
    assert_eq!(
        changed(&bunker(
            &repo,
            &["tag", "--json", "--host", "db-1", "--set", "db,nightly"]
        )),
        1
    );
    let ours = snapshots(&repo);
    let theirs = json(&restic(&repo, &["snapshots", "--json"]));
    let view = |list: &[Value]| -> BTreeSet<(String, String, Vec<String>, String)> {
        list.iter()
            .map(|s| {
                (
                    s["id"].as_str().unwrap().to_string(),
                    s["hostname"].as_str().unwrap().to_string(),
                    tags(s),
                    s["original"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(view(&ours), view(theirs.as_array().unwrap()));
    let db = ours.iter().find(|s| s["hostname"] == "db-1").unwrap();
    assert_eq!(tags(db), ["db", "nightly"]);
    assert!(db["original"].is_string());

    // "" removes every tag.
    assert_eq!(changed(&bunker(&repo, &["tag", "--json", "--set", ""])), 2);
    assert!(snapshots(&repo).iter().all(|s| tags(s).is_empty()));

    restic(&repo, &["check", "--read-data"]);
    bunker(&repo, &["check", "--read-data"]);
    let web = snapshots(&repo)
        .into_iter()
        .find(|s| s["hostname"] == "web-1")
        .unwrap();
    let id = web["id"].as_str().unwrap();
    let (ours, theirs) = (s.path("ours"), s.path("theirs"));
    bunker(&repo, &["restore", id, "--target", ours.to_str().unwrap()]);
    restic(
        &repo,
        &["restore", id, "--target", theirs.to_str().unwrap()],
    );
    assert_same_tree(&src, &restored(&ours, &src));
    assert_same_tree(&src, &restored(&theirs, &src));
}

/// `(modifier, path)` pairs from `restic diff` text output.
fn restic_changes(out: &str) -> BTreeSet<(String, String)> {
    out.lines()
        .filter_map(|l| {
            let (m, p) = l.split_once(char::is_whitespace)?;
            let m_ok = !m.is_empty() && m.chars().all(|c| "+-MUT?".contains(c));
            (m_ok && p.trim_start().starts_with('/'))
                .then(|| (m.to_string(), p.trim_start().to_string()))
        })
        .collect()
}

fn bunker_changes(out: &str) -> BTreeSet<(String, String)> {
    json_lines(out)
        .into_iter()
        .filter(|v| v["message_type"] == "change")
        .map(|v| {
            (
                v["modifier"].as_str().unwrap().to_string(),
                v["path"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn diff_lists_the_changes_restic_lists() {
    let s = Scratch::new();
    let src = s.path("src");
    write(&src.join("keep.txt"), b"unchanged\n");
    write(&src.join("remove.txt"), b"to be removed\n");
    write(&src.join("modify.bin"), &noise(300_000, 1));
    write(&src.join("script.sh"), b"#!/bin/sh\necho hi\n");
    write(&src.join("gone/inner.txt"), b"whole dir removed\n");
    write(&src.join("static/deep/file.bin"), &noise(200_000, 2));
    write(&src.join("kind"), b"a file that becomes a directory\n");
    std::fs::set_permissions(
        src.join("script.sh"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let repo = s.repo();
    bunker(&repo, &["init"]);
    bunker(&repo, &["backup", src.to_str().unwrap()]);

    write(&src.join("new.txt"), b"added\n");
    write(&src.join("newdir/x.bin"), &noise(100_000, 3));
    std::fs::remove_file(src.join("remove.txt")).unwrap();
    std::fs::remove_dir_all(src.join("gone")).unwrap();
    write(&src.join("modify.bin"), &noise(300_000, 4));
    std::fs::set_permissions(
        src.join("script.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::remove_file(src.join("kind")).unwrap();
    write(&src.join("kind/now-a-dir"), b"x\n");
    bunker(&repo, &["backup", src.to_str().unwrap()]);

    let snaps = snapshots(&repo);
    let (a, b) = (
        snaps[0]["short_id"].as_str().unwrap(),
        snaps[1]["short_id"].as_str().unwrap(),
    );
    let p = |rel: &str| format!("{}/{rel}", src.display());

    let ours = bunker(&repo, &["diff", "--json", a, b]);
    let theirs = restic(&repo, &["diff", a, b]);
    let content_changes = |set: &BTreeSet<(String, String)>| {
        set.iter()
            .filter(|(m, _)| m != "U")
            .cloned()
            .collect::<BTreeSet<_>>()
    };
    let our_set = bunker_changes(&ours);
    assert_eq!(our_set, restic_changes(&theirs), "{ours}\n{theirs}");
    let expected: BTreeSet<(String, String)> = [
        ("+", p("new.txt")),
        ("+", p("newdir/")),
        ("+", p("newdir/x.bin")),
        ("-", p("remove.txt")),
        ("-", p("gone/")),
        ("-", p("gone/inner.txt")),
        ("M", p("modify.bin")),
        // As restic: a type change is one line; the new directory's content is not
        // listed (restic descends only where both sides are directories).
        ("T", p("kind/")),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_string(), p))
    .collect();
    assert_eq!(content_changes(&our_set), expected);
    assert!(
        !our_set.iter().any(|(_, path)| path.contains("static")),
        "nothing below an unchanged directory: {ours}"
    );

    // The statistics line has restic's shape and numbers.
    let our_stats = json_lines(&ours).pop().unwrap();
    let their_stats = json_lines(&restic(&repo, &["diff", "--json", a, b]))
        .pop()
        .unwrap();
    assert_eq!(our_stats, their_stats);
    assert_eq!(our_stats["changed_files"], 1);
    assert_eq!(our_stats["added"]["files"], 2);
    assert_eq!(our_stats["removed"]["files"], 2);
    assert!(our_stats["added"]["bytes"].as_u64().unwrap() >= 400_000);

    // Metadata changes only with --metadata, as restic prints them.
    assert!(!our_set.contains(&("U".into(), p("script.sh"))));
    let ours = bunker_changes(&bunker(&repo, &["diff", "--json", "--metadata", a, b]));
    assert!(ours.contains(&("U".into(), p("script.sh"))), "{ours:?}");
    assert!(ours.contains(&("TU".into(), p("kind/"))), "{ours:?}");
    assert_eq!(
        ours,
        restic_changes(&restic(&repo, &["diff", "--metadata", a, b]))
    );

    // Text output: restic's line format; a snapshot against itself has no changes.
    let text = bunker(&repo, &["diff", a, b]);
    assert!(
        text.lines()
            .any(|l| l == format!("M    {}", p("modify.bin"))),
        "{text}"
    );
    assert!(text.contains("Files:           2 new,     2 removed,     1 changed"));
    let same = bunker(&repo, &["diff", "--json", a, a]);
    assert_eq!(json_lines(&same).len(), 1, "{same}");

    // ID:subfolder compares one directory; paths are relative to it, as in restic.
    let (from, to) = (
        format!("{a}:{}", src.display()),
        format!("{b}:{}", src.display()),
    );
    let sub = bunker_changes(&bunker(&repo, &["diff", "--json", &from, &to]));
    assert!(sub.contains(&("M".into(), "/modify.bin".into())), "{sub:?}");
    assert_eq!(sub.len(), expected.len());
    let unchanged = format!("{a}:{}", p("static"));
    let unchanged_b = format!("{b}:{}", p("static"));
    let same = bunker(&repo, &["diff", "--json", &unchanged, &unchanged_b]);
    assert_eq!(json_lines(&same).len(), 1, "{same}");
    let sub = bunker_raw(&repo, &["diff", &format!("{a}:/no/such/dir"), b], None);
    assert_eq!(sub.status.code(), Some(1));

    // A new file with the content of a file in an unchanged directory adds no data:
    // the unchanged directory's blobs count as common although it is not listed.
    std::fs::copy(src.join("static/deep/file.bin"), src.join("copy.bin")).unwrap();
    bunker(&repo, &["backup", src.to_str().unwrap()]);
    let c = snapshots(&repo)[2]["short_id"]
        .as_str()
        .unwrap()
        .to_string();
    let ours = bunker(&repo, &["diff", "--json", b, &c]);
    assert!(bunker_changes(&ours).contains(&("+".into(), p("copy.bin"))));
    let our_stats = json_lines(&ours).pop().unwrap();
    assert_eq!(our_stats["added"]["data_blobs"], 0, "{ours}");
    let theirs = json_lines(&restic(&repo, &["diff", "--json", b, &c]));
    assert_eq!(&our_stats, theirs.last().unwrap());
}

fn stats(repo: &Path, args: &[&str]) -> Value {
    let mut a = vec!["stats", "--json"];
    a.extend_from_slice(args);
    json(&bunker(repo, &a))
}

fn restic_stats(repo: &Path, args: &[&str]) -> Value {
    let mut a = vec!["stats", "--json"];
    a.extend_from_slice(args);
    json(&restic(repo, &a))
}

#[test]
fn stats_count_what_restic_counts_and_show_dedup_and_compression() {
    let s = Scratch::new();
    let src = s.path("src");
    let unique = noise(1024 * 1024 + 11, 9);
    let log = "a compressible log line\n".repeat(20_000);
    let mut written = 0u64;
    for (rel, data) in [
        ("copies/one.bin", unique.as_slice()),
        ("copies/two.bin", unique.as_slice()),
        ("copies/three.bin", unique.as_slice()),
        ("logs/app.log", log.as_bytes()),
        ("small.txt", b"small".as_slice()),
        ("empty", b"".as_slice()),
    ] {
        write(&src.join(rel), data);
        written += data.len() as u64;
    }
    let repo = s.repo();
    bunker(&repo, &["init"]);
    bunker(&repo, &["backup", src.to_str().unwrap()]);
    let id = snapshots(&repo)[0]["id"].as_str().unwrap().to_string();

    let restore = stats(&repo, &["latest"]);
    assert_eq!(restore["total_size"], written);
    assert_eq!(restore["restore_size"], written);
    assert_eq!(restore["snapshots_count"], 1);
    let theirs = restic_stats(&repo, &[&id]);
    assert_eq!(restore["total_size"], theirs["total_size"]);
    assert_eq!(restore["total_file_count"], theirs["total_file_count"]);

    let raw = stats(&repo, &["--mode", "raw-data"]);
    let theirs = restic_stats(&repo, &["--mode", "raw-data"]);
    assert_eq!(raw["total_size"], theirs["total_size"]);
    assert_eq!(raw["total_blob_count"], theirs["total_blob_count"]);
    assert_eq!(raw["total_size"], raw["raw_data_size"]);
    assert_eq!(
        raw["total_blob_count"].as_u64().unwrap(),
        raw["data_blobs"].as_u64().unwrap() + raw["tree_blobs"].as_u64().unwrap()
    );
    assert!(raw["total_uncompressed_size"].as_u64().unwrap() > raw["total_size"].as_u64().unwrap());
    assert!(raw["compression_space_saving"].as_f64().unwrap() > 0.0);

    // The figures bunker adds are the same in every mode and consistent.
    for mode in [
        "restore-size",
        "raw-data",
        "files-by-contents",
        "blobs-per-file",
    ] {
        let v = stats(&repo, &["--mode", mode]);
        for k in [
            "restore_size",
            "raw_data_size",
            "unique_data_size",
            "data_blobs",
            "tree_blobs",
            "pack_count",
            "repository_size",
            "compression_ratio",
            "deduplication_ratio",
        ] {
            assert_eq!(v[k], restore[k], "{k} in {mode} mode");
        }
        if mode != "restore-size" && mode != "raw-data" {
            let theirs = restic_stats(&repo, &["--mode", mode]);
            for k in ["total_size", "total_file_count", "total_blob_count"] {
                assert_eq!(
                    v[k].as_u64().unwrap_or(0),
                    theirs[k].as_u64().unwrap_or(0),
                    "{k} in {mode} mode"
                );
            }
        }
    }
    let unique_size = restore["unique_data_size"].as_u64().unwrap();
    assert_eq!(unique_size, written - 2 * unique.len() as u64);
    let dedup = restore["deduplication_ratio"].as_f64().unwrap();
    assert!(
        (dedup - written as f64 / unique_size as f64).abs() < 1e-9,
        "{restore}"
    );
    assert!(dedup > 2.0, "three copies of most of the data: {restore}");
    assert!(
        restore["compression_ratio"].as_f64().unwrap() > 1.5,
        "{restore}"
    );
    assert!(
        restore["repository_size"].as_u64().unwrap() > restore["raw_data_size"].as_u64().unwrap()
    );
    assert!(restore["pack_count"].as_u64().unwrap() >= 1);

    // A second, identical backup: restored twice, stored once.
    bunker(&repo, &["backup", src.to_str().unwrap()]);
    let both = stats(&repo, &[]);
    assert_eq!(both["snapshots_count"], 2);
    assert_eq!(both["total_size"], 2 * written);
    assert_eq!(both["unique_data_size"], restore["unique_data_size"]);
    assert!((both["deduplication_ratio"].as_f64().unwrap() - 2.0 * dedup).abs() < 1e-9);
    assert_eq!(
        both["total_file_count"],
        restic_stats(&repo, &[])["total_file_count"]
    );
    let text = bunker(&repo, &["stats"]);
    assert!(text.contains("Deduplication Ratio:"), "{text}");
}
