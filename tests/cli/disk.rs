//! Local disks that fail: a really full file system (a small tmpfs), and the disk fault
//! layer (ENOSPC part way through a write, EIO on fsync, silently short writes). Each
//! failure is one line and exit 1, leaves no temporary file, and a repository that
//! bunker and restic check clean.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::*;

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    fn mount(at: PathBuf, size: &str) -> SmallDisk {
        std::fs::create_dir_all(&at).unwrap();
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&at)
            .output()
            .expect("spawn mount");
        assert!(
            o.status.success(),
            "mounting a {size} tmpfs (the full disk of this test) needs root: {}",
            err(&o)
        );
        SmallDisk { dir: at }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

fn temporary_files(repo: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(repo.join(".tmp"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

/// Regression (issue 14): a full disk said "the service did not answer in time, even
/// after retries", and the partial temporary file stayed until a later run removed it.
#[test]
fn full_disk_says_no_space_left_in_one_line_and_leaves_no_partial_file() {
    let s = Scratch::new();
    let disk = SmallDisk::mount(s.path("disk"), "6m");
    let repo = disk.dir.join("repo");
    bunker(&repo, &["init"]);
    write(&s.path("src/big.bin"), &noise(24 << 20, 5));
    let o = bunker_raw(&repo, &["backup", s.path("src").to_str().unwrap()], None);
    let e = err(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert_eq!(e.trim().lines().count(), 1, "one line: {e}");
    assert!(
        e.contains(&format!("no space left on device at {}/", repo.display())),
        "{e}"
    );
    assert!(temporary_files(&repo).is_empty(), "partial file left");
    assert!(std::fs::read_dir(repo.join("locks"))
        .unwrap()
        .next()
        .is_none());
    bunker(&repo, &["check", "--read-data"]);
    restic(&repo, &["check", "--read-data"]);
    // Once there is room, the next backup completes and restores.
    std::fs::write(s.path("src/big.bin"), b"small now\n").unwrap();
    bunker(&repo, &["prune"]);
    bunker(&repo, &["backup", s.path("src").to_str().unwrap()]);
    let t = s.path("t");
    bunker(
        &repo,
        &["restore", "latest", "--target", t.to_str().unwrap()],
    );
    assert_same_tree(&s.path("src"), &restored(&t, &s.path("src")));
    restic(&repo, &["check", "--read-data"]);
}

#[test]
fn disk_faults_end_in_a_complete_backup_or_a_clean_failure() {
    let s = Scratch::new();
    let repo = s.repo();
    bunker(&repo, &["init"]);
    let src = s.path("src");
    make_tricky_tree(&src.join("tricky"), false);
    let mut failures = 0;
    let mut seen = std::collections::BTreeSet::new();
    for seed in 1..=5u64 {
        write(
            &src.join(format!("round-{seed}.bin")),
            &noise(1 << 20, seed),
        );
        let faults = format!("enospc=0.15,eio=0.15,short=0.15,seed={seed}");
        let o = Command::new(bunker_bin())
            .arg("-r")
            .arg(&repo)
            .args(["backup", src.to_str().unwrap()])
            .env("BUNKER_PASSWORD", PASSWORD)
            .env("BUNKER_INJECT_DISK_FAULTS", &faults)
            .output()
            .expect("spawn");
        if !o.status.success() {
            failures += 1;
            let e = err(&o);
            assert_eq!(o.status.code(), Some(1), "{faults}: {e}");
            assert_eq!(e.trim().lines().count(), 1, "{faults}: one line: {e}");
            let kind = ["no space left on device at", "input/output error", "bytes"]
                .into_iter()
                .find(|m| e.contains(m));
            assert!(kind.is_some(), "{faults}: {e}");
            seen.extend(kind);
        }
        assert!(
            temporary_files(&repo).is_empty(),
            "{faults}: partial file left"
        );
        bunker(&repo, &["check"]);
        restic(&repo, &["check"]);
        bunker(&repo, &["unlock"]);
    }
    assert!(
        failures > 0,
        "no backup failed: the faults were not injected"
    );
    assert_eq!(seen.len(), 3, "every kind of fault was met: {seen:?}");
    bunker(&repo, &["check", "--read-data"]);
    restic(&repo, &["check", "--read-data"]);
    bunker(&repo, &["backup", src.to_str().unwrap()]);
    let t = s.path("t");
    bunker(
        &repo,
        &["restore", "latest", "--target", t.to_str().unwrap()],
    );
    assert_same_tree(&src, &restored(&t, &src));
}
