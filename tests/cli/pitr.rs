//! Physical backups and point-in-time recovery against throwaway clusters that archive
//! with `bunker wal-push` as their archive_command: recoveries to a restore point, a
//! time and an LSN, timelines, streaming with `wal-receive` after a lost primary, and
//! the archive's failures.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::pgcluster::{psql, server_bin, Cluster};
use crate::util::*;

/// A repository the cluster's postgres user can write (archive_command runs as it),
/// with the password in a file.
pub(crate) struct Archive {
    pub(crate) scratch: Scratch,
    /// bunker as PostgreSQL runs it (archive_command, and the restore_command that pitr
    /// writes with its own path): a copy in the scratch directory, which the postgres
    /// user can reach wherever the checkout is (a clone under a 0700 directory).
    pub(crate) bin: PathBuf,
}

pub(crate) fn postgres_ids() -> (u32, u32) {
    let u = nix::unistd::User::from_name("postgres").unwrap().unwrap();
    (u.uid.as_raw(), u.gid.as_raw())
}

pub(crate) fn chown_r(path: &Path, uid: u32, gid: u32) {
    let out = Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{gid}"))
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success());
}

impl Archive {
    pub(crate) fn new() -> Archive {
        let scratch = Scratch::new();
        std::fs::set_permissions(scratch.dir.path(), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        bunker(&scratch.repo(), &["init"]);
        write(&scratch.path("password"), PASSWORD.as_bytes());
        let (uid, gid) = postgres_ids();
        chown_r(&scratch.repo(), uid, gid);
        chown_r(&scratch.path("password"), uid, gid);
        std::fs::set_permissions(
            scratch.path("password"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        let bin = scratch.path("bin/bunker");
        std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
        std::fs::copy(bunker_bin(), &bin).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        Archive { scratch, bin }
    }

    pub(crate) fn repo(&self) -> PathBuf {
        self.scratch.repo()
    }

    /// The settings of a cluster archiving into this repository.
    pub(crate) fn conf(&self) -> Vec<String> {
        vec![
            "wal_level = replica".into(),
            "archive_mode = on".into(),
            format!(
                "archive_command = 'BUNKER_CACHE_DIR={} {} -r {} --password-file {} wal-push %p'",
                self.scratch.path("cache").display(),
                self.bin.display(),
                self.repo().display(),
                self.scratch.path("password").display()
            ),
            "max_wal_senders = 4".into(),
        ]
    }

    pub(crate) fn start_cluster(&self) -> Cluster {
        let conf = self.conf();
        let conf: Vec<&str> = conf.iter().map(String::as_str).collect();
        Cluster::start(&conf)
    }

    /// bunker with the password file (so that the restore_command it writes carries it).
    pub(crate) fn bunker_raw(&self, args: &[&str]) -> Output {
        let pw = self.scratch.path("password");
        let mut all = vec!["--password-file", pw.to_str().unwrap()];
        all.extend_from_slice(args);
        bunker_raw_as(&self.bin, &self.repo(), &all, None)
    }

    pub(crate) fn bunker(&self, args: &[&str]) -> String {
        let o = self.bunker_raw(args);
        assert!(
            o.status.success(),
            "bunker {args:?} failed: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Waits until `segment` of system `sys` (any timeline) is archived.
    pub(crate) fn wait_archived(&self, c: &Cluster, segment: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let last = c.sql(
                "postgres",
                "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver",
            );
            if last.as_str() >= segment {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{segment} not archived (last: {last})"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Ends the current segment and waits for it to be archived.
    pub(crate) fn switch_and_wait(&self, c: &Cluster) {
        let seg = c.sql(
            "postgres",
            "SELECT pg_walfile_name(pg_current_wal_lsn()); SELECT pg_switch_wal();",
        );
        let seg = seg.lines().next().unwrap().to_string();
        self.wait_archived(c, &seg);
    }

    /// Recovers into a new directory and starts the server there.
    pub(crate) fn pitr(&self, name: &str, target: &[&str]) -> Recovered {
        self.recover(&["pitr"], name, target)
    }

    /// Builds a standby from the archive and starts it.
    pub(crate) fn standby(&self, name: &str, extra: &[&str]) -> Recovered {
        self.recover(&["pg", "standby"], name, extra)
    }

    pub(crate) fn recover(&self, command: &[&str], name: &str, target: &[&str]) -> Recovered {
        let dir = self.scratch.path(name);
        let port = free_port();
        let port_s = format!("port={port}");
        let sock_dir = self.scratch.path("sockets");
        if !sock_dir.exists() {
            std::fs::create_dir(&sock_dir).unwrap();
            let (uid, gid) = postgres_ids();
            chown_r(&sock_dir, uid, gid);
        }
        let sock = format!("unix_socket_directories={}", sock_dir.display());
        let mut args = command.to_vec();
        args.extend_from_slice(&["--to", dir.to_str().unwrap()]);
        args.extend_from_slice(target);
        args.extend_from_slice(&["--start", "--set", &port_s, "--set", &sock]);
        let out = self.bunker(&args);
        Recovered {
            dir,
            port,
            socket: sock_dir,
            report: out,
        }
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A recovered server, stopped when dropped.
pub(crate) struct Recovered {
    pub(crate) dir: PathBuf,
    pub(crate) port: u16,
    pub(crate) socket: PathBuf,
    pub(crate) report: String,
}

impl Recovered {
    pub(crate) fn sql(&self, sql: &str) -> String {
        psql(
            &format!(
                "host={} port={} user=postgres dbname=postgres",
                self.socket.display(),
                self.port
            ),
            sql,
        )
    }

    fn stop(&self) {
        let (uid, gid) = postgres_ids();
        let _ = Command::new(server_bin().join("pg_ctl"))
            .args(["stop", "-m", "fast", "-w", "-D"])
            .arg(&self.dir)
            .uid(uid)
            .gid(gid)
            .output();
    }
}

impl Drop for Recovered {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Recovered servers that do not archive: they leave no new timelines behind for the
/// next recovery from the same archive.
pub(crate) const QUIET: &str = "archive_mode=off";

const STATE: &str = "SELECT count(*) || ':' || sum(abalance) FROM pgbench_accounts";

pub(crate) fn pgbench(c: &Cluster, args: &[&str]) {
    let o = c.tool("pgbench", "postgres", args);
    assert!(
        o.status.success(),
        "pgbench: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn pitr_to_a_restore_point_a_time_and_an_lsn() {
    let a = Archive::new();
    let c = a.start_cluster();
    pgbench(&c, &["-i", "-s", "2", "-q"]);
    let out = a.bunker(&["pg", "basebackup", "--dsn", &c.dsn("postgres")]);
    assert!(out.contains("base backup of system"), "{out}");
    // More load after the base backup: it must come back from the archive.
    pgbench(&c, &["-n", "-t", "300", "-c", "2"]);
    c.sql(
        "postgres",
        "CREATE TABLE keep (i int); INSERT INTO keep SELECT generate_series(1, 1000)",
    );
    let at_point = c.sql("postgres", STATE);
    c.sql("postgres", "SELECT pg_create_restore_point('before_more')");
    c.sql(
        "postgres",
        "INSERT INTO keep SELECT generate_series(1001, 1500)",
    );
    std::thread::sleep(Duration::from_millis(50));
    let time = c.sql("postgres", "SELECT clock_timestamp()");
    let lsn = c.sql("postgres", "SELECT pg_current_wal_insert_lsn()");
    std::thread::sleep(Duration::from_millis(50));
    pgbench(&c, &["-n", "-t", "100"]);
    c.sql(
        "postgres",
        "INSERT INTO keep SELECT generate_series(1501, 1800)",
    );
    c.sql("postgres", "DROP TABLE keep");
    a.switch_and_wait(&c);

    let info = a.bunker(&["pg", "info", "--dsn", &c.dsn("postgres")]);
    assert!(
        info.contains("recoverable:") && !info.contains("GAP"),
        "{info}"
    );

    let r = a.pitr("rp", &["--name", "before_more", "--set", QUIET]);
    assert!(r.report.contains("recovery finished"), "{}", r.report);
    assert_eq!(r.sql("SELECT count(*) FROM keep"), "1000");
    assert_eq!(r.sql(STATE), at_point);
    drop(r);

    let r = a.pitr("time", &["--time", &time, "--set", QUIET]);
    assert_eq!(
        r.sql("SELECT count(*) || ':' || max(i) FROM keep"),
        "1500:1500"
    );
    drop(r);

    let r = a.pitr("lsn", &["--lsn", &lsn, "--set", QUIET]);
    assert_eq!(
        r.sql("SELECT count(*) || ':' || max(i) FROM keep"),
        "1500:1500"
    );
    drop(r);

    // --latest replays everything: the table is gone again, the accounts as now.
    let now = c.sql("postgres", STATE);
    let r = a.pitr("latest", &["--latest", "--set", QUIET]);
    assert_eq!(r.sql("SELECT to_regclass('keep') IS NULL"), "t");
    assert_eq!(r.sql(STATE), now);
    drop(r);

    // restic sees a valid repository, and the base backup is a data directory to it.
    restic(&a.repo(), &["check", "--read-data"]);
    let ls = restic(&a.repo(), &["ls", "latest"]);
    assert!(
        ls.contains("/backup_label") && ls.contains("/global/pg_control"),
        "{ls}"
    );
    assert!(
        !ls.contains("/postmaster.pid") && !ls.contains("/pg_wal/0000"),
        "{ls}"
    );
    bunker(&a.repo(), &["check", "--read-data"]);
}

#[test]
fn pitr_follows_a_new_timeline() {
    let a = Archive::new();
    let c = a.start_cluster();
    c.sql(
        "postgres",
        "CREATE TABLE t (v text); INSERT INTO t VALUES ('before backup')",
    );
    a.bunker(&["pg", "basebackup", "--dsn", &c.dsn("postgres")]);
    c.sql("postgres", "INSERT INTO t VALUES ('kept')");
    c.sql("postgres", "SELECT pg_create_restore_point('branch')");
    c.sql("postgres", "INSERT INTO t VALUES ('lost on the branch')");
    a.switch_and_wait(&c);

    // Recover to the restore point: the server promotes onto timeline 2 and, with the
    // same archive_command, archives it. Write on the new timeline.
    let r = a.pitr("tl2", &["--name", "branch"]);
    assert!(r.report.contains("timeline 2"), "{}", r.report);
    r.sql("INSERT INTO t VALUES ('written on timeline 2')");
    let seg = r.sql("SELECT pg_walfile_name(pg_current_wal_lsn())");
    r.sql("SELECT pg_switch_wal()");
    let deadline = Instant::now() + Duration::from_secs(30);
    while r.sql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver") < seg {
        assert!(Instant::now() < deadline, "timeline 2 not archived");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(r);

    let info = a.bunker(&["pg", "info"]);
    assert!(
        info.contains("newest timeline 2") && info.contains("timeline 2:"),
        "{info}"
    );

    // Again, now along timeline 2 (the newest): the branch's write is there, the row
    // written on timeline 1 after the branch point is not.
    let r = a.pitr("tl2-again", &["--latest"]);
    let rows = r.sql("SELECT string_agg(v, ',' ORDER BY v) FROM t");
    assert_eq!(rows, "before backup,kept,written on timeline 2");
    drop(r);
    // And along timeline 1 explicitly: the original history.
    let r = a.pitr("tl1", &["--latest", "--timeline", "1"]);
    let rows = r.sql("SELECT string_agg(v, ',' ORDER BY v) FROM t");
    assert_eq!(rows, "before backup,kept,lost on the branch");
    drop(r);

    // The DR site: a standby of the original primary, built from the archive, then
    // streaming from the primary.
    let conninfo = c.dsn("postgres");
    let s = a.standby(
        "standby",
        &[
            "--timeline",
            "1",
            "--primary-conninfo",
            &conninfo,
            "--set",
            QUIET,
        ],
    );
    assert_eq!(s.sql("SELECT pg_is_in_recovery()"), "t");
    c.sql(
        "postgres",
        "INSERT INTO t VALUES ('after the standby started')",
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.sql("SELECT count(*) FROM t WHERE v = 'after the standby started'") != "1" {
        assert!(
            Instant::now() < deadline,
            "the standby does not follow the primary"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn wal_receive_keeps_the_last_commit_of_a_lost_primary() {
    let a = Archive::new();
    let c = a.start_cluster();
    c.sql("postgres", "CREATE TABLE t (v text)");
    // This base backup as pg_basebackup's tar stream (what a remote server gets).
    let out = a.bunker(&["pg", "basebackup", "--stream", "--dsn", &c.dsn("postgres")]);
    assert!(out.contains("base backup of system"), "{out}");
    let spool = a.scratch.path("spool");
    let mut receiver = Command::new(bunker_bin())
        .args(["-r", a.repo().to_str().unwrap(), "--password-file"])
        .arg(a.scratch.path("password"))
        .args(["wal-receive", "--interval", "200ms", "--spool"])
        .arg(&spool)
        .args(["--dsn", &c.dsn("postgres")])
        .env_remove("BUNKER_REPOSITORY")
        .env("BUNKER_CACHE_DIR", a.scratch.path("cache"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    c.sql("postgres", "INSERT INTO t VALUES ('first')");
    a.switch_and_wait(&c);
    c.sql("postgres", "INSERT INTO t VALUES ('last words')");
    let committed = Instant::now();
    // The segment in progress reaches the repository within the interval: that is the
    // RPO. archive_command alone would keep it only at the next segment switch.
    let sys = c.sql(
        "postgres",
        "SELECT system_identifier FROM pg_control_system()",
    );
    let dir = a.repo().join("wal").join(&sys).join("00000001");
    let deadline = committed + Duration::from_secs(20);
    loop {
        let fresh = std::fs::read_dir(&dir).unwrap().flatten().any(|e| {
            e.file_name().to_string_lossy().ends_with(".streaming")
                && e.metadata().unwrap().modified().unwrap().elapsed().unwrap()
                    < committed.elapsed()
        });
        if fresh {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the streamed segment never reached the repository"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "RPO with wal-receive: the commit was in the repository after {:?}",
        committed.elapsed()
    );
    // Lose the primary: kill -9 and delete its data directory.
    let pid = std::fs::read_to_string(c.data().join("postmaster.pid")).unwrap();
    let pid: i32 = pid.lines().next().unwrap().trim().parse().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    std::fs::remove_dir_all(c.data()).unwrap();
    let _ = receiver.kill();
    let _ = receiver.wait();

    let r = a.pitr("recovered", &["--latest"]);
    assert!(r.report.contains("streamed segment"), "{}", r.report);
    assert_eq!(
        r.sql("SELECT string_agg(v, ',' ORDER BY v) FROM t"),
        "first,last words"
    );
}

#[test]
fn archive_failures_are_refused_with_the_reason() {
    let a = Archive::new();
    let c = a.start_cluster();
    c.sql("postgres", "CREATE TABLE t (i int)");
    a.bunker(&["pg", "basebackup", "--dsn", &c.dsn("postgres")]);
    let mut segments = Vec::new();
    for i in 0..4 {
        c.sql("postgres", &format!("INSERT INTO t VALUES ({i})"));
        segments.push(c.sql("postgres", "SELECT pg_walfile_name(pg_current_wal_lsn())"));
        a.switch_and_wait(&c);
    }
    let lsn_at_end = c.sql("postgres", "SELECT pg_current_wal_lsn()");
    let sys = c.sql(
        "postgres",
        "SELECT system_identifier FROM pg_control_system()",
    );
    let tl = a.repo().join("wal").join(&sys).join("00000001");

    // The same segment pushed again: accepted. Different bytes under its name: refused.
    let name = &segments[1];
    let held = a.scratch.path("held");
    std::fs::create_dir_all(&held).unwrap();
    assert!(tl.join(name).is_file());
    let original = c.data().join("pg_wal").join(name);
    let copy = held.join(name);
    let bytes = match std::fs::read(&original) {
        Ok(b) => b,
        // Recycled already: fetch it back from the archive.
        Err(_) => {
            let o = a.bunker_raw(&[
                "wal-fetch",
                name,
                copy.to_str().unwrap(),
                "--pgdata",
                c.data().to_str().unwrap(),
            ]);
            assert_eq!(
                o.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&o.stderr)
            );
            std::fs::read(&copy).unwrap()
        }
    };
    std::fs::write(&copy, &bytes).unwrap();
    let pgdata = c.data();
    let push = |file: &Path| {
        a.bunker_raw(&[
            "wal-push",
            file.to_str().unwrap(),
            "--pgdata",
            pgdata.to_str().unwrap(),
        ])
    };
    let o = push(&copy);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut changed = bytes.clone();
    changed[bytes.len() / 2] ^= 0xff;
    std::fs::write(&copy, &changed).unwrap();
    let o = push(&copy);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("already archived with different contents"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // wal-fetch: 1 for a file the archive does not have, above 125 for a repository
    // that cannot be reached (recovery must stop, not end early).
    let dest = a.scratch.path("fetched");
    let o = a.bunker_raw(&[
        "wal-fetch",
        "0000000100000000000000F0",
        dest.to_str().unwrap(),
        "--pgdata",
        pgdata.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = Command::new(bunker_bin())
        .args([
            "-r",
            "/nonexistent/repo",
            "wal-fetch",
            name,
            dest.to_str().unwrap(),
            "--pgdata",
        ])
        .arg(&pgdata)
        .env("BUNKER_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(o.status.code().unwrap() > 125, "{:?}", o.status);
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/repo"));

    // A segment missing in the middle: recovery past it is refused, naming it.
    std::fs::remove_file(tl.join(&segments[2])).unwrap();
    let info = a.bunker(&["pg", "info"]);
    assert!(
        info.contains("GAP") && info.contains(&segments[2]),
        "{info}"
    );
    let to = a.scratch.path("gap");
    let o = a.bunker_raw(&["pitr", "--to", to.to_str().unwrap(), "--lsn", &lsn_at_end]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("past the recoverable window") && err.contains(&segments[2]),
        "{err}"
    );

    // A base backup whose WAL cannot be archived writes no snapshot.
    let broken = Cluster::start(&[
        "wal_level = replica",
        "archive_mode = on",
        "archive_command = '/bin/false'",
    ]);
    let o = a.bunker_raw(&[
        "pg",
        "basebackup",
        "--dsn",
        &broken.dsn("postgres"),
        "--archive-timeout",
        "3s",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("did not reach the archive"), "{err}");
    let snaps = a.bunker(&["snapshots", "--json"]);
    let n = serde_json::from_str::<serde_json::Value>(&snaps)
        .unwrap()
        .as_array()
        .unwrap()
        .len();
    assert_eq!(n, 1, "{snaps}");

    // Retention: with a newer base backup kept and the first forgotten, prune drops the
    // segments before the newer one's start.
    a.bunker(&["pg", "basebackup", "--dsn", &c.dsn("postgres")]);
    let before = std::fs::read_dir(&tl).unwrap().count();
    a.bunker(&["forget", "--keep-last", "1", "--prune"]);
    let after: Vec<String> = std::fs::read_dir(&tl)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(after.len() < before, "{after:?}");
    assert!(!after.contains(&segments[0]), "{after:?}");
    bunker(&a.repo(), &["check", "--read-data"]);
    restic(&a.repo(), &["check", "--read-data"]);
}
