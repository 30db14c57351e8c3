//! bunker's own round trips: backup, restore, compare; incremental runs; filters.

use std::path::Path;

use crate::util::*;

fn summary(out: &str) -> serde_json::Value {
    serde_json::from_str(out.lines().last().expect("summary")).expect("json")
}

fn backup_json(repo: &Path, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["backup", "--json"];
    a.extend_from_slice(args);
    summary(&bunker(repo, &a))
}

#[test]
fn tricky_tree_round_trips_with_metadata_hard_links_and_holes() {
    let s = Scratch::new();
    let src = s.path("src");
    make_tricky_tree(&src, true);
    bunker(&s.repo(), &["init"]);
    bunker(&s.repo(), &["backup", src.to_str().unwrap()]);
    let target = s.path("restore");
    bunker(
        &s.repo(),
        &["restore", "latest", "--target", target.to_str().unwrap()],
    );
    let out = restored(&target, &src);
    assert_same_tree(&src, &out);
    assert!(
        allocated(&out.join("sparse.img")) < 1024 * 1024,
        "sparse file was filled in"
    );
    bunker(&s.repo(), &["check", "--read-data"]);
}

#[test]
fn unchanged_files_are_not_read_again_and_changes_are_found() {
    let s = Scratch::new();
    let src = s.path("src");
    for i in 0..20 {
        write(&src.join(format!("f{i}.bin")), &noise(100_000, i));
    }
    bunker(&s.repo(), &["init"]);
    let first = backup_json(&s.repo(), &[src.to_str().unwrap()]);
    assert_eq!(first["files_new"], 20);
    let second = backup_json(&s.repo(), &[src.to_str().unwrap()]);
    assert_eq!(second["files_unmodified"], 20, "{second}");
    assert_eq!(second["data_blobs"], 0);
    write(&src.join("f3.bin"), b"changed");
    write(&src.join("new.txt"), b"new");
    let third = backup_json(&s.repo(), &[src.to_str().unwrap()]);
    assert_eq!(third["files_unmodified"], 19, "{third}");
    assert_eq!(third["files_changed"], 1, "{third}");
    assert_eq!(third["files_new"], 1, "{third}");
    let forced = backup_json(&s.repo(), &["--force", src.to_str().unwrap()]);
    assert_eq!(forced["files_unmodified"], 0);
    assert_eq!(forced["data_blobs"], 0, "forced re-read deduplicates");
    let target = s.path("t");
    bunker(
        &s.repo(),
        &["restore", "latest", "--target", target.to_str().unwrap()],
    );
    assert_same_tree(&src, &restored(&target, &src));
    let snaps: Vec<serde_json::Value> =
        serde_json::from_str(&bunker(&s.repo(), &["snapshots", "--json"])).unwrap();
    assert_eq!(snaps.len(), 4);
    assert_eq!(snaps[1]["parent"], snaps[0]["id"]);
}

#[test]
fn excludes_and_filters() {
    let s = Scratch::new();
    let src = s.path("src");
    write(&src.join("keep.txt"), b"keep");
    write(&src.join("app.log"), b"log");
    write(&src.join("sub/deep.log"), b"log");
    write(&src.join("node_modules/x.js"), b"x");
    write(
        &src.join("cache/CACHEDIR.TAG"),
        b"Signature: 8a477f597d28d172789f06886806bc55\n",
    );
    write(&src.join("cache/blob"), b"cached");
    write(&src.join("huge.bin"), &noise(300_000, 1));
    write(&s.path("excludes.txt"), b"# comment\nnode_modules\n");
    bunker(&s.repo(), &["init"]);
    bunker(
        &s.repo(),
        &[
            "backup",
            "--exclude",
            "*.log",
            "--exclude-file",
            s.path("excludes.txt").to_str().unwrap(),
            "--exclude-caches",
            "--exclude-larger-than",
            "100K",
            "--tag",
            "nightly,db",
            "--host",
            "web-1",
            src.to_str().unwrap(),
        ],
    );
    let listing = bunker(&s.repo(), &["ls", "latest"]);
    let names: Vec<&str> = listing
        .lines()
        .map(|l| l.rsplit('/').next().unwrap())
        .collect();
    assert!(
        names.contains(&"keep.txt") && names.contains(&"CACHEDIR.TAG"),
        "{listing}"
    );
    for gone in ["app.log", "deep.log", "node_modules", "blob", "huge.bin"] {
        assert!(
            !names.contains(&gone),
            "{gone} should be excluded:\n{listing}"
        );
    }
    bunker(
        &s.repo(),
        &["backup", "--host", "db-1", src.to_str().unwrap()],
    );
    let by_tag: Vec<serde_json::Value> =
        serde_json::from_str(&bunker(&s.repo(), &["snapshots", "--json", "--tag", "db"])).unwrap();
    assert_eq!(by_tag.len(), 1);
    assert_eq!(by_tag[0]["hostname"], "web-1");
    let by_host: Vec<serde_json::Value> = serde_json::from_str(&bunker(
        &s.repo(),
        &["snapshots", "--json", "--host", "db-1"],
    ))
    .unwrap();
    assert_eq!(by_host.len(), 1);
    let dumped = bunker(
        &s.repo(),
        &["dump", "latest", &format!("{}/keep.txt", src.display())],
    );
    assert_eq!(dumped, "keep");
    // Restore filters.
    let t = s.path("t");
    bunker(
        &s.repo(),
        &[
            "restore",
            "latest",
            "--target",
            t.to_str().unwrap(),
            "--include",
            "*.txt",
        ],
    );
    let r = restored(&t, &src);
    assert!(r.join("keep.txt").exists() && !r.join("huge.bin").exists());
}

#[test]
fn check_subsets_and_cat() {
    let s = Scratch::new();
    let src = s.path("src");
    for i in 0..6 {
        write(&src.join(format!("f{i}")), &noise(6 * 1024 * 1024, i + 100));
    }
    bunker(&s.repo(), &["init"]);
    bunker(&s.repo(), &["backup", src.to_str().unwrap()]);
    let mut read = 0;
    for n in 1..=3 {
        let out = bunker(
            &s.repo(),
            &["check", "--json", "--read-data-subset", &format!("{n}/3")],
        );
        read += summary(&out)["packs_read"].as_u64().unwrap();
    }
    let all = summary(&bunker(&s.repo(), &["check", "--json", "--read-data"]));
    assert_eq!(
        read,
        all["packs_read"].as_u64().unwrap(),
        "the three subsets cover every pack once"
    );
    bunker(&s.repo(), &["check", "--read-data-subset", "50%"]);
    let bad = bunker_raw(&s.repo(), &["check", "--read-data-subset", "4/3"], None);
    assert_eq!(bad.status.code(), Some(1));
    let snaps: Vec<serde_json::Value> =
        serde_json::from_str(&bunker(&s.repo(), &["snapshots", "--json"])).unwrap();
    let snap = bunker(
        &s.repo(),
        &["cat", "snapshot", snaps[0]["short_id"].as_str().unwrap()],
    );
    let v: serde_json::Value = serde_json::from_str(&snap).unwrap();
    let tree = bunker(&s.repo(), &["cat", "tree", v["tree"].as_str().unwrap()]);
    assert!(tree.starts_with("{\"nodes\":["), "{tree}");
}

#[test]
fn a_file_that_grows_while_read_is_stored_consistently() {
    let s = Scratch::new();
    let src = s.path("src");
    write(&src.join("growing.log"), &noise(8 * 1024 * 1024, 5));
    bunker(&s.repo(), &["init"]);
    let path = src.join("growing.log");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (path, stop) = (path.clone(), stop.clone());
        std::thread::spawn(move || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                f.write_all(&[b'x'; 4096]).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        })
    };
    let o = bunker_raw(&s.repo(), &["backup", src.to_str().unwrap()], None);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t = s.path("t");
    bunker(
        &s.repo(),
        &["restore", "latest", "--target", t.to_str().unwrap()],
    );
    let got = std::fs::read(restored(&t, &src).join("growing.log")).unwrap();
    let now = std::fs::read(&path).unwrap();
    assert!(
        got.len() >= 8 * 1024 * 1024 && now.starts_with(&got),
        "restored content is a prefix of the file"
    );
    bunker(&s.repo(), &["check", "--read-data"]);
}

#[test]
fn quickstart_creates_a_private_password_and_a_snapshot() {
    let s = Scratch::new();
    write(&s.path("work/data/file.txt"), b"quick");
    let o = std::process::Command::new(bunker_bin())
        .current_dir(s.path("work"))
        .args(["quickstart", "data"])
        .env_remove("BUNKER_PASSWORD")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("bunker-password") && out.contains("1 snapshots"),
        "{out}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(s.path("work/bunker-password"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let pw = std::fs::read_to_string(s.path("work/bunker-password")).unwrap();
    let o = std::process::Command::new(tool("restic"))
        .args([
            "-r",
            s.path("work/bunker-repo").to_str().unwrap(),
            "check",
            "--read-data",
        ])
        .env("RESTIC_PASSWORD", pw.trim())
        .env("RESTIC_CACHE_DIR", s.path("cache"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Parallel backups of the same paths pick each other's snapshots as parents. A backup
/// used to read the index before listing snapshots, so a parent written in between had
/// trees in no index it had read ("tree blob ... not found"); the forget oracle test's
/// parallel backups caught that intermittently. This test runs the same pattern.
#[test]
fn concurrent_backups_of_the_same_paths_all_succeed() {
    let s = Scratch::new();
    let src = s.path("src");
    for i in 0..40 {
        write(
            &src.join(format!("d{}/f{i}", i % 8)),
            format!("file {i}\n").as_bytes(),
        );
    }
    bunker(&s.repo(), &["init"]);
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 60 {
                    bunker(&s.repo(), &["backup", "-q", src.to_str().unwrap()]);
                }
            });
        }
    });
    let snaps: Vec<serde_json::Value> =
        serde_json::from_str(&bunker(&s.repo(), &["snapshots", "--json"])).unwrap();
    assert_eq!(snaps.len(), 60);
    bunker(&s.repo(), &["check", "--read-data"]);
    restic(&s.repo(), &["check", "--read-data"]);
}

/// `/app/current -> releases/42`, as deployment tools leave it: the link given to back up
/// stands for its target (it used to be stored as a link: "0 files"); links inside the
/// tree stay links; a link to nothing is an error that says so.
#[test]
fn a_symlinked_backup_path_backs_up_its_target() {
    let s = Scratch::new();
    let release = s.path("releases/42");
    make_tricky_tree(&release, false);
    std::os::unix::fs::symlink("releases/42", s.path("current")).unwrap();
    bunker(&s.repo(), &["init"]);
    let j = backup_json(&s.repo(), &[s.path("current").to_str().unwrap()]);
    assert!(j["total_files_processed"].as_u64().unwrap() > 5, "{j}");
    let target = s.path("restore");
    bunker(
        &s.repo(),
        &["restore", "latest", "--target", target.to_str().unwrap()],
    );
    let real = std::fs::canonicalize(&release).unwrap();
    assert_same_tree(&release, &restored(&target, &real));
    restic(&s.repo(), &["check", "--read-data"]);

    std::os::unix::fs::symlink("releases/gone", s.path("broken")).unwrap();
    let o = bunker_raw(
        &s.repo(),
        &["backup", s.path("broken").to_str().unwrap()],
        None,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("a symbolic link to releases/gone, which cannot be read"),
        "{err}"
    );
}
