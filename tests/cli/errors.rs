//! Failure paths: wrong passwords, missing or locked repositories, unreadable sources,
//! damaged packs, crashes, failing commands, key changes and usage errors. Each test
//! checks the exit code, the one-line message and that the repository stays sound.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::util::*;

/// bunker with `args` split at spaces (test paths have none); the raw output.
fn run(repo: &Path, args: &str) -> Output {
    bunker_raw(repo, &args.split_whitespace().collect::<Vec<_>>(), None)
}

/// bunker with `args` split at spaces; asserts success and returns stdout.
fn ok(repo: &Path, args: &str) -> String {
    bunker(repo, &args.split_whitespace().collect::<Vec<_>>())
}

fn bunker_cmd(repo: &Path, password: &str) -> Command {
    let mut c = Command::new(bunker_bin());
    c.arg("-r").arg(repo).env("BUNKER_PASSWORD", password);
    c.env_remove("BUNKER_REPOSITORY");
    c
}

fn bunker_pw(repo: &Path, password: &str, args: &str) -> Output {
    let mut c = bunker_cmd(repo, password);
    run_with_stdin(c.args(args.split_whitespace()), None)
}

fn restic_ok(repo: &Path, password: &str, args: &str) -> bool {
    let mut c = Command::new(tool("restic"));
    c.arg("-r").arg(repo).args(args.split_whitespace());
    c.env("RESTIC_PASSWORD", password);
    c.env("RESTIC_CACHE_DIR", repo.with_extension("cache"));
    run_with_stdin(&mut c, None).status.success()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts the exit code and that stderr is one `bunker: ...` line containing `needle`.
fn assert_fails(o: &Output, code: i32, needle: &str) {
    let e = err(o);
    assert_eq!(o.status.code(), Some(code), "exit code; stderr:\n{e}");
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 1, "expected one stderr line, got:\n{e}");
    assert!(lines[0].starts_with("bunker: "), "{e}");
    assert!(lines[0].contains(needle), "stderr {e:?} lacks {needle:?}");
}

fn init(s: &Scratch) -> PathBuf {
    ok(&s.repo(), "init");
    s.repo()
}

fn json(s: &str) -> serde_json::Value {
    json_result(s)
}

fn snapshot_ids(repo: &Path) -> Vec<String> {
    let v = json(&ok(repo, "--json snapshots"));
    let snaps = v.as_array().expect("array");
    snaps
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

/// Polls `cond` every 2 ms until it holds (true) or `timeout` passes (false).
fn poll(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while !cond() {
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    true
}

fn spawn_quiet(c: &mut Command) -> Child {
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c.spawn().expect("spawn")
}

/// Sets `mode` on `p` and below (files lose the execute bits, directories keep them).
fn chmod_r(p: &Path, mode: u32) {
    chmod(p, mode);
    for e in std::fs::read_dir(p).into_iter().flatten() {
        let c = e.expect("entry").path();
        chmod_r(
            &c,
            if c.is_dir() {
                mode | 0o111
            } else {
                mode & 0o666
            },
        );
    }
}

/// bunker as an unprivileged user (root reads mode-000 files), or as ourselves.
fn unprivileged(repo: &Path, args: &str) -> Output {
    let root = nix::unistd::geteuid().is_root();
    let mut c = Command::new(if root { "setpriv" } else { "env" });
    if root {
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
    }
    c.arg(bunker_bin())
        .arg("-r")
        .arg(repo)
        .args(args.split_whitespace());
    c.env("BUNKER_PASSWORD", PASSWORD)
        .env_remove("BUNKER_REPOSITORY");
    run_with_stdin(&mut c, None)
}

#[test]
fn wrong_password_exits_11_with_one_line_and_leaves_repository_intact() {
    let s = Scratch::new();
    let repo = init(&s);
    write(&s.path("src/a"), b"a\n");
    let backup = format!("backup {}", s.path("src").display());
    ok(&repo, &backup);
    for args in ["snapshots", &backup, "check", "unlock", "key list"] {
        let o = bunker_pw(&repo, "not the password", args);
        assert_fails(&o, 11, "wrong password");
    }
    // A missing password file is a plain failure, not a wrong password.
    let o = run(
        &repo,
        &format!("--password-file {} snapshots", s.path("no").display()),
    );
    assert_fails(&o, 1, "password file");
    assert_eq!(snapshot_ids(&repo).len(), 1);
    restic(&repo, &["check", "--read-data"]);
}

#[test]
fn missing_or_empty_repository_exits_10_for_snapshots_and_backup() {
    let s = Scratch::new();
    write(&s.path("src/a"), b"a\n");
    let missing = s.path("does/not/exist");
    std::fs::create_dir(s.path("empty")).expect("mkdir");
    for repo in [&missing, &s.path("empty")] {
        assert_fails(&run(repo, "snapshots"), 10, "no repository at");
        let o = run(repo, &format!("backup {}", s.path("src").display()));
        assert_fails(&o, 10, "no repository at");
    }
    // Regression: opening storage created the directory (and `.tmp` in it), so a
    // mistyped or unmounted repository path was created by a read-only command.
    assert!(
        !missing.exists(),
        "a failed `snapshots` created {}",
        missing.display()
    );
}

#[test]
fn read_only_repository_can_be_listed() {
    let s = Scratch::new();
    let repo = s.repo();
    write(&s.path("src/a"), b"a\n");
    restic(&repo, &["init"]);
    restic(&repo, &["backup", s.path("src").to_str().unwrap()]);
    chmod(s.dir.path(), 0o755);
    chmod_r(&repo, 0o555);
    let o = unprivileged(&repo, "--json snapshots");
    chmod_r(&repo, 0o755);
    let e = err(&o);
    // Regression: Storage::open asked opendal to create `<repo>/.tmp`, which failed on a
    // repository the user may read but not write (a mounted backup disk).
    assert_eq!(o.status.code(), Some(0), "{e}");
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(listed.len(), 1);

    // Restoring needs a lock file, which a read-only repository cannot take: one clear
    // line; with --no-lock (restic's flag) the restore works.
    let t = s.path("t");
    std::fs::create_dir(&t).unwrap();
    chmod(&t, 0o777);
    chmod_r(&repo, 0o555);
    let locked = unprivileged(&repo, &format!("restore latest --target {}", t.display()));
    let free = unprivileged(
        &repo,
        &format!("--no-lock restore latest --target {}", t.display()),
    );
    let checked = unprivileged(&repo, "--no-lock check --read-data");
    chmod_r(&repo, 0o755);
    assert_eq!(locked.status.code(), Some(1), "{}", err(&locked));
    assert_eq!(err(&locked).lines().count(), 1, "{}", err(&locked));
    assert!(free.status.success(), "{}", err(&free));
    assert!(checked.status.success(), "{}", err(&checked));
    assert_eq!(
        std::fs::read(restored(&t, &s.path("src")).join("a")).unwrap(),
        b"a\n"
    );
}

#[test]
fn shared_lock_of_a_running_backup_is_not_removed_and_goes_away_after() {
    use std::io::Write;
    let s = Scratch::new();
    let repo = init(&s);
    let locks = repo.join("locks");
    let mut c = bunker_cmd(&repo, PASSWORD);
    c.args(["backup", "--stdin", "--stdin-filename", "x"])
        .stdout(Stdio::null());
    let mut child = c.stdin(Stdio::piped()).spawn().expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"first part ").expect("write");
    let one_lock = poll(Duration::from_secs(30), || files_under(&locks).len() == 1);
    assert!(one_lock, "the backup took no lock");
    let held = files_under(&locks);
    // A live lock is not stale: plain unlock keeps it.
    assert_eq!(ok(&repo, "--json unlock").trim(), r#"{"removed":0}"#);
    assert_eq!(files_under(&locks), held);
    // Shared locks do not conflict: another backup runs meanwhile.
    write(&s.path("src/a"), b"a\n");
    ok(&repo, &format!("backup {}", s.path("src").display()));
    stdin.write_all(b"second part").expect("write");
    drop(stdin);
    assert!(child.wait().expect("wait").success());
    assert_eq!(
        files_under(&locks),
        Vec::<PathBuf>::new(),
        "locks left behind"
    );
    let x = ok(&repo, "dump latest /x --path /x");
    assert_eq!(x, "first part second part");
    restic(&repo, &["check"]);
}

/// Lock files under their final name (restic 0.14 writes `<id>-tmp-<n>` first).
fn lock_files(repo: &Path) -> Vec<PathBuf> {
    let mut locks = files_under(&repo.join("locks"));
    locks.retain(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.len() == 64)
    });
    locks
}

/// Starts `restic check` and freezes it (SIGSTOP) while it holds its exclusive lock.
fn frozen_exclusive_lock(repo: &Path) -> (Child, PathBuf) {
    for _ in 0..10 {
        let mut c = Command::new(tool("restic"));
        c.arg("-r")
            .arg(repo)
            .arg("check")
            .env("RESTIC_PASSWORD", PASSWORD);
        let mut c = spawn_quiet(c.env("RESTIC_CACHE_DIR", repo.with_extension("cache")));
        let found = poll(Duration::from_secs(30), || !lock_files(repo).is_empty());
        let stopped = found && kill(Pid::from_raw(c.id() as i32), Signal::SIGSTOP).is_ok();
        if let (true, None, Some(lock)) = (stopped, c.try_wait().unwrap(), lock_files(repo).pop()) {
            let name = lock.file_name().unwrap().to_str().unwrap();
            let o = run(repo, &format!("cat lock {name}"));
            if o.status.success() && json(&String::from_utf8_lossy(&o.stdout))["exclusive"] == true
            {
                return (c, lock);
            }
        }
        let (_, _) = (c.kill(), c.wait());
        ok(repo, "unlock");
        for f in files_under(&repo.join("locks")) {
            std::fs::remove_file(f).expect("remove restic's temporary lock file");
        }
    }
    panic!("could not catch restic holding its exclusive lock");
}

#[test]
fn exclusive_lock_exits_12_until_its_dead_holder_is_unlocked() {
    let s = Scratch::new();
    let repo = init(&s);
    write(&s.path("src/a"), b"a\n");
    let backup = format!("backup {}", s.path("src").display());
    ok(&repo, &backup);
    let (mut restic_check, lock) = frozen_exclusive_lock(&repo);
    assert_fails(&run(&repo, &backup), 12, "locked");
    let restore = format!("restore latest --target {}", s.path("t").display());
    assert_fails(&run(&repo, &restore), 12, "locked");
    // The holder lives (stopped): its lock is not stale.
    assert_eq!(ok(&repo, "--json unlock").trim(), r#"{"removed":0}"#);
    assert!(lock.exists());
    restic_check.kill().expect("kill");
    restic_check.wait().expect("wait");
    // Now its PID is gone on this host: stale, and removed.
    assert!(lock.exists());
    assert_eq!(ok(&repo, "--json unlock").trim(), r#"{"removed":1}"#);
    assert!(files_under(&repo.join("locks")).is_empty());
    ok(&repo, &backup);
    assert_eq!(snapshot_ids(&repo).len(), 2);
    restic(&repo, &["check"]);
}

#[test]
fn missing_top_level_path_fails_without_snapshot() {
    let s = Scratch::new();
    let repo = init(&s);
    write(&s.path("src/a"), b"a\n");
    let gone = s.path("gone");
    let o = run(
        &repo,
        &format!("backup {} {}", s.path("src").display(), gone.display()),
    );
    assert_fails(&o, 1, gone.to_str().unwrap());
    assert!(snapshot_ids(&repo).is_empty());
}

#[test]
fn unreadable_file_warns_saves_snapshot_and_exits_3() {
    let s = Scratch::new();
    let repo = init(&s);
    let src = s.path("src");
    write(&src.join("a.txt"), b"readable\n");
    write(&src.join("sub/b.bin"), &noise(100_000, 3));
    write(&src.join("secret"), b"no one reads this\n");
    chmod(&src.join("secret"), 0o000);
    chmod(s.dir.path(), 0o755);
    chmod_r(&repo, 0o777);
    let o = unprivileged(&repo, &format!("backup {}", src.display()));
    let e = err(&o);
    assert_eq!(o.status.code(), Some(3), "{e}");
    let secret = src.join("secret").display().to_string();
    let warned = e
        .lines()
        .any(|l| l.starts_with("warning: ") && l.contains(&secret));
    assert!(warned, "{e}");
    assert!(
        e.lines().last().unwrap().starts_with("bunker: snapshot"),
        "{e}"
    );
    assert_eq!(snapshot_ids(&repo).len(), 1);
    let t = s.path("t");
    ok(&repo, &format!("restore latest --target {}", t.display()));
    let r = restored(&t, &src);
    assert_eq!(std::fs::read(r.join("a.txt")).unwrap(), b"readable\n");
    assert_eq!(
        std::fs::read(r.join("sub/b.bin")).unwrap(),
        noise(100_000, 3)
    );
    assert!(
        !r.join("secret").exists(),
        "an unread file restored as if it were empty"
    );
    restic(&repo, &["check", "--read-data"]);
}

#[test]
fn damaged_pack_fails_read_data_check_and_restore_saves_the_rest() {
    let s = Scratch::new();
    let repo = init(&s);
    let src = s.path("src");
    let content = |i: usize| noise((1 << 20) + 1000 * i, i as u64 + 1);
    let names: Vec<String> = (0..6).map(|i| format!("f{i}.bin")).collect();
    for (i, n) in names.iter().enumerate() {
        write(&src.join(n), &content(i));
    }
    ok(&repo, &format!("backup {}", src.display()));
    let packs = files_under(&repo.join("data"));
    let pack = packs
        .iter()
        .max_by_key(|p| p.metadata().unwrap().len())
        .expect("a pack");
    let pack_id = pack.file_name().unwrap().to_str().unwrap().to_string();
    flip_byte(pack, |len| len / 2);
    let o = run(&repo, "check --read-data");
    let e = err(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.lines()
            .any(|l| l.contains(&pack_id) && l.contains("blob")),
        "{e}"
    );
    assert!(
        !restic_ok(&repo, PASSWORD, "check --read-data"),
        "restic sees it too"
    );

    let t = s.path("t");
    let o = run(&repo, &format!("restore latest --target {}", t.display()));
    let e = err(&o);
    assert_eq!(o.status.code(), Some(3), "{e}");
    let listed = |n: &str| {
        e.lines()
            .any(|l| l.starts_with("damaged: ") && l.contains(n))
    };
    let damaged: Vec<&String> = names.iter().filter(|n| listed(n)).collect();
    assert_eq!(damaged.len(), 1, "one file holds the flipped byte: {e}");
    assert!(
        !restored(&t, &src).join(damaged[0]).exists(),
        "the damaged file is not left behind"
    );
    for (i, n) in names.iter().enumerate() {
        if !damaged.contains(&n) {
            let got = std::fs::read(restored(&t, &src).join(n)).unwrap_or_default();
            assert!(got == content(i), "{n} restored wrongly");
        }
    }
}

#[test]
fn damaged_snapshot_file_fails_check_but_other_snapshots_stay_restorable() {
    let s = Scratch::new();
    let repo = init(&s);
    write(&s.path("one/a"), b"one\n");
    write(&s.path("two/b"), b"two\n");
    ok(&repo, &format!("backup {}", s.path("one").display()));
    ok(&repo, &format!("backup {}", s.path("two").display()));
    let ids = snapshot_ids(&repo);
    let (bad, good) = (&ids[0], &ids[1]);
    flip_byte(&repo.join("snapshots").join(bad), |_| 20);
    let o = run(&repo, "check");
    let e = err(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.lines()
            .any(|l| l.starts_with("error: ") && l.contains(bad)),
        "{e}"
    );
    let listed = restic(&repo, &["snapshots"]);
    assert!(
        listed.contains(&good[..8]),
        "restic lists the intact snapshot"
    );
    let t = s.path("t");
    let o = run(&repo, &format!("restore {good} --target {}", t.display()));
    let e = err(&o);
    // Regression: one damaged snapshot file made every listing and restore fail.
    assert!(o.status.success(), "{e}");
    let b = std::fs::read(restored(&t, &s.path("two")).join("b")).ok();
    assert_eq!(b.as_deref(), Some(&b"two\n"[..]), "{e}");
    let o = run(&repo, "snapshots --json");
    assert!(o.status.success(), "{}", err(&o));
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(listed.len(), 1, "the intact snapshot is listed");
}

/// Regression (issue 14, item 5): with the newest snapshot file damaged, `restore latest`
/// silently restored the one before it.
#[test]
fn latest_with_a_damaged_newest_snapshot_fails_and_names_it() {
    let s = Scratch::new();
    let repo = init(&s);
    write(&s.path("src/a"), b"old\n");
    ok(&repo, &format!("backup {}", s.path("src").display()));
    let older = snapshot_ids(&repo);
    write(&s.path("src/a"), b"new\n");
    ok(&repo, &format!("backup {}", s.path("src").display()));
    let newest = snapshot_ids(&repo)
        .into_iter()
        .find(|id| !older.contains(id))
        .expect("a second snapshot");
    flip_byte(&repo.join("snapshots").join(&newest), |_| 20);
    let t = s.path("t");
    for args in [
        format!("restore latest --target {}", t.display()),
        "ls latest".to_string(),
        "dump latest /a".to_string(),
        "forget latest".to_string(),
        format!("restore {} --target {}", &newest[..8], t.display()),
    ] {
        let o = run(&repo, &args);
        let e = err(&o);
        assert_eq!(o.status.code(), Some(1), "{args}: {e}");
        assert!(
            e.contains(&newest),
            "{args}: names the damaged snapshot: {e}"
        );
        assert_eq!(e.lines().count(), 1, "{args}: {e}");
    }
    assert!(!t.exists(), "something was restored");
    assert!(err(&run(&repo, "restore latest --target /x")).contains("by its id"));
    // An explicit id still restores.
    let o = run(
        &repo,
        &format!("restore {} --target {}", older[0], t.display()),
    );
    assert!(o.status.success(), "{}", err(&o));
    let a = std::fs::read(restored(&t, &s.path("src")).join("a")).unwrap();
    assert_eq!(a, b"old\n");
}

#[test]
fn kill_9_during_backup_leaves_a_repository_that_checks_and_completes() {
    let s = Scratch::new();
    let repo = init(&s);
    let src = s.path("src");
    for i in 0..5 {
        write(&src.join(format!("part-{i}.bin")), &noise(8 << 20, 100 + i));
    }
    let total: u64 = 5 * (8 << 20);
    let backup = format!("backup {}", src.display());
    // Kill after a delay (ms), or once a new file shows up in a directory of the repository.
    let points = [
        (50, ""),
        (200, ""),
        (500, ""),
        (1000, ""),
        (0, "data"),
        (0, "index"),
    ];
    let mut killed = 0;
    for (delay, dir) in points {
        let before = files_under(&repo.join(dir)).len();
        let mut child = spawn_quiet(bunker_cmd(&repo, PASSWORD).args(backup.split(' ')));
        if dir.is_empty() {
            std::thread::sleep(Duration::from_millis(delay));
        } else {
            poll(Duration::from_secs(120), || {
                let done = child.try_wait().expect("try_wait").is_some();
                done || files_under(&repo.join(dir)).len() > before
            });
        }
        let _ = child.kill();
        let status = child.wait().expect("wait");
        killed += usize::from(status.code().is_none());
        assert!(
            status.code().is_none() || status.success(),
            "backup failed: {status:?}"
        );
        ok(&repo, "check --read-data");
        ok(&repo, "unlock");
        assert!(
            files_under(&repo.join("locks")).is_empty(),
            "the dead backup's lock is stale"
        );
        restic(&repo, &["check", "--read-data"]);
    }
    assert!(killed > 0, "no backup was interrupted");
    let indexed = files_under(&repo.join("index")).len();
    let out = ok(&repo, &format!("--json {backup}"));
    let added = json(out.lines().last().unwrap())["data_added"]
        .as_u64()
        .expect("data_added");
    if indexed > 0 {
        assert!(
            added < total,
            "interrupted runs' data is reused: added {added} of {total}"
        );
    }
    let t = s.path("t");
    ok(&repo, &format!("restore latest --target {}", t.display()));
    assert_same_tree(&src, &restored(&t, &src));
    restic(&repo, &["check", "--read-data"]);
}

#[test]
fn failing_stdin_command_writes_no_snapshot() {
    let s = Scratch::new();
    let repo = init(&s);
    let from = |opts: &[&str], cmd: &str| {
        let mut args = vec!["backup", "--stdin-from-command"];
        args.extend(opts.iter().chain(&["--", "sh", "-c", cmd]));
        bunker_raw(&repo, &args, None)
    };
    // More than a pack of output before failing: uploaded packs must not harm the repository.
    let o = from(&[], "echo partial; head -c 20000000 /dev/urandom; exit 3");
    assert_fails(&o, 1, "no snapshot was written");
    let o = run(&repo, "backup --stdin-from-command -- /no/such/command");
    assert_fails(&o, 1, "/no/such/command");
    assert!(snapshot_ids(&repo).is_empty());
    ok(&repo, "check --read-data");
    ok(&repo, "unlock");
    restic(&repo, &["check", "--read-data"]);

    let o = from(&["--stdin-filename", "out.txt"], "printf hello");
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(ok(&repo, "dump latest /out.txt"), "hello");
    assert!(from(&[], "printf world").status.success());
    assert_eq!(ok(&repo, "dump latest /sh"), "world");
    assert_eq!(snapshot_ids(&repo).len(), 2);
}

/// (id, current) of every key, as `password` opens the repository.
fn keys(repo: &Path, password: &str) -> Vec<(String, bool)> {
    let o = bunker_pw(repo, password, "--json key list");
    assert!(o.status.success(), "{}", err(&o));
    let v = json(&String::from_utf8_lossy(&o.stdout));
    let key = |k: &serde_json::Value| (k["id"].as_str().unwrap().into(), k["current"] == true);
    v.as_array().expect("array").iter().map(key).collect()
}

#[test]
fn key_add_remove_and_passwd_change_which_passwords_open() {
    let s = Scratch::new();
    let repo = init(&s);
    let (pw2, pw3) = ("second password", "third password");
    write(&s.path("pw2"), format!("{pw2}\n").as_bytes());
    write(&s.path("pw3"), pw3.as_bytes());
    write(&s.path("empty"), b"");
    let new_pw =
        |cmd: &str, f: &str| format!("key {cmd} --new-password-file {}", s.path(f).display());
    assert_fails(&run(&repo, &new_pw("add", "empty")), 1, "empty password");
    ok(&repo, &new_pw("add", "pw2"));
    assert!(bunker_pw(&repo, pw2, "snapshots").status.success());
    let k = keys(&repo, PASSWORD);
    assert_eq!(k.len(), 2);
    let current = k.iter().find(|k| k.1).expect("current").0.clone();
    let other = k.iter().find(|k| !k.1).expect("other").0.clone();
    assert_eq!(keys(&repo, pw2).iter().find(|k| k.1).unwrap().0, other);

    assert_fails(&run(&repo, &format!("key remove {current}")), 1, "refusing");
    ok(&repo, &format!("key remove {other}"));
    assert_fails(&bunker_pw(&repo, pw2, "snapshots"), 11, "wrong password");
    assert_eq!(keys(&repo, PASSWORD), vec![(current.clone(), true)]);

    ok(&repo, &new_pw("passwd", "pw3"));
    assert_fails(&run(&repo, "snapshots"), 11, "wrong password");
    let k = keys(&repo, pw3);
    assert_eq!(k.len(), 1);
    assert_ne!(k[0].0, current);
    assert!(
        restic_ok(&repo, pw3, "key list"),
        "restic opens with the new password"
    );
    assert!(
        !restic_ok(&repo, PASSWORD, "key list"),
        "restic refuses the old one"
    );
}

#[test]
fn usage_errors_exit_2() {
    let s = Scratch::new();
    let repo = init(&s);
    for args in [
        "--no-such-flag snapshots",
        "snapshots --no-such-flag",
        "no-such-command",
        "restore latest",
        "backup --exclude-larger-than 12Q .",
    ] {
        let o = run(&repo, args);
        assert_eq!(o.status.code(), Some(2), "{args}: {}", err(&o));
        assert!(err(&o).starts_with("error: "), "{args}: {}", err(&o));
    }
    let mut c = Command::new(bunker_bin());
    c.arg("snapshots")
        .env("BUNKER_PASSWORD", PASSWORD)
        .env_remove("BUNKER_REPOSITORY");
    assert_fails(&run_with_stdin(&mut c, None), 1, "no repository given");
}

/// Regression (issue 14): a password command that never finished hung bunker forever;
/// one that failed had what it printed in the error.
#[test]
fn password_command_times_out_and_fails_naming_it_not_its_output() {
    let s = Scratch::new();
    let repo = init(&s);
    let started = Instant::now();
    let o = bunker_cmd(&repo, PASSWORD)
        .args([
            "--password-timeout",
            "1s",
            "--password-command",
            "sleep 30 & sleep 30",
        ])
        .args(["snapshots"])
        .output()
        .unwrap();
    let e = err(&o);
    assert!(started.elapsed() < Duration::from_secs(10), "{e}");
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(
        e.contains("\"sleep 30 & sleep 30\"") && e.contains("within 1s"),
        "{e}"
    );
    let o = bunker_cmd(&repo, PASSWORD)
        .env_remove("BUNKER_PASSWORD")
        .args(["--password-command", "printf 'not it'; exit 4", "snapshots"])
        .output()
        .unwrap();
    let e = err(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("exit status: 4"), "{e}");
    assert_eq!(
        e.matches("not it").count(),
        1,
        "the output is not shown: {e}"
    );
    // The same timeout, from the environment.
    let o = bunker_cmd(&repo, PASSWORD)
        .env("BUNKER_PASSWORD_TIMEOUT", "500ms")
        .args(["--password-command", "sleep 20", "snapshots"])
        .output()
        .unwrap();
    assert!(err(&o).contains("within 0.5s"), "{}", err(&o));
}
