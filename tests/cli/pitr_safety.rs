//! What point-in-time recovery and the WAL archive must never do: write into the
//! primary's WAL directory, leave a half-recovered directory behind, fail for want of a
//! password, hide a damaged segment, or show a connection password to other users.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::pgcluster::Cluster;
use crate::pitr::{pgbench, postgres_ids, Archive, QUIET};
use crate::util::*;

/// The archived segments of timeline 1, oldest first, as stored in the repository.
fn archived_segments(repo: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = files_under(&repo.join("wal"))
        .into_iter()
        .filter(|p| {
            p.parent().and_then(|d| d.file_name()) == Some("00000001".as_ref())
                && p.file_name().is_some_and(|n| n.len() == 24)
        })
        .collect();
    v.sort();
    v
}

fn wal_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.len() == 24)
        .collect();
    v.sort();
    v
}

#[test]
fn pitr_of_a_cluster_with_its_wal_elsewhere_never_touches_the_primarys_wal() {
    let a = Archive::new();
    let conf = a.conf();
    let conf: Vec<&str> = conf.iter().map(String::as_str).collect();
    let c = Cluster::start_with_waldir(&conf);
    assert!(std::fs::symlink_metadata(c.data().join("pg_wal"))
        .unwrap()
        .file_type()
        .is_symlink());
    c.sql(
        "postgres",
        "CREATE TABLE t (i int); INSERT INTO t SELECT generate_series(1, 100)",
    );
    let out = a.bunker(&["pg", "basebackup", "--dsn", &c.dsn("postgres")]);
    assert!(out.contains("base backup of system"), "{out}");
    c.sql("postgres", "INSERT INTO t SELECT generate_series(101, 200)");
    a.switch_and_wait(&c);

    // Recovery to the end promotes a new timeline and writes its WAL: into its own
    // pg_wal, a directory, never into the primary's.
    let r = a.pitr("recovered", &["--latest", "--set", QUIET]);
    assert_eq!(r.sql("SELECT count(*) FROM t"), "200");
    r.sql("INSERT INTO t VALUES (0); CHECKPOINT; SELECT pg_switch_wal()");
    let wal = r.dir.join("pg_wal");
    let m = std::fs::symlink_metadata(&wal).unwrap();
    assert!(m.is_dir() && !m.file_type().is_symlink(), "{m:?}");
    assert!(
        wal_files(&wal).iter().any(|n| n.starts_with("00000002")),
        "{:?}",
        wal_files(&wal)
    );
    let primary_wal = wal_files(&c.waldir());
    assert!(
        primary_wal.iter().all(|n| n.starts_with("00000001")),
        "the recovered server wrote into the primary's WAL directory: {primary_wal:?}"
    );
    let (uid, _) = postgres_ids();
    assert_eq!(std::fs::metadata(c.waldir()).unwrap().uid(), uid);
    drop(r);

    // The primary goes on: it writes, checkpoints and archives after the recovery.
    c.sql("postgres", "INSERT INTO t VALUES (201); CHECKPOINT");
    a.switch_and_wait(&c);
    assert_eq!(c.sql("postgres", "SELECT count(*) FROM t"), "201");
    c.stop();
    c.start_again();
    assert_eq!(c.sql("postgres", "SELECT count(*) FROM t"), "201");

    // pg standby restores the same link as a directory of its own too.
    let s = a.standby("standby", &["--set", QUIET]);
    let m = std::fs::symlink_metadata(s.dir.join("pg_wal")).unwrap();
    assert!(m.is_dir() && !m.file_type().is_symlink(), "{m:?}");
    assert!(s.report.contains("standby running"), "{}", s.report);
    assert!(!s.report.contains("timeline 0"), "{}", s.report);
}

#[test]
fn pitr_restore_command_finds_the_password_when_it_came_from_the_environment() {
    let a = Archive::new();
    let c = a.start_cluster();
    c.sql(
        "postgres",
        "CREATE TABLE t (i int); INSERT INTO t SELECT generate_series(1, 10)",
    );
    a.bunker(&["pg", "basebackup", "--dsn", &c.dsn("postgres")]);
    c.sql("postgres", "INSERT INTO t SELECT generate_series(11, 50)");
    a.switch_and_wait(&c);

    // The password only in BUNKER_PASSWORD (no file, no command): the server that
    // replays the archive does not have that variable.
    let dir = a.scratch.path("recovered");
    let sock = a.scratch.path("sockets");
    std::fs::create_dir(&sock).unwrap();
    crate::pitr::chown_r(&sock, postgres_ids().0, postgres_ids().1);
    let port = crate::pitr::free_port();
    let out = bunker_raw_as(
        &a.bin,
        &a.repo(),
        &[
            "pitr",
            "--to",
            dir.to_str().unwrap(),
            "--latest",
            "--start",
            "--set",
            &format!("port={port}"),
            "--set",
            &format!("unix_socket_directories={}", sock.display()),
            "--set",
            QUIET,
        ],
        None,
    );
    let recovered = crate::pitr::Recovered {
        dir: dir.clone(),
        port,
        socket: sock,
        report: String::from_utf8_lossy(&out.stdout).into_owned(),
    };
    assert!(
        out.status.success(),
        "{}{}",
        recovered.report,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(recovered.sql("SELECT count(*) FROM t"), "50");
    let pw = dir.join("bunker-restore.password");
    let m = std::fs::metadata(&pw).unwrap();
    assert_eq!(m.permissions().mode() & 0o777, 0o600);
    assert_eq!(m.uid(), postgres_ids().0);
    assert_eq!(std::fs::read_to_string(&pw).unwrap().trim(), PASSWORD);
    let conf = std::fs::read_to_string(dir.join("postgresql.auto.conf")).unwrap();
    assert!(
        conf.contains("--password-file") && conf.contains("bunker-restore.password"),
        "{conf}"
    );
    assert!(!conf.contains(PASSWORD), "{conf}");
}

#[test]
fn pitr_that_fails_removes_what_it_wrote() {
    let a = Archive::new();
    let c = a.start_cluster();
    c.sql("postgres", "CREATE TABLE t (i int)");
    a.bunker(&["pg", "basebackup", "--dsn", &c.dsn("postgres")]);
    a.switch_and_wait(&c);

    // The server refuses the setting: nothing of the restore remains.
    let dir = a.scratch.path("new");
    let out = a.bunker_raw(&[
        "pitr",
        "--to",
        dir.to_str().unwrap(),
        "--latest",
        "--start",
        "--set",
        "shared_buffers=many",
        "--set",
        QUIET,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("did not start"), "{err}");
    assert!(!dir.exists(), "{:?}", files_under(&dir));

    // An empty directory given by the user stays, empty.
    let given = a.scratch.path("given");
    std::fs::create_dir(&given).unwrap();
    let out = a.bunker_raw(&[
        "pitr",
        "--to",
        given.to_str().unwrap(),
        "--latest",
        "--start",
        "--set",
        "shared_buffers=many",
    ]);
    assert!(!out.status.success());
    assert!(given.is_dir());
    assert_eq!(std::fs::read_dir(&given).unwrap().count(), 0);

    // A value already quoted is written as given, not quoted twice.
    let ok = a.scratch.path("quoted");
    a.bunker(&[
        "pitr",
        "--to",
        ok.to_str().unwrap(),
        "--latest",
        "--set",
        "application_name='from bunker'",
        "--set",
        "port=5999",
    ]);
    let conf = std::fs::read_to_string(ok.join("postgresql.auto.conf")).unwrap();
    assert!(
        conf.contains("application_name = 'from bunker'\n") && conf.contains("port = '5999'\n"),
        "{conf}"
    );
}

#[test]
fn pg_info_never_reports_a_negative_lag() {
    let a = Archive::new();
    let c = a.start_cluster();
    a.bunker(&["pg", "basebackup", "--dsn", &c.dsn("postgres")]);
    // Right after a switch the server's current file is the one just archived.
    a.switch_and_wait(&c);
    let info = a.bunker(&["--json", "pg", "info", "--dsn", &c.dsn("postgres")]);
    let v: serde_json::Value = serde_json::from_str(&info).unwrap();
    let archive = &v[0]["archive"];
    assert_eq!(archive["segments_behind"], 0, "{info}");
    assert_eq!(
        archive["current_wal_file"], archive["last_in_archive"],
        "{info}"
    );
    let text = a.bunker(&["pg", "info", "--dsn", &c.dsn("postgres")]);
    assert!(!text.contains("-1 segments"), "{text}");
}

#[test]
fn a_flipped_byte_in_an_archived_segment_fails_check_and_opens_a_gap_in_pg_info() {
    let a = Archive::new();
    let c = a.start_cluster();
    a.bunker(&["pg", "basebackup", "--dsn", &c.dsn("postgres")]);
    for _ in 0..3 {
        pgbench(&c, &["-i", "-s", "1", "-q"]);
        a.switch_and_wait(&c);
    }
    bunker(&a.repo(), &["check", "--read-data"]);
    let clean = a.bunker(&["pg", "info", "--read-data"]);
    assert!(
        clean.contains("every archived file read back intact") && !clean.contains("GAP"),
        "{clean}"
    );

    let segments = archived_segments(&a.repo());
    assert!(segments.len() >= 4, "{segments:?}");
    let victim = &segments[segments.len() - 2];
    let name = victim.file_name().unwrap().to_str().unwrap().to_string();
    flip_byte(victim, |n| n / 2);

    let out = bunker_raw(&a.repo(), &["check", "--read-data"], None);
    let err = String::from_utf8_lossy(&out.stderr);
    let all = format!("{}{err}", String::from_utf8_lossy(&out.stdout));
    assert!(!out.status.success(), "{all}");
    assert!(all.contains(&name), "{all}");

    // Listing alone cannot see the damage; reading does, and the window stops there.
    let info = a.bunker(&["--json", "pg", "info", "--read-data"]);
    let v: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(v[0]["damaged"][0]["name"], name.as_str(), "{info}");
    let window = &v[0]["timelines"][0]["window"];
    assert_eq!(window["gap"]["first"], name.as_str(), "{info}");
    assert_eq!(window["gap"]["last"], name.as_str(), "{info}");
    let text = a.bunker(&["pg", "info", "--read-data"]);
    assert!(
        text.contains("DAMAGED") && text.contains(&format!("GAP: {name} to {name}")),
        "{text}"
    );
}

/// Every process's command line, as any user of the machine can read it.
fn command_lines() -> Vec<String> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(raw) = std::fs::read(e.path().join("cmdline")) {
            v.push(String::from_utf8_lossy(&raw).replace('\0', " "));
        }
    }
    v
}

#[test]
fn dsn_passwords_never_reach_a_command_line() {
    let c = Cluster::start(&[]);
    let secret = format!("pw-{}", std::process::id());
    c.sql(
        "postgres",
        &format!("CREATE ROLE app LOGIN SUPERUSER PASSWORD '{secret}'"),
    );
    // The role must give its password: scram over the socket, before trust.
    let hba = c.data().join("pg_hba.conf");
    let text = std::fs::read_to_string(&hba).unwrap();
    write(
        &hba,
        format!("local all app scram-sha-256\n{text}").as_bytes(),
    );
    c.sql("postgres", "SELECT pg_reload_conf()");
    pgbench(&c, &["-i", "-s", "3", "-q"]);
    let s = Scratch::new();
    bunker(&s.repo(), &["init"]);
    let dsn = |pw: &str| {
        format!(
            "host={} port={} user=app dbname=postgres password={pw}",
            c.dir.path().display(),
            c.port
        )
    };

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new((0usize, Vec::<String>::new())));
    let watcher = {
        let (stop, seen, secret) = (stop.clone(), seen.clone(), secret.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for l in command_lines() {
                    let mut g = seen.lock().unwrap();
                    if l.contains("pg_dump") || l.contains("psql") {
                        g.0 += 1;
                    }
                    if l.contains(&secret) {
                        g.1.push(l);
                    }
                }
            }
        })
    };
    let mut cmd = std::process::Command::new(bunker_bin());
    cmd.arg("-r")
        .arg(s.repo())
        .args(["pg", "backup", "--all"])
        .env("BUNKER_PASSWORD", PASSWORD)
        .env("BUNKER_PG_DSN", dsn(&secret))
        .env_remove("PGPASSWORD");
    let out = run_with_stdin(&mut cmd, None);
    stop.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (tools, leaks) = seen.lock().unwrap().clone();
    assert!(tools > 0, "the watcher never saw a client tool run");
    assert!(leaks.is_empty(), "password on a command line: {leaks:?}");

    // The password did reach the tools: a wrong one fails the backup.
    let mut cmd = std::process::Command::new(bunker_bin());
    cmd.arg("-r")
        .arg(s.repo())
        .args(["pg", "backup", "--all"])
        .env("BUNKER_PASSWORD", PASSWORD)
        .env("BUNKER_PG_DSN", dsn("wrong"))
        .env_remove("PGPASSWORD");
    let out = run_with_stdin(&mut cmd, None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(!err.contains(&secret), "{err}");

    // Restoring with the same connection string also keeps it out of sight.
    let target = "restored_bench";
    let mut cmd = std::process::Command::new(bunker_bin());
    cmd.arg("-r")
        .arg(s.repo())
        .args([
            "pg", "restore", "latest", "--db", "postgres", "--to", target,
        ])
        .env("BUNKER_PASSWORD", PASSWORD)
        .env("BUNKER_PG_DSN", dsn(&secret))
        .env_remove("PGPASSWORD");
    let out = run_with_stdin(&mut cmd, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        c.sql(target, "SELECT count(*) FROM pgbench_accounts"),
        "300000"
    );
}
