//! prune and copy: space comes back, nothing live is lost, interruptions are harmless.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

fn snapshot_ids(repo: &Path) -> Vec<String> {
    let v: Vec<serde_json::Value> =
        serde_json::from_str(&bunker(repo, &["snapshots", "--json"])).unwrap();
    v.iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["data", "index", "snapshots"] {
        let mut stack = vec![dir.join(sub)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p.strip_prefix(dir).unwrap().display().to_string());
                }
            }
        }
    }
    out.sort();
    out
}

/// Three generations of a tree, each backed up; returns the source dirs, one per snapshot.
fn three_generations(s: &Scratch) -> Vec<std::path::PathBuf> {
    let mut dirs = Vec::new();
    for g in 0..3u64 {
        let d = s.path(&format!("gen{g}"));
        for f in 0..6u64 {
            // Half of the files carry over between generations, half are new.
            let seed = if f < 3 { f } else { 100 * (g + 1) + f };
            write(&d.join(format!("f{f}.bin")), &noise(1_500_000, seed));
        }
        write(&d.join("small.txt"), format!("generation {g}\n").as_bytes());
        bunker(&s.repo(), &["backup", d.to_str().unwrap()]);
        dirs.push(d);
    }
    dirs
}

fn restore_matches(repo: &Path, id: &str, src: &Path, target: &Path) {
    bunker(repo, &["restore", id, "--target", target.to_str().unwrap()]);
    assert_same_tree(src, &restored(target, src));
}

#[test]
fn prune_frees_space_and_keeps_every_live_snapshot_whole() {
    let s = Scratch::new();
    bunker(&s.repo(), &["init"]);
    let dirs = three_generations(&s);
    let ids = snapshot_ids(&s.repo());
    let before = files_in(&s.repo());
    let plan: serde_json::Value =
        serde_json::from_str(&bunker(&s.repo(), &["prune", "--dry-run", "--json"])).unwrap();
    assert_eq!(
        plan["packs_delete"].as_array().unwrap().len(),
        0,
        "nothing is unused yet: {plan}"
    );
    assert_eq!(files_in(&s.repo()), before, "a dry run changes nothing");

    restic(&s.repo(), &["forget", &ids[1]]);
    let forgotten = files_in(&s.repo());
    let plan: serde_json::Value =
        serde_json::from_str(&bunker(&s.repo(), &["prune", "--dry-run", "--json"])).unwrap();
    assert!(plan["bytes_unused"].as_u64().unwrap() > 4_000_000, "{plan}");
    assert_eq!(files_in(&s.repo()), forgotten, "a dry run changes nothing");
    let size_before: u64 = walk_size(&s.repo());
    let done: serde_json::Value =
        serde_json::from_str(&bunker(&s.repo(), &["prune", "--json"])).unwrap();
    let size_after = walk_size(&s.repo());
    assert!(
        size_before - size_after >= done["bytes_freed"].as_u64().unwrap() * 9 / 10,
        "{size_before} -> {size_after}: {done}"
    );
    restic(&s.repo(), &["check", "--read-data"]);
    bunker(&s.repo(), &["check", "--read-data"]);
    restore_matches(&s.repo(), &ids[0], &dirs[0], &s.path("r0"));
    restore_matches(&s.repo(), &ids[2], &dirs[2], &s.path("r2"));
    // A second prune finds nothing left to do.
    let again: serde_json::Value =
        serde_json::from_str(&bunker(&s.repo(), &["prune", "--json"])).unwrap();
    assert_eq!(
        again["packs_delete"].as_array().unwrap().len(),
        0,
        "{again}"
    );
    assert_eq!(
        again["packs_repack"].as_array().unwrap().len(),
        0,
        "{again}"
    );
}

/// Starts `bunker prune --max-unused 0%` in the background.
fn spawn_prune(repo: &Path, stderr: Stdio) -> std::process::Child {
    Command::new(bunker_bin())
        .args(["-r", repo.to_str().unwrap(), "prune", "--max-unused", "0%"])
        .env("BUNKER_PASSWORD", PASSWORD)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

fn walk_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else {
                total += m.len();
            }
        }
    }
    total
}

/// A repository with much garbage: a big generation backed up, then forgotten.
fn repository_with_garbage(s: &Scratch) -> std::path::PathBuf {
    bunker(&s.repo(), &["init"]);
    let keep = s.path("keep");
    for f in 0..4u64 {
        write(&keep.join(format!("k{f}")), &noise(2_000_000, 7 + f));
    }
    let junk = s.path("junk");
    for f in 0..12u64 {
        write(&junk.join(format!("j{f}")), &noise(2_500_000, 1000 + f));
    }
    // Mixed packs: live and dead data in the same packs, so prune must repack.
    let mixed = s.path("mixed");
    for f in 0..4u64 {
        write(&mixed.join(format!("k{f}")), &noise(2_000_000, 7 + f));
        write(&mixed.join(format!("j{f}")), &noise(2_500_000, 1000 + f));
    }
    bunker(&s.repo(), &["backup", mixed.to_str().unwrap()]);
    bunker(&s.repo(), &["backup", junk.to_str().unwrap()]);
    bunker(&s.repo(), &["backup", keep.to_str().unwrap()]);
    let ids = snapshot_ids(&s.repo());
    restic(&s.repo(), &["forget", &ids[0], &ids[1]]);
    keep
}

#[test]
fn prune_killed_at_any_point_leaves_a_repository_that_checks_and_a_later_prune_finishes() {
    let s = Scratch::new();
    let keep = repository_with_garbage(&s);
    let kept = snapshot_ids(&s.repo());
    let mut interrupted = 0;
    for delay_ms in [20u64, 80, 200, 400, 800] {
        let mut child = spawn_prune(&s.repo(), Stdio::null());
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_none() {
            interrupted += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        // bunker ignores the dead process's lock (same host, no such PID); restic 0.14
        // refuses any lock when it wants its exclusive one, so clear it first.
        bunker(&s.repo(), &["check", "--read-data"]);
        let unlocked: serde_json::Value =
            serde_json::from_str(&bunker(&s.repo(), &["unlock", "--json"])).unwrap();
        assert!(unlocked["removed"].as_u64().unwrap() <= 1, "{unlocked}");
        restic(&s.repo(), &["check", "--read-data"]);
        restore_matches(
            &s.repo(),
            &kept[0],
            &keep,
            &s.path(&format!("after-{delay_ms}")),
        );
    }
    assert!(
        interrupted >= 3,
        "only {interrupted} kills hit a running prune"
    );
    bunker(&s.repo(), &["prune", "--max-unused", "0%"]);
    let plan: serde_json::Value = serde_json::from_str(&bunker(
        &s.repo(),
        &["prune", "--dry-run", "--json", "--max-unused", "0%"],
    ))
    .unwrap();
    assert_eq!(
        plan["bytes_unused"], 0,
        "the last prune finished the job: {plan}"
    );
    bunker(&s.repo(), &["check", "--read-data"]);
    restic(&s.repo(), &["check", "--read-data"]);
    restore_matches(&s.repo(), &kept[0], &keep, &s.path("final"));
}

#[test]
fn a_backup_started_during_prune_waits_and_its_snapshot_restores_whole() {
    let s = Scratch::new();
    let keep = repository_with_garbage(&s);
    let new = s.path("new");
    for f in 0..3u64 {
        write(&new.join(format!("n{f}")), &noise(1_000_000, 5000 + f));
    }
    let prune = spawn_prune(&s.repo(), Stdio::piped());
    // Start the backup once prune holds its lock.
    let start = Instant::now();
    while std::fs::read_dir(s.repo().join("locks")).unwrap().count() == 0
        && start.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let backup = bunker_raw(
        &s.repo(),
        &["--retry-lock", "2m", "backup", new.to_str().unwrap()],
        None,
    );
    let prune = prune.wait_with_output().unwrap();
    assert!(
        prune.status.success(),
        "{}",
        String::from_utf8_lossy(&prune.stderr)
    );
    assert!(
        backup.status.success(),
        "{}",
        String::from_utf8_lossy(&backup.stderr)
    );
    bunker(&s.repo(), &["check", "--read-data"]);
    restic(&s.repo(), &["check", "--read-data"]);
    restore_matches(&s.repo(), "latest", &new, &s.path("r-new"));
    let ids = snapshot_ids(&s.repo());
    restore_matches(&s.repo(), &ids[0], &keep, &s.path("r-keep"));
}

#[test]
fn copy_to_a_repository_with_another_polynomial_rechunks_and_restores() {
    let s = Scratch::new();
    let src = s.path("src");
    make_tricky_tree(&src, false);
    bunker(&s.repo(), &["init"]);
    bunker(&s.repo(), &["backup", src.to_str().unwrap()]);
    let other = s.path("other");
    let run = |repo: &Path, pw: &str, args: &[&str], env: &[(&str, &str)]| {
        let mut c = Command::new(bunker_bin());
        c.arg("-r").arg(repo).args(args).env("BUNKER_PASSWORD", pw);
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    run(&other, "second", &["init"], &[]);
    let out = run(
        &s.repo(),
        PASSWORD,
        &["copy", "--json", "--to", other.to_str().unwrap()],
        &[("BUNKER_TO_PASSWORD", "second")],
    );
    let v: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(v["rechunked"], true);
    assert_eq!(v["copied"].as_array().unwrap().len(), 1);
    let again = run(
        &s.repo(),
        PASSWORD,
        &["copy", "--json", "--to", other.to_str().unwrap()],
        &[("BUNKER_TO_PASSWORD", "second")],
    );
    let v: serde_json::Value = serde_json::from_str(again.lines().last().unwrap()).unwrap();
    assert_eq!(
        v["skipped"].as_array().unwrap().len(),
        1,
        "the second copy skips what is there"
    );
    let o = Command::new(tool("restic"))
        .args(["-r", other.to_str().unwrap(), "check", "--read-data"])
        .env("RESTIC_PASSWORD", "second")
        .env("RESTIC_CACHE_DIR", s.path("cache"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t = s.path("t");
    run(
        &other,
        "second",
        &["restore", "latest", "--target", t.to_str().unwrap()],
        &[],
    );
    assert_same_tree(&src, &restored(&t, &src));

    // Same polynomial: blobs and trees keep their ids, so nothing is re-chunked.
    let same = s.path("same");
    run(
        &same,
        "third",
        &[
            "init",
            "--copy-chunker-params",
            "--from",
            s.repo().to_str().unwrap(),
        ],
        &[("BUNKER_FROM_PASSWORD", PASSWORD)],
    );
    let out = run(
        &s.repo(),
        PASSWORD,
        &["copy", "--json", "--to", same.to_str().unwrap()],
        &[("BUNKER_TO_PASSWORD", "third")],
    );
    let v: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(v["rechunked"], false);
    let src_snap: serde_json::Value =
        serde_json::from_str(&bunker(&s.repo(), &["cat", "snapshot", "latest"])).unwrap();
    let dst_snap: serde_json::Value =
        serde_json::from_str(&run(&same, "third", &["cat", "snapshot", "latest"], &[])).unwrap();
    assert_eq!(
        src_snap["tree"], dst_snap["tree"],
        "same chunker, same tree id"
    );
    let t2 = s.path("t2");
    run(
        &same,
        "third",
        &["restore", "latest", "--target", t2.to_str().unwrap()],
        &[],
    );
    assert_same_tree(&src, &restored(&t2, &src));
}
