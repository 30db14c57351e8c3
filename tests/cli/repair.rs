//! Damage and its repairs: a damaged or lost index file, a damaged pack, a damaged
//! tree blob, packs lost from storage. Each test damages a real repository, runs the
//! repairs, and proves with restic (`check --read-data`, restore) and a byte-for-byte
//! comparison that everything still recoverable is recovered.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::util::*;

fn run(repo: &Path, args: &[&str]) -> Output {
    bunker_raw(repo, args, None)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn snapshots(repo: &Path) -> Vec<Value> {
    json(&bunker(repo, &["snapshots", "--json"]))
        .as_array()
        .expect("array")
        .clone()
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_str().unwrap().to_string()
}

fn packs(repo: &Path) -> Vec<PathBuf> {
    let mut p = files_under(&repo.join("data"));
    p.sort();
    p
}

fn index_files(repo: &Path) -> Vec<PathBuf> {
    let mut p = files_under(&repo.join("index"));
    p.sort();
    p
}

/// Where the index says blob `id` is: (pack id, offset, length).
fn locate(repo: &Path, id: &str) -> (String, usize, usize) {
    for f in index_files(repo) {
        let index = json(&bunker(repo, &["cat", "index", &file_name(&f)]));
        for p in index["packs"].as_array().unwrap() {
            for b in p["blobs"].as_array().unwrap() {
                if b["id"] == id {
                    let n = |k: &str| b[k].as_u64().unwrap() as usize;
                    return (p["id"].as_str().unwrap().into(), n("offset"), n("length"));
                }
            }
        }
    }
    panic!("blob {id} is in no index");
}

fn pack_path(repo: &Path, id: &str) -> PathBuf {
    repo.join("data").join(&id[..2]).join(id)
}

/// The tree id of directory `dir` (absolute) in snapshot `snap`.
fn tree_of(repo: &Path, snap: &str, dir: &Path) -> String {
    let mut tree = json(&bunker(repo, &["cat", "snapshot", snap]))["tree"]
        .as_str()
        .unwrap()
        .to_string();
    for part in dir.strip_prefix("/").unwrap().components() {
        let name = part.as_os_str().to_str().unwrap();
        let listing = json(&bunker(repo, &["cat", "tree", &tree]));
        let node = listing["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in tree {tree}"))
            .clone();
        tree = node["subtree"].as_str().unwrap().to_string();
    }
    tree
}

/// restic's raw output, whether it succeeded or not.
fn restic_raw(repo: &Path, args: &[&str]) -> Output {
    Command::new(tool("restic"))
        .arg("-r")
        .arg(repo)
        .args(args)
        .env("RESTIC_PASSWORD", PASSWORD)
        .env("RESTIC_CACHE_DIR", repo.with_extension("cache"))
        .output()
        .expect("restic")
}

/// restic's index rebuild: `repair index` from 0.16 on, `rebuild-index` before.
fn restic_repair_index(repo: &Path) {
    if !restic_raw(repo, &["repair", "index"]).status.success() {
        restic(repo, &["rebuild-index"]);
    }
}

/// Restores snapshot `id` with bunker or restic into `target`.
fn restore_by(tool_name: &str, repo: &Path, id: &str, target: &Path) {
    let args = ["restore", id, "--target", target.to_str().unwrap()];
    match tool_name {
        "bunker" => bunker(repo, &args),
        _ => restic(repo, &args),
    };
}

/// Asserts that `o` failed with one line naming the damaged index file and the remedy.
fn assert_names_damaged_index(o: &Output, index: &str, what: &str) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{what}: {e}");
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 1, "{what}: one line:\n{e}");
    assert!(
        lines[0].contains(&format!("index file {index}"))
            && lines[0].contains("bunker repair index"),
        "{what}: {e}"
    );
}

fn src_tree(s: &Scratch, name: &str, seed: u64) -> PathBuf {
    let src = s.path(name);
    write(&src.join("small.txt"), format!("small {seed}\n").as_bytes());
    write(&src.join("sub/big.bin"), &noise(2 * 1024 * 1024 + 3, seed));
    let log = format!("log line of tree {seed}\n").repeat(20_000);
    write(&src.join("sub/log.txt"), log.as_bytes());
    src
}

#[test]
fn damaged_index_file_stops_backup_restore_ls_and_prune_with_the_remedy_and_repair_index_rebuilds_it(
) {
    let s = Scratch::new();
    let repo = s.repo();
    bunker(&repo, &["init"]);
    let one = src_tree(&s, "one", 1);
    bunker(&repo, &["backup", one.to_str().unwrap()]);
    let two = src_tree(&s, "two", 2);
    bunker(&repo, &["backup", two.to_str().unwrap()]);
    let indexes = index_files(&repo);
    assert!(indexes.len() >= 2, "one index file per backup");
    let damaged = file_name(&indexes[0]);
    flip_byte(&indexes[0], |len| len / 2);
    let packs_before = packs(&repo);

    let target = s.path("t");
    let t = target.to_str().unwrap();
    for (what, args) in [
        ("backup", vec!["backup", one.to_str().unwrap()]),
        ("restore", vec!["restore", "latest", "--target", t]),
        ("ls", vec!["ls", "latest"]),
        ("prune", vec!["prune"]),
    ] {
        assert_names_damaged_index(&run(&repo, &args), &damaged, what);
    }
    assert_eq!(packs(&repo), packs_before, "no pack was deleted");

    // Regression: check called the packs of the damaged index garbage for prune.
    let o = run(&repo, &["check"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains(&format!("error: index file {damaged} is damaged")),
        "{e}"
    );
    assert!(e.contains("not in any readable index"), "{e}");
    assert!(
        !e.contains("prune"),
        "check must not steer toward deleting: {e}"
    );
    assert!(e.contains("to repair: `bunker repair index`"), "{e}");

    let out = bunker(&repo, &["repair", "index"]);
    assert!(
        out.contains(&format!("index file {damaged}: damaged")),
        "{out}"
    );
    assert!(out.contains("added to the index from its header"), "{out}");
    assert!(!repo.join("index").join(&damaged).exists(), "replaced");
    assert_eq!(packs(&repo), packs_before, "repair index deletes no pack");

    let o = run(&repo, &["check", "--read-data"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
    restic(&repo, &["check", "--read-data"]);
    for (i, src) in [&one, &two].into_iter().enumerate() {
        let id = snapshots(&repo)[i]["id"].as_str().unwrap().to_string();
        for tool_name in ["bunker", "restic"] {
            let t = s.path(&format!("{tool_name}-{i}"));
            restore_by(tool_name, &repo, &id, &t);
            assert_same_tree(src, &restored(&t, src));
        }
    }
    // And the repository takes new backups again.
    bunker(&repo, &["backup", one.to_str().unwrap()]);
}

#[test]
fn bunker_repairs_the_index_restic_wrote_and_restic_repairs_the_index_bunker_wrote() {
    let s = Scratch::new();
    let src = src_tree(&s, "src", 3);

    // restic's repository, one index file damaged: bunker rebuilds it, restic reads it.
    let theirs = s.path("theirs");
    restic(&theirs, &["init", "--repository-version", "2"]);
    restic(&theirs, &["backup", src.to_str().unwrap()]);
    let index = index_files(&theirs).remove(0);
    flip_byte(&index, |len| len - 20);
    let out = bunker(&theirs, &["repair", "index", "--read-all-packs"]);
    assert!(out.contains("damaged"), "{out}");
    restic(&theirs, &["check", "--read-data"]);
    let t = s.path("t-theirs");
    restore_by("restic", &theirs, "latest", &t);
    assert_same_tree(&src, &restored(&t, &src));
    bunker(&theirs, &["check", "--read-data"]);

    // bunker's repository, its index file lost: restic rebuilds it, bunker reads it.
    let ours = s.path("ours");
    bunker(&ours, &["init"]);
    bunker(&ours, &["backup", src.to_str().unwrap()]);
    for f in index_files(&ours) {
        std::fs::remove_file(f).unwrap();
    }
    let o = run(&ours, &["check"]);
    assert_eq!(o.status.code(), Some(1), "blobs are not in any index");
    restic_repair_index(&ours);
    bunker(&ours, &["check", "--read-data"]);
    let t = s.path("t-ours");
    restore_by("bunker", &ours, "latest", &t);
    assert_same_tree(&src, &restored(&t, &src));
}

#[test]
fn repair_packs_salvages_the_readable_blobs_and_repair_snapshots_cuts_out_the_lost_one() {
    let s = Scratch::new();
    let repo = s.repo();
    bunker(&repo, &["init"]);
    let src = s.path("src");
    // Eight files of one blob each (below the smallest chunk), in one data pack.
    let content = |i: usize| noise(200_000 + i, 10 + i as u64);
    for i in 0..8 {
        write(&src.join(format!("f{i}.bin")), &content(i));
    }
    write(&src.join("notes.txt"), b"small and intact\n");
    bunker(&repo, &["backup", src.to_str().unwrap()]);
    let original = snapshots(&repo)[0]["id"].as_str().unwrap().to_string();
    let pack = packs(&repo)
        .into_iter()
        .max_by_key(|p| p.metadata().unwrap().len())
        .unwrap();
    let pack_id = file_name(&pack);
    flip_byte(&pack, |len| len / 2);
    let damaged_bytes = std::fs::read(&pack).unwrap();

    let o = run(&repo, &["check", "--read-data"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains(&format!("to repair: `bunker repair packs {pack_id}`")),
        "{e}"
    );
    let o = restic_raw(&repo, &["check", "--read-data"]);
    assert!(!o.status.success(), "restic sees the damage too");

    let copies = s.path("copies");
    let out = bunker(
        &repo,
        &[
            "repair",
            "packs",
            &pack_id,
            "--copy-to",
            copies.to_str().unwrap(),
        ],
    );
    assert!(out.contains("salvaged 8 blobs"), "{out}");
    assert!(out.contains("lost: data blob"), "{out}");
    assert_eq!(
        std::fs::read(copies.join(format!("pack-{pack_id}"))).unwrap(),
        damaged_bytes,
        "the damaged pack is kept outside the repository as it was"
    );
    assert!(!pack.exists(), "the damaged pack is removed");

    // The snapshot now refers to a blob no pack holds.
    let o = run(&repo, &["check"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("repair snapshots"), "{e}");

    let dry = bunker(&repo, &["repair", "snapshots", "--dry-run"]);
    assert!(dry.contains("removed missing content"), "{dry}");
    assert!(dry.contains("would modify 1 snapshots"), "{dry}");
    assert_eq!(snapshots(&repo).len(), 1, "a dry run writes nothing");

    let out = bunker(&repo, &["repair", "snapshots"]);
    assert!(out.contains("modified 1 snapshots"), "{out}");
    let snaps = snapshots(&repo);
    assert_eq!(snaps.len(), 2, "the original stays without --forget");
    let repaired = snaps.iter().find(|s| s["id"] != original.as_str()).unwrap();
    assert_eq!(repaired["original"], original.as_str());
    assert_eq!(repaired["tags"], serde_json::json!(["repaired"]));
    let repaired = repaired["id"].as_str().unwrap().to_string();
    bunker(&repo, &["forget", &original]);
    bunker(&repo, &["prune"]);

    let o = run(&repo, &["check", "--read-data"]);
    assert!(o.status.success(), "{}", stderr(&o));
    restic(&repo, &["check", "--read-data"]);
    for tool_name in ["bunker", "restic"] {
        let t = s.path(&format!("t-{tool_name}"));
        restore_by(tool_name, &repo, &repaired, &t);
        let root = restored(&t, &src);
        assert_eq!(
            std::fs::read(root.join("notes.txt")).unwrap(),
            b"small and intact\n"
        );
        // restic's semantics: the file whose content is lost stays, without it.
        let mut emptied = 0;
        for i in 0..8 {
            let got = std::fs::read(root.join(format!("f{i}.bin"))).unwrap();
            if got.is_empty() {
                emptied += 1;
            } else {
                assert!(got == content(i), "{tool_name}: f{i}.bin is whole");
            }
        }
        assert_eq!(
            emptied, 1,
            "{tool_name}: exactly the damaged file lost its content"
        );
    }
}

/// A tree `a/` (with a subdirectory), `b/` and a top-level file, in `s/src`.
fn tree_source(s: &Scratch) -> PathBuf {
    let src = s.path("src");
    write(&src.join("a/x.txt"), b"in a\n");
    write(&src.join("a/deeper/y.txt"), b"deeper in a\n");
    write(&src.join("b/z.bin"), &noise(300_000, 5));
    write(&src.join("top.txt"), b"top\n");
    src
}

/// Flips a byte in the tree blob of `src/a` of the latest snapshot; returns the tree's
/// id, its pack's id and the snapshot's id.
fn damage_tree_of_a(repo: &Path, src: &Path) -> (String, String, String) {
    let snap = snapshots(repo).pop().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let tree = tree_of(repo, &snap, &src.join("a"));
    let (pack_id, offset, length) = locate(repo, &tree);
    flip_byte(&pack_path(repo, &pack_id), |_| offset + length / 2);
    (tree, pack_id, snap)
}

/// Asserts that `root` holds what `tree_source` made, but for `a/`, which is empty.
fn assert_all_but_a(root: &Path, what: &str) {
    let names: Vec<String> = snapshot_tree(root)
        .keys()
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect();
    assert_eq!(names, ["a", "b", "b/z.bin", "top.txt"], "{what}");
    assert!(
        std::fs::read(root.join("b/z.bin")).unwrap() == noise(300_000, 5),
        "{what}"
    );
    assert_eq!(
        std::fs::read(root.join("top.txt")).unwrap(),
        b"top\n",
        "{what}"
    );
}

#[test]
fn damaged_tree_blob_becomes_an_empty_directory_and_everything_else_restores() {
    let s = Scratch::new();
    let repo = s.repo();
    bunker(&repo, &["init"]);
    let src = tree_source(&s);
    bunker(&repo, &["backup", src.to_str().unwrap()]);
    let (tree, pack_id, snap) = damage_tree_of_a(&repo, &src);

    let o = run(&repo, &["check", "--read-data"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains(&format!("tree {tree}")), "{e}");
    assert!(
        e.contains(&format!("`bunker repair packs {pack_id}`")),
        "{e}"
    );

    let copies = s.path("c");
    let out = bunker(
        &repo,
        &[
            "repair",
            "packs",
            &pack_id,
            "--copy-to",
            copies.to_str().unwrap(),
        ],
    );
    assert!(out.contains(&format!("lost: tree blob {tree}")), "{out}");
    let out = bunker(&repo, &["repair", "snapshots", "--forget"]);
    let a = format!("{}/a", src.display());
    assert!(
        out.contains(&format!("dir {a:?}: replaced with an empty directory")),
        "{out}"
    );
    let snaps = snapshots(&repo);
    assert_eq!(snaps.len(), 1, "--forget removes the original");
    assert_eq!(snaps[0]["original"], snap.as_str());
    assert!(
        snaps[0]["tags"].is_null(),
        "no tag with --forget (restic's choice)"
    );

    let o = run(&repo, &["check", "--read-data"]);
    assert!(o.status.success(), "{}", stderr(&o));
    restic(&repo, &["check", "--read-data"]);
    for name in ["bunker", "restic"] {
        let t = s.path(&format!("t-{name}"));
        restore_by(name, &repo, "latest", &t);
        assert_all_but_a(&restored(&t, &src), name);
    }
}

#[test]
fn bunker_repairs_a_damaged_tree_rustic_wrote_and_rustic_repairs_snapshots_bunker_wrote() {
    let s = Scratch::new();
    let src = tree_source(&s);
    let copies = s.path("copies");
    let copies = copies.to_str().unwrap();

    // rustic's repository: bunker salvages the tree pack and rewrites the snapshot.
    let theirs = s.path("theirs");
    rustic(&theirs, &["init"]);
    rustic(&theirs, &["backup", src.to_str().unwrap()]);
    let (_, pack_id, _) = damage_tree_of_a(&theirs, &src);
    bunker(&theirs, &["repair", "packs", &pack_id, "--copy-to", copies]);
    bunker(&theirs, &["repair", "snapshots", "--forget"]);
    rustic(&theirs, &["check", "--read-data"]);
    let t = s.path("t-theirs");
    rustic(&theirs, &["restore", "latest", t.to_str().unwrap()]);
    let landed = match restored(&t, &src).exists() {
        true => restored(&t, &src),
        false => t.clone(),
    };
    assert_all_but_a(&landed, "rustic restores what bunker repaired");

    // bunker's repository: bunker salvages the pack, rustic rewrites the snapshot.
    let ours = s.path("ours");
    bunker(&ours, &["init"]);
    bunker(&ours, &["backup", src.to_str().unwrap()]);
    let (_, pack_id, snap) = damage_tree_of_a(&ours, &src);
    bunker(&ours, &["repair", "packs", &pack_id, "--copy-to", copies]);
    rustic(&ours, &["repair", "snapshots", "--delete"]);
    let snaps = snapshots(&ours);
    assert_eq!(snaps.len(), 1, "rustic replaced the snapshot");
    assert_ne!(snaps[0]["id"], snap.as_str());
    let o = run(&ours, &["check", "--read-data"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = s.path("t-ours");
    bunker(
        &ours,
        &["restore", "latest", "--target", t.to_str().unwrap()],
    );
    let root = restored(&t, &src);
    assert!(std::fs::read(root.join("b/z.bin")).unwrap() == noise(300_000, 5));
    assert_eq!(std::fs::read(root.join("top.txt")).unwrap(), b"top\n");
    assert!(
        !root.join("a/x.txt").exists(),
        "what was in the damaged tree is gone"
    );
}

#[test]
fn prune_with_missing_unused_packs_drops_them_from_the_index_and_checks_clean() {
    let s = Scratch::new();
    let repo = s.repo();
    bunker(&repo, &["init"]);
    let one = src_tree(&s, "one", 7);
    bunker(&repo, &["backup", one.to_str().unwrap()]);
    let first_packs = packs(&repo);
    let two = src_tree(&s, "two", 8);
    bunker(&repo, &["backup", two.to_str().unwrap()]);
    let first = snapshots(&repo)[0]["id"].as_str().unwrap().to_string();
    bunker(&repo, &["forget", &first]);
    // The first backup's packs are lost from storage; nothing uses them any more.
    for p in &first_packs {
        std::fs::remove_file(p).unwrap();
    }
    let o = run(&repo, &["check"]);
    assert!(
        stderr(&o).contains("missing from storage"),
        "{}",
        stderr(&o)
    );

    let out = bunker(&repo, &["prune"]);
    assert!(
        out.contains(&format!("missing: {} packs", first_packs.len())),
        "{out}"
    );
    // Regression: prune kept the lost packs in the index, so check failed after it.
    let o = run(&repo, &["check", "--read-data"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
    restic(&repo, &["check", "--read-data"]);
    let t = s.path("t");
    bunker(
        &repo,
        &["restore", "latest", "--target", t.to_str().unwrap()],
    );
    assert_same_tree(&two, &restored(&t, &two));

    // A lost pack that a snapshot uses stops prune, which then deletes nothing.
    let used = packs(&repo).remove(0);
    std::fs::remove_file(&used).unwrap();
    let before = packs(&repo);
    let o = run(&repo, &["prune"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("refusing to prune"), "{}", stderr(&o));
    assert_eq!(packs(&repo), before);
}
