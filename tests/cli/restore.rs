//! Restores from damaged repositories and into hostile targets: what cannot be restored
//! is listed (exit 3) and leaves nothing that passes for it, everything else is
//! restored, and nothing already in the target is written through.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::util::*;

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(repo: &Path, args: &[&str]) -> Value {
    serde_json::from_str(&bunker(repo, args)).expect("JSON")
}

/// Flips one byte of a repository file (made writable first: bunker stores them 0400).
fn flip_byte(path: &Path, at: u64) {
    use std::io::{Read, Seek, SeekFrom, Write};
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8];
    f.seek(SeekFrom::Start(at)).unwrap();
    f.read_exact(&mut b).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&[b[0] ^ 0x55]).unwrap();
}

/// The id of the tree of directory `path` (absolute, as backed up) in the latest snapshot.
fn tree_of(repo: &Path, path: &Path) -> String {
    let mut tree = json(repo, &["cat", "snapshot", "latest"])["tree"]
        .as_str()
        .unwrap()
        .to_string();
    for name in path.iter().skip(1) {
        let nodes = json(repo, &["cat", "tree", &tree]);
        let node = nodes["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == name.to_str().unwrap())
            .unwrap_or_else(|| panic!("{name:?} in tree {tree}"))
            .clone();
        tree = node["subtree"].as_str().unwrap().to_string();
    }
    tree
}

/// Damages the stored bytes of blob `id` in its pack.
fn damage_blob(repo: &Path, id: &str) {
    for e in std::fs::read_dir(repo.join("index")).unwrap() {
        let index_id = e.unwrap().file_name().into_string().unwrap();
        let index = json(repo, &["cat", "index", &index_id]);
        for pack in index["packs"].as_array().unwrap() {
            for blob in pack["blobs"].as_array().unwrap() {
                if blob["id"] == id {
                    let pack_id = pack["id"].as_str().unwrap();
                    let file = repo.join("data").join(&pack_id[..2]).join(pack_id);
                    let at =
                        blob["offset"].as_u64().unwrap() + blob["length"].as_u64().unwrap() / 2;
                    flip_byte(&file, at);
                    return;
                }
            }
        }
    }
    panic!("blob {id} is in no index");
}

fn damaged_lines(e: &str) -> Vec<&str> {
    e.lines().filter(|l| l.starts_with("damaged: ")).collect()
}

/// Regression (issue 14, item 4): a restore whose blob was missing left the file at full
/// size, zero-filled, with the original mtime: it looked whole.
#[test]
fn restore_of_a_file_with_a_missing_blob_leaves_no_plausible_file() {
    let s = Scratch::new();
    let repo = s.repo();
    bunker(&repo, &["init"]);
    let src = s.path("src");
    write(&src.join("small"), b"small file\n");
    bunker(&repo, &["backup", src.to_str().unwrap()]);
    let packs_before: Vec<PathBuf> = data_packs(&repo);
    // A file of several packs, and another one linked to it.
    write(&src.join("big.bin"), &noise(20 << 20, 3));
    std::fs::hard_link(src.join("big.bin"), src.join("big-link.bin")).unwrap();
    bunker(&repo, &["backup", src.to_str().unwrap()]);
    let new_packs: Vec<PathBuf> = data_packs(&repo)
        .into_iter()
        .filter(|p| !packs_before.contains(p))
        .collect();
    let biggest = new_packs
        .iter()
        .max_by_key(|p| p.metadata().unwrap().len())
        .unwrap();
    std::fs::remove_file(biggest).unwrap();
    let t = s.path("t");
    let o = bunker_raw(
        &repo,
        &["restore", "latest", "--target", t.to_str().unwrap()],
        None,
    );
    let e = err(&o);
    assert_eq!(o.status.code(), Some(3), "{e}");
    let listed = damaged_lines(&e);
    assert_eq!(listed.len(), 2, "the file and its link are listed: {e}");
    assert!(listed.iter().any(|l| l.contains("big.bin")), "{e}");
    assert!(listed.iter().any(|l| l.contains("big-link.bin")), "{e}");
    let at = restored(&t, &src);
    assert!(
        !at.join("big.bin").exists(),
        "a file with holes passes for the real one"
    );
    assert!(!at.join("big-link.bin").exists());
    assert_eq!(std::fs::read(at.join("small")).unwrap(), b"small file\n");
}

fn data_packs(repo: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in std::fs::read_dir(repo.join("data")).unwrap() {
        for f in std::fs::read_dir(d.unwrap().path()).unwrap() {
            out.push(f.unwrap().path());
        }
    }
    out
}

/// Regression (issue 14, item 6): one damaged tree blob aborted the whole restore (0
/// files, exit 1), even with `--include` of an untouched directory.
#[test]
fn one_damaged_tree_blob_loses_only_its_directory() {
    let s = Scratch::new();
    let repo = s.repo();
    bunker(&repo, &["init"]);
    let src = s.path("src");
    write(&src.join("good/a"), b"a\n");
    write(&src.join("good/deeper/b"), b"b\n");
    write(&src.join("bad/c"), b"c\n");
    write(&src.join("top"), b"top\n");
    bunker(&repo, &["backup", src.to_str().unwrap()]);
    damage_blob(&repo, &tree_of(&repo, &src.join("bad")));

    let t = s.path("t");
    let o = bunker_raw(
        &repo,
        &["restore", "latest", "--target", t.to_str().unwrap()],
        None,
    );
    let e = err(&o);
    assert_eq!(o.status.code(), Some(3), "{e}");
    let listed = damaged_lines(&e);
    assert_eq!(listed.len(), 1, "{e}");
    assert!(
        listed[0].contains(&format!("{}/bad/", src.display())),
        "{e}"
    );
    let at = restored(&t, &src);
    assert_eq!(std::fs::read(at.join("good/a")).unwrap(), b"a\n");
    assert_eq!(std::fs::read(at.join("good/deeper/b")).unwrap(), b"b\n");
    assert_eq!(std::fs::read(at.join("top")).unwrap(), b"top\n");
    assert!(
        !at.join("bad").exists(),
        "an empty directory passes for the real one"
    );

    let t2 = s.path("t2");
    let good = format!("{}/good", src.display());
    let o = bunker_raw(
        &repo,
        &[
            "restore",
            "latest",
            "--include",
            &good,
            "--target",
            t2.to_str().unwrap(),
        ],
        None,
    );
    let e = err(&o);
    assert_eq!(o.status.code(), Some(3), "{e}");
    let at = restored(&t2, &src);
    assert_eq!(std::fs::read(at.join("good/deeper/b")).unwrap(), b"b\n");
    assert!(!at.join("top").exists());
    // --json lists it too.
    let o = bunker_raw(
        &repo,
        &[
            "--json",
            "restore",
            "latest",
            "--target",
            s.path("t3").to_str().unwrap(),
        ],
        None,
    );
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["damaged"].as_array().unwrap().len(), 1, "{summary}");
}

/// Regression (issue 14, item 13): restore followed symlinks already in the target, so
/// a planted link sent restored content over a file outside it.
#[test]
fn restore_never_writes_through_a_link_planted_in_the_target() {
    let s = Scratch::new();
    let repo = s.repo();
    bunker(&repo, &["init"]);
    let src = s.path("src");
    write(&src.join("file"), b"restored content\n");
    write(&src.join("dir/inner"), b"inner\n");
    write(&src.join("linked"), b"restored too\n");
    bunker(&repo, &["backup", src.to_str().unwrap()]);

    let outside = s.path("outside");
    write(&outside.join("system-file"), b"precious\n");
    write(&outside.join("shared"), b"shared inode\n");
    std::fs::create_dir_all(outside.join("system-dir")).unwrap();
    let t = s.path("t");
    let at = restored(&t, &src);
    std::fs::create_dir_all(&at).unwrap();
    std::os::unix::fs::symlink(outside.join("system-file"), at.join("file")).unwrap();
    std::os::unix::fs::symlink(outside.join("system-dir"), at.join("dir")).unwrap();
    std::fs::hard_link(outside.join("shared"), at.join("linked")).unwrap();

    bunker(
        &repo,
        &["restore", "latest", "--target", t.to_str().unwrap()],
    );
    assert_eq!(
        std::fs::read(outside.join("system-file")).unwrap(),
        b"precious\n"
    );
    assert_eq!(
        std::fs::read(outside.join("shared")).unwrap(),
        b"shared inode\n"
    );
    assert!(std::fs::read_dir(outside.join("system-dir"))
        .unwrap()
        .next()
        .is_none());
    for (name, content) in [
        ("file", &b"restored content\n"[..]),
        ("dir/inner", b"inner\n"),
        ("linked", b"restored too\n"),
    ] {
        let p = at.join(name);
        assert!(!p.symlink_metadata().unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&p).unwrap(), content, "{name}");
    }
    assert!(at.join("dir").symlink_metadata().unwrap().is_dir());
    assert_same_tree(&src, &at);
}
