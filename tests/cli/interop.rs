//! The format promise: restic and rustic read what bunker writes, and bunker reads what
//! they write.

use crate::util::*;

fn json_summary(out: &str) -> serde_json::Value {
    let last = out.lines().last().expect("summary line");
    serde_json::from_str(last).expect("summary json")
}

#[test]
fn restic_checks_and_restores_what_bunker_wrote() {
    let s = Scratch::new();
    let src = s.path("src");
    make_tricky_tree(&src, false);
    bunker(&s.repo(), &["init"]);
    bunker(&s.repo(), &["backup", src.to_str().unwrap()]);
    restic(&s.repo(), &["check", "--read-data"]);
    let target = s.path("restic-restore");
    restic(
        &s.repo(),
        &["restore", "latest", "--target", target.to_str().unwrap()],
    );
    assert_same_tree(&src, &restored(&target, &src));
}

#[test]
fn bunker_checks_and_restores_what_restic_wrote() {
    let s = Scratch::new();
    let src = s.path("src");
    make_tricky_tree(&src, false);
    restic(&s.repo(), &["init"]);
    restic(&s.repo(), &["backup", src.to_str().unwrap()]);
    let config = bunker(&s.repo(), &["cat", "config"]);
    assert!(
        config.contains("\"version\": 2"),
        "restic wrote a version 2 repository: {config}"
    );
    bunker(&s.repo(), &["check", "--read-data"]);
    let target = s.path("bunker-restore");
    bunker(
        &s.repo(),
        &["restore", "latest", "--target", target.to_str().unwrap()],
    );
    assert_same_tree(&src, &restored(&target, &src));
}

#[test]
fn rustic_reads_bunker_and_bunker_reads_rustic() {
    let s = Scratch::new();
    let src = s.path("src");
    make_tricky_tree(&src, true);
    bunker(&s.repo(), &["init"]);
    bunker(&s.repo(), &["backup", src.to_str().unwrap()]);
    rustic(&s.repo(), &["check", "--read-data"]);
    let target = s.path("rustic-restore");
    rustic(&s.repo(), &["restore", "latest", target.to_str().unwrap()]);
    // rustic restores the snapshot's content below the target (without the path prefix
    // restic uses); compare the source directory wherever it landed.
    let landed = if restored(&target, &src).exists() {
        restored(&target, &src)
    } else {
        target.clone()
    };
    assert_same_tree(&src, &landed);

    let other = s.path("rustic-repo");
    rustic(&other, &["init"]);
    rustic(&other, &["backup", src.to_str().unwrap()]);
    bunker(&other, &["check", "--read-data"]);
    let t2 = s.path("from-rustic");
    bunker(
        &other,
        &["restore", "latest", "--target", t2.to_str().unwrap()],
    );
    assert_same_tree(&src, &restored(&t2, &src));
}

#[test]
fn stdin_snapshots_cross_both_ways() {
    let s = Scratch::new();
    let data = [
        noise(2 * 1024 * 1024, 9),
        "dump line\n".repeat(50_000).into_bytes(),
    ]
    .concat();
    bunker(&s.repo(), &["init"]);
    let o = bunker_raw(
        &s.repo(),
        &["backup", "--stdin", "--stdin-filename", "db.dump"],
        Some(&data),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    restic(&s.repo(), &["check", "--read-data"]);
    let out = std::process::Command::new(tool("restic"))
        .args([
            "-r",
            s.repo().to_str().unwrap(),
            "dump",
            "latest",
            "/db.dump",
        ])
        .env("RESTIC_PASSWORD", PASSWORD)
        .env("RESTIC_CACHE_DIR", s.path("cache"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout == data, "restic dump returned different bytes");

    let r2 = s.path("restic-repo");
    restic(&r2, &["init"]);
    let mut cmd = std::process::Command::new(tool("restic"));
    cmd.args([
        "-r",
        r2.to_str().unwrap(),
        "backup",
        "--stdin",
        "--stdin-filename",
        "from-restic.bin",
    ])
    .env("RESTIC_PASSWORD", PASSWORD)
    .env("RESTIC_CACHE_DIR", s.path("cache"));
    assert!(run_with_stdin(&mut cmd, Some(&data)).status.success());
    let o = bunker_raw(&r2, &["dump", "latest", "/from-restic.bin"], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stdout == data, "bunker dump returned different bytes");
}

#[test]
fn chunk_boundaries_match_restic_so_data_deduplicates() {
    // restic chunks a file into a repository; bunker then backs up the same bytes under
    // another name. With identical Rabin boundaries every data blob is already there.
    let s = Scratch::new();
    let big = noise(12 * 1024 * 1024, 77);
    write(&s.path("a/file.bin"), &big);
    write(&s.path("b/copy.bin"), &big);
    restic(&s.repo(), &["init"]);
    restic(&s.repo(), &["backup", s.path("a").to_str().unwrap()]);
    let out = bunker(
        &s.repo(),
        &["backup", "--json", s.path("b").to_str().unwrap()],
    );
    let sum = json_summary(&out);
    assert_eq!(
        sum["data_blobs"], 0,
        "bunker cut chunks restic did not: {sum}"
    );
    assert!(sum["total_bytes_processed"].as_u64().unwrap() >= big.len() as u64);
    restic(&s.repo(), &["check", "--read-data"]);
}

/// Runs restic on `repo` without asserting success.
fn restic_raw(repo: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(tool("restic"))
        .arg("-r")
        .arg(repo)
        .args(args)
        .env("RESTIC_PASSWORD", PASSWORD)
        .env("RESTIC_CACHE_DIR", repo.with_extension("cache"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("spawn restic")
}

fn files_in(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            out.extend(files_in(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

/// Regression (issue 14, item 3): in a version 1 (uncompressed) repository bunker wrote
/// its lock files compressed; restic could not read them, and its prune deleted the
/// packs of a running bunker backup.
#[test]
fn restic_reads_bunker_locks_in_a_version_1_repository_and_prune_waits() {
    use std::io::Write;
    let s = Scratch::new();
    let repo = s.repo();
    restic(&repo, &["init", "--repository-version", "1"]);
    let mut child = std::process::Command::new(bunker_bin())
        .arg("-r")
        .arg(&repo)
        .args(["backup", "--stdin", "--stdin-filename", "big.bin"])
        .env("BUNKER_PASSWORD", PASSWORD)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn bunker");
    let mut stdin = child.stdin.take().expect("stdin");
    let (first, second) = (noise(20 << 20, 1), noise(1 << 20, 2));
    stdin.write_all(&first).expect("write");
    // Wait until the running backup has stored a pack: that is what a prune could take.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while files_in(&repo.join("data")).is_empty() {
        assert!(std::time::Instant::now() < deadline, "no pack was written");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let locks = restic(&repo, &["list", "locks"]);
    let ids: Vec<&str> = locks.lines().collect();
    assert_eq!(ids.len(), 1, "bunker's lock, as restic lists it: {locks}");
    let lock: serde_json::Value =
        serde_json::from_str(&restic(&repo, &["cat", "lock", ids[0]])).expect("lock JSON");
    assert_eq!(lock["exclusive"], false, "{lock}");
    assert_eq!(lock["pid"], child.id(), "{lock}");
    let pruned = restic_raw(&repo, &["prune"]);
    let err = String::from_utf8_lossy(&pruned.stderr);
    assert!(
        !pruned.status.success(),
        "restic pruned under a running backup: {err}"
    );
    assert!(err.contains("locked"), "{err}");
    stdin.write_all(&second).expect("write");
    drop(stdin);
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(files_in(&repo.join("locks")).is_empty(), "lock left behind");
    bunker(&repo, &["check", "--read-data"]);
    restic(&repo, &["check", "--read-data"]);
    let dumped = restic_raw(&repo, &["dump", "latest", "/big.bin"]);
    assert!(
        dumped.status.success(),
        "{}",
        String::from_utf8_lossy(&dumped.stderr)
    );
    assert!(
        dumped.stdout == [first, second].concat(),
        "restic dumps other bytes"
    );
    // Once bunker is done, restic's prune runs and leaves a repository both check.
    restic(&repo, &["prune"]);
    bunker(&repo, &["check", "--read-data"]);
    let config = bunker(&repo, &["cat", "config"]);
    assert!(config.contains("\"version\": 1"), "{config}");
}

/// Runs `program` (bunker or restic) on `repo` in the time zone `tz`; its stdout.
fn in_zone(program: &std::path::Path, repo: &std::path::Path, tz: &str, args: &[&str]) -> String {
    let o = std::process::Command::new(program)
        .arg("-r")
        .arg(repo)
        .args(args)
        .env("TZ", tz)
        .env("BUNKER_PASSWORD", PASSWORD)
        .env("RESTIC_PASSWORD", PASSWORD)
        .env("RESTIC_CACHE_DIR", repo.with_extension("cache"))
        .output()
        .expect("spawn");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Regression (issue 14): `ls --json` printed Unix permission bits as `mode` (restic
/// prints Go's file mode, and `permissions`), and `snapshots` and `ls -l` printed times
/// in the zone they were recorded in, where restic shows local time.
#[test]
fn ls_and_snapshots_print_modes_and_local_times_like_restic() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new();
    let src = s.path("src");
    make_tricky_tree(&src, false);
    write(&src.join("setuid"), b"#!/bin/sh\n");
    std::fs::set_permissions(src.join("setuid"), std::fs::Permissions::from_mode(0o4755)).unwrap();
    std::fs::create_dir(src.join("sticky")).unwrap();
    std::fs::set_permissions(src.join("sticky"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    bunker(&s.repo(), &["init"]);
    bunker(&s.repo(), &["backup", src.to_str().unwrap()]);
    let (b, r) = (bunker_bin(), tool("restic"));
    for tz in ["America/New_York", "Asia/Kolkata"] {
        let ours = in_zone(&b, &s.repo(), tz, &["ls", "-l", "latest"]);
        let theirs = in_zone(&r, &s.repo(), tz, &["ls", "-l", "latest"]);
        // restic starts with a line naming the snapshot.
        let theirs: Vec<&str> = theirs.lines().skip(1).collect();
        assert_eq!(ours.lines().collect::<Vec<_>>(), theirs, "ls -l in {tz}");
        let time_column = |out: &str| -> Vec<String> {
            out.lines()
                .filter(|l| l.len() > 30 && l.as_bytes()[0].is_ascii_hexdigit() && l.contains("  "))
                .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
                .collect()
        };
        let ours = in_zone(&b, &s.repo(), tz, &["snapshots"]);
        let theirs = in_zone(&r, &s.repo(), tz, &["snapshots"]);
        assert_eq!(
            time_column(&ours),
            time_column(&theirs),
            "snapshots in {tz}"
        );
        assert_eq!(time_column(&ours).len(), 1, "{ours}");
    }
    let nodes = |out: &str| -> Vec<(String, serde_json::Value, serde_json::Value)> {
        out.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v["struct_type"] == "node")
            .map(|v| {
                (
                    v["path"].to_string(),
                    v["mode"].clone(),
                    v["permissions"].clone(),
                )
            })
            .collect()
    };
    let ours = nodes(&in_zone(&b, &s.repo(), "UTC", &["ls", "--json", "latest"]));
    let theirs = nodes(&in_zone(&r, &s.repo(), "UTC", &["ls", "--json", "latest"]));
    assert!(ours.len() > 10, "{ours:?}");
    assert_eq!(ours, theirs);
}
