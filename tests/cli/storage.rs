//! Object storage and SFTP against real servers on loopback (see `servers`): the same
//! round trips on every service, restic or rustic reading what bunker wrote, a Garage
//! cluster losing a node, injected network faults, an append-only client, and the errors
//! a user sees.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::servers::{Azurite, FakeGcs, Garage, OracleRepo, Sftp};
use crate::util::*;

/// A repository on a remote service, as bunker reaches it.
struct Remote {
    repo: String,
    env: Vec<(String, String)>,
    options: Vec<String>,
    cache: tempfile::TempDir,
}

impl Remote {
    fn new(repo: String, env: Vec<(String, String)>, options: Vec<String>) -> Remote {
        Remote {
            repo,
            env,
            options,
            cache: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn s3(g: &Garage, path: &str) -> Remote {
        Remote::new(
            format!("s3:{}/{}/{path}", g.endpoint(), g.bucket),
            vec![
                ("AWS_ACCESS_KEY_ID".into(), g.key_id.clone()),
                ("AWS_SECRET_ACCESS_KEY".into(), g.secret.clone()),
            ],
            vec![],
        )
    }

    fn gcs(g: &FakeGcs, path: &str) -> Remote {
        Remote::new(
            format!("gs:{}:/{path}", g.bucket),
            vec![(
                "STORAGE_EMULATOR_HOST".into(),
                g.endpoint().trim_start_matches("http://").to_string(),
            )],
            vec![],
        )
    }

    fn azure(a: &Azurite, path: &str) -> Remote {
        Remote::new(
            format!("azure:{}:/{path}", a.container),
            vec![
                ("AZURE_ACCOUNT_NAME".into(), a.account().into()),
                ("AZURE_ACCOUNT_KEY".into(), a.key().into()),
            ],
            vec![format!("azure.endpoint={}", a.endpoint())],
        )
    }

    fn sftp(s: &Sftp, path: &str) -> Remote {
        Remote::new(
            format!(
                "sftp://{}@127.0.0.1:{}/{}/{path}",
                s.user,
                s.port,
                s.remote_dir().display()
            ),
            s.opendal_env(),
            vec![format!("sftp.key={}", s.client_key().display())],
        )
    }

    fn command(&self, args: &[&str]) -> Command {
        self.command_with(args, &[])
    }

    /// A command with more `-o` options (clap keeps only one position's values of a
    /// repeated global option, so all of them go before the subcommand).
    fn command_with(&self, args: &[&str], more_options: &[String]) -> Command {
        let mut c = Command::new(bunker_bin());
        c.arg("-r").arg(&self.repo);
        for o in self.options.iter().chain(more_options) {
            c.arg("-o").arg(o);
        }
        c.args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("BUNKER_PASSWORD", PASSWORD)
            .env("BUNKER_CACHE_DIR", self.cache.path())
            .env_remove("BUNKER_REPOSITORY");
        c
    }

    fn raw(&self, args: &[&str]) -> Output {
        run_with_stdin(&mut self.command(args), None)
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.raw(args);
        assert!(
            o.status.success(),
            "bunker -r {} {args:?} failed: status {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.repo,
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn snapshot_count(&self) -> usize {
        let out = self.ok(&["snapshots", "--json"]);
        serde_json::from_str::<serde_json::Value>(&out)
            .expect("json")
            .as_array()
            .expect("array")
            .len()
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The round trips every service must pass: init, two backups (a tree and a stream),
/// restore and compare, check --read-data, the oracle's own check and listing, forget +
/// prune, and a copy to a second service that restores the same tree.
fn round_trips(remote: &Remote, oracle: (&str, OracleRepo), other: &Remote) {
    let scratch = Scratch::new();
    let src = scratch.path("src");
    make_tricky_tree(&src, false);
    remote.ok(&["init"]);
    remote.ok(&["backup", s(&src)]);
    write(&src.join("big/added.bin"), &noise(700_000, 7));
    remote.ok(&["backup", s(&src)]);
    let stream = noise(2_000_000, 9);
    let o = run_with_stdin(
        &mut remote.command(&["backup", "--stdin", "--stdin-filename", "stream.bin"]),
        Some(&stream),
    );
    assert!(
        o.status.success(),
        "stdin backup: {}",
        String::from_utf8_lossy(&o.stderr)
    );

    let target = scratch.path("restore");
    remote.ok(&[
        "restore",
        "latest",
        "--path",
        s(&src),
        "--target",
        s(&target),
    ]);
    assert_same_tree(&src, &restored(&target, &src));
    let cached_packs = walk_files(remote.cache.path())
        .into_iter()
        .filter(|p| p.parent().and_then(Path::file_name) == Some("data".as_ref()))
        .count();
    assert!(cached_packs > 0, "the packs of tree blobs are cached");
    remote.ok(&["check", "--read-data"]);

    let (tool_name, oracle) = oracle;
    oracle.run(tool_name, &["check", "--read-data"]);
    let listed = oracle.run(tool_name, &["ls", "latest"]);
    assert!(
        listed.contains("stream.bin"),
        "{tool_name} ls latest:\n{listed}"
    );

    // The cache holds the snapshot files; a damaged entry is fetched again.
    assert_eq!(remote.snapshot_count(), 3);
    let cached: Vec<PathBuf> = walk_files(remote.cache.path())
        .into_iter()
        .filter(|p| p.parent().and_then(Path::file_name) == Some("snapshots".as_ref()))
        .collect();
    assert_eq!(cached.len(), 3, "cached snapshot files: {cached:?}");
    std::fs::write(&cached[0], b"damaged").expect("write");
    assert_eq!(remote.snapshot_count(), 3);

    remote.ok(&["forget", "--keep-last", "1", "--prune"]);
    assert_eq!(
        remote.snapshot_count(),
        2,
        "one tree snapshot and the stream"
    );
    remote.ok(&["check", "--read-data"]);
    oracle.run(tool_name, &["check", "--read-data"]);
    let cached = walk_files(&remote.cache.path().join("repos"))
        .into_iter()
        .filter(|p| p.parent().and_then(Path::file_name) == Some("snapshots".as_ref()))
        .count();
    assert_eq!(cached, 2, "the forgotten snapshot left the cache");

    other.ok(&["init"]);
    let o = remote
        .command_with(&["copy", "--to", &other.repo], &other.options)
        .env("BUNKER_TO_PASSWORD", PASSWORD)
        .envs(other.env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("spawn");
    assert!(
        o.status.success(),
        "copy: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(other.snapshot_count(), 2);
    let copied = scratch.path("copied");
    other.ok(&[
        "restore",
        "latest",
        "--path",
        s(&src),
        "--target",
        s(&copied),
    ]);
    assert_same_tree(&src, &restored(&copied, &src));
    let streamed = scratch.path("streamed");
    other.ok(&[
        "restore",
        "latest",
        "--path",
        "/stream.bin",
        "--target",
        s(&streamed),
    ]);
    assert_eq!(
        std::fs::read(streamed.join("stream.bin")).expect("read"),
        stream
    );
    other.ok(&["check", "--read-data"]);
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn s3_on_garage_round_trips_and_restic_reads_it() {
    let garage = Garage::single();
    let gcs = FakeGcs::start();
    round_trips(
        &Remote::s3(&garage, "repo"),
        ("restic", garage.restic("repo")),
        &Remote::gcs(&gcs, "copy"),
    );
}

#[test]
fn gcs_round_trips_and_rustic_reads_it() {
    let gcs = FakeGcs::start();
    let azurite = Azurite::start();
    round_trips(
        &Remote::gcs(&gcs, "repo"),
        ("rustic", gcs.rustic("repo")),
        &Remote::azure(&azurite, "copy"),
    );
}

#[test]
fn azure_round_trips_and_restic_reads_it() {
    let azurite = Azurite::start_on_emulator_port();
    let sftp = Sftp::start();
    round_trips(
        &Remote::azure(&azurite, "repo"),
        ("restic", azurite.restic("repo")),
        &Remote::sftp(&sftp, "copy"),
    );
}

#[test]
fn sftp_round_trips_and_restic_reads_it() {
    let sftp = Sftp::start();
    let garage = Garage::single();
    round_trips(
        &Remote::sftp(&sftp, "repo"),
        ("restic", sftp.restic("repo")),
        &Remote::s3(&garage, "copy"),
    );
}

/// Writes `n` files of 4 MiB of noise: enough that a backup or restore is still running
/// when a node is stopped under it.
fn bulky_tree(root: &Path, n: u64) {
    for i in 0..n {
        write(
            &root.join(format!("part-{i:03}.bin")),
            &noise(4 << 20, 1000 + i),
        );
    }
}

#[test]
fn garage_cluster_backs_up_and_restores_with_a_node_stopped() {
    let mut garage = Garage::cluster(3);
    let remote = Remote::s3(&garage, "repo");
    let scratch = Scratch::new();
    let src = scratch.path("src");
    bulky_tree(&src, 24);
    remote.ok(&["init"]);

    // Node 2 dies while the backup is uploading; node 0, which the client talks to, still
    // has a quorum (2 of 3) for every write.
    let backup = remote
        .command(&["backup", s(&src)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    garage.stop_node(2);
    let o = backup.wait_with_output().expect("wait");
    assert!(
        o.status.success(),
        "backup with a node stopped: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    remote.ok(&["check", "--read-data"]);
    garage.start_node(2);

    // Node 1 dies during the restore.
    let target = scratch.path("restore");
    let restore = remote
        .command(&["restore", "latest", "--target", s(&target)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(std::time::Duration::from_millis(700));
    garage.stop_node(1);
    let o = restore.wait_with_output().expect("wait");
    assert!(
        o.status.success(),
        "restore with a node stopped: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_same_tree(&src, &restored(&target, &src));
    garage
        .restic("repo")
        .run("restic", &["check", "--read-data"]);
}

#[test]
fn injected_faults_end_in_a_complete_backup_or_a_clean_failure() {
    let garage = Garage::single();
    let remote = Remote::s3(&garage, "repo");
    let scratch = Scratch::new();
    let src = scratch.path("src");
    bulky_tree(&src, 3);
    make_tricky_tree(&src.join("tricky"), false);
    remote.ok(&["init"]);

    // With retries, every fault is absorbed: the backups complete and restore exactly.
    for seed in 1..=3 {
        write(
            &src.join(format!("round-{seed}.bin")),
            &noise(1 << 20, seed),
        );
        let faults = format!("fail=0.15,lost=0.1,truncate=0.1,delay=0.1,seed={seed}");
        let o = remote
            .command(&["backup", s(&src)])
            .env("BUNKER_INJECT_FAULTS", &faults)
            .output()
            .expect("spawn");
        assert!(
            o.status.success(),
            "backup under {faults}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let target = scratch.path(&format!("restore-{seed}"));
        let o = remote
            .command(&["restore", "latest", "--target", s(&target)])
            .env("BUNKER_INJECT_FAULTS", &faults)
            .output()
            .expect("spawn");
        assert!(
            o.status.success(),
            "restore under {faults}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_same_tree(&src, &restored(&target, &src));
    }

    // Without retries, faults end backups early: each fails with one line, and what
    // it left behind checks clean.
    let mut failures = 0;
    for seed in 10..=14 {
        write(&src.join(format!("late-{seed}.bin")), &noise(3 << 20, seed));
        let o = remote
            .command_with(&["backup", s(&src)], &["retries=0".to_string()])
            .env(
                "BUNKER_INJECT_FAULTS",
                format!("fail=0.08,lost=0.05,truncate=0.05,seed={seed}"),
            )
            .output()
            .expect("spawn");
        if !o.status.success() {
            failures += 1;
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{err}");
            assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
            assert!(err.starts_with("bunker: storage "), "{err}");
        }
        remote.ok(&["check", "--read-data"]);
    }
    assert!(
        failures > 0,
        "no backup failed: the faults were not injected"
    );
    garage
        .restic("repo")
        .run("restic", &["check", "--read-data"]);
    let before = remote.snapshot_count();
    remote.ok(&["backup", s(&src)]);
    assert_eq!(remote.snapshot_count(), before + 1);
    let target = scratch.path("restore-last");
    remote.ok(&["restore", "latest", "--target", s(&target)]);
    assert_same_tree(&src, &restored(&target, &src));
}

#[test]
fn append_only_client_adds_and_a_trusted_place_prunes() {
    let sftp = Sftp::start_append_only();
    let remote = Remote::sftp(&sftp, "repo");
    let add_only = |args: &[&str]| {
        let mut a = vec!["--append-only"];
        a.extend_from_slice(args);
        remote.raw(&a)
    };
    let scratch = Scratch::new();
    let src = scratch.path("src");
    make_tricky_tree(&src, false);
    let ok = |o: Output| {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    ok(add_only(&["init"]));
    ok(add_only(&["backup", s(&src)]));
    write(&src.join("second.txt"), b"second run\n");
    ok(add_only(&["backup", s(&src)]));
    // Its locks stay behind (it may not remove them); they are stale once it has exited.
    assert!(
        std::fs::read_dir(sftp.remote_dir().join("repo/locks"))
            .expect("locks")
            .count()
            > 0
    );

    // The client refuses what would delete, before it starts.
    let o = add_only(&["forget", "--keep-last", "1", "--prune"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("append-only") && err.trim().lines().count() == 1,
        "{err}"
    );
    // A client that ignores the mode is stopped by the server, and nothing is lost.
    let o = remote.raw(&["forget", "--keep-last", "1"]);
    assert!(!o.status.success(), "the server let a client delete");
    assert_eq!(remote.snapshot_count(), 2);
    remote.ok(&["check", "--read-data"]);

    // Retention runs where deleting is allowed: here, on the machine that holds the files.
    let trusted = sftp.remote_dir().join("repo");
    bunker(&trusted, &["unlock"]);
    bunker(&trusted, &["forget", "--keep-last", "1", "--prune"]);
    bunker(&trusted, &["check", "--read-data"]);
    // (restic on the trusted side too: over this server it could not remove its lock.)
    restic(&trusted, &["check", "--read-data"]);
    assert_eq!(remote.snapshot_count(), 1);
    let target = scratch.path("restore");
    remote.ok(&["restore", "latest", "--target", s(&target)]);
    assert_same_tree(&src, &restored(&target, &src));
}

#[test]
fn storage_errors_are_one_line_with_the_documented_exit_code() {
    let garage = Garage::single();
    let remote = Remote::s3(&garage, "repo");
    remote.ok(&["init"]);
    let fails = |r: &Remote, args: &[&str], code: i32, needle: &str| {
        let o = r.raw(args);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: expected {needle:?} in {err}"
        );
        err
    };

    // A key the server does not know: access denied, the secret never printed.
    let mut wrong_key = Remote::s3(&garage, "repo");
    wrong_key.env[1].1 = "0".repeat(64);
    let err = fails(&wrong_key, &["snapshots"], 1, "access denied");
    assert!(
        !err.contains(&garage.secret) && !err.contains(&"0".repeat(64)),
        "{err}"
    );

    // Nothing at that prefix, or a bucket that does not exist: no repository (10).
    fails(
        &Remote::s3(&garage, "elsewhere"),
        &["snapshots"],
        10,
        "no repository",
    );
    let no_bucket = Remote::new(
        format!("s3:{}/no-such-bucket/repo", garage.endpoint()),
        remote.env.clone(),
        vec![],
    );
    fails(&no_bucket, &["snapshots"], 10, "no-such-bucket");

    // The wrong password: 11, as on a local disk.
    let o = remote
        .command(&["snapshots"])
        .env("BUNKER_PASSWORD", "wrong")
        .output()
        .expect("spawn");
    assert_eq!(
        o.status.code(),
        Some(11),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // A server that is not there: retried, then one line naming the repository.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let gone = Remote::new(
        format!("s3:http://127.0.0.1:{port}/bunker/repo"),
        remote.env.clone(),
        vec!["retries=2".into()],
    );
    fails(
        &gone,
        &["snapshots"],
        1,
        &format!("127.0.0.1:{port}/bunker/repo"),
    );

    // Unknown options and locations are refused before any request.
    fails(
        &remote,
        &["-o", "s3.nonsense=1", "snapshots"],
        1,
        "unknown option",
    );
    let b2 = Remote::new("b2:bucket:/repo".into(), vec![], vec![]);
    fails(&b2, &["snapshots"], 1, "S3 endpoint");
}
