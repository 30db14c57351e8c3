//! The configuration as the front door: repository commands with `-r NAME` and
//! `--job NAME` (no location, password or DSN typed twice), `run --label`, `latest`
//! after `pg restore --replace`, a replace through a DSN that names the database, drills
//! of a random snapshot, and PITR through a configured repository, against real
//! repositories and throwaway PostgreSQL clusters.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::jobs::{bunker_cfg, ok};
use crate::pgcluster::{psql, Cluster};
use crate::util::*;

fn fails(o: Output) -> (Option<i32>, String) {
    assert!(
        !o.status.success(),
        "unexpected success:\n{}",
        String::from_utf8_lossy(&o.stdout)
    );
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn json(out: &str) -> serde_json::Value {
    json_result(out)
}

fn ids(snapshots: &serde_json::Value) -> Vec<String> {
    snapshots
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

fn tags_of(s: &serde_json::Value) -> Vec<String> {
    s["tags"]
        .as_array()
        .map(|t| t.iter().map(|x| x.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// A configuration with repository `main` (its password in a file) and `jobs`.
fn config(s: &Scratch, jobs: &str) -> PathBuf {
    std::fs::write(s.path("pass"), PASSWORD).unwrap();
    bunker(&s.path("main"), &["init"]);
    let cfg = s.path("bunker.toml");
    let text = format!(
        "[daemon]\nstate_dir = \"{state}\"\n\n[repositories.main]\nurl = \"{main}\"\npassword_file = \"{pass}\"\n\n{jobs}",
        state = s.path("state").display(),
        main = s.path("main").display(),
        pass = s.path("pass").display(),
    );
    std::fs::write(&cfg, text).unwrap();
    cfg
}

#[test]
fn repository_commands_take_a_configured_repository_or_job_by_name() {
    let s = Scratch::new();
    let src = s.path("src");
    make_tricky_tree(&src, false);
    let other = s.path("other");
    write(&other.join("x"), b"another job's data");
    let cfg = config(
        &s,
        &format!(
            "[repositories.second]\nurl = \"{}\"\npassword_command = \"cat {}\"\n\n[jobs.site]\nrepository = \"main\"\nsource = {{ type = \"files\", paths = [\"{}\"] }}\nretention = {{ keep_last = 1 }}\n\n[jobs.other]\nrepository = \"main\"\nsource = {{ type = \"files\", paths = [\"{}\"] }}\n",
            s.path("second").display(),
            s.path("pass").display(),
            src.display(),
            other.display()
        ),
    );
    bunker(&s.path("second"), &["init"]);
    // A labelled run is kept forever although the job keeps one snapshot.
    let labelled = ok(bunker_cfg(
        &cfg,
        &["run", "site", "--label", "pre-migration"],
    ));
    assert!(labelled.contains("job site: ok"), "{labelled}");
    write(&src.join("later.bin"), &noise(50_000, 7));
    ok(bunker_cfg(&cfg, &["run", "site"]));
    ok(bunker_cfg(&cfg, &["run", "other"]));

    // -r NAME: no location and no password on the command line or in the environment.
    let all = json(&ok(bunker_cfg(
        &cfg,
        &["-r", "main", "--json", "snapshots"],
    )));
    assert_eq!(all.as_array().unwrap().len(), 3, "{all}");
    // --job NAME: only the job's snapshots, and "latest" is the job's newest.
    let site = json(&ok(bunker_cfg(
        &cfg,
        &["--job", "site", "--json", "snapshots"],
    )));
    assert_eq!(site.as_array().unwrap().len(), 2, "{site}");
    let first = &site.as_array().unwrap()[0];
    assert!(
        tags_of(first).contains(&"pre-migration".to_string())
            && tags_of(first).contains(&"forever".to_string()),
        "{first}"
    );
    let out = s.path("out");
    ok(bunker_cfg(
        &cfg,
        &[
            "--job",
            "site",
            "restore",
            "latest",
            "--target",
            out.to_str().unwrap(),
        ],
    ));
    assert_same_tree(&src, &restored(&out, &src));
    let listing = ok(bunker_cfg(&cfg, &["--job", "site", "ls", "latest"]));
    assert!(listing.contains("later.bin"), "{listing}");
    let inside = format!("{}/later.bin", src.display());
    let dumped = bunker_cfg(
        &cfg,
        &["-r", "main", "--job", "site", "dump", "latest", &inside],
    );
    assert_eq!(ok_bytes(dumped), noise(50_000, 7));
    // The other job's latest is its own.
    let theirs = ok(bunker_cfg(&cfg, &["--job", "other", "ls", "latest"]));
    assert!(
        theirs.contains("/x") && !theirs.contains("later.bin"),
        "{theirs}"
    );
    ok(bunker_cfg(&cfg, &["-r", "main", "check", "--read-data"]));

    // forget --job without a policy applies the job's retention (keep_last = 1): of a
    // backup made by hand for the job and the job's last run, the older goes; the
    // labelled snapshot stays, and the other job's is not touched.
    ok(bunker_cfg(
        &cfg,
        &[
            "-r",
            "main",
            "backup",
            src.to_str().unwrap(),
            "--tag",
            "job=site",
        ],
    ));
    let newest = ids(&json(&ok(bunker_cfg(
        &cfg,
        &["--job", "site", "--json", "snapshots"],
    ))));
    assert_eq!(newest.len(), 3);
    ok(bunker_cfg(&cfg, &["--job", "site", "forget"]));
    let left = json(&ok(bunker_cfg(
        &cfg,
        &["-r", "main", "--json", "snapshots"],
    )));
    assert_eq!(left.as_array().unwrap().len(), 3, "{left}");
    let left_site = ids(&json(&ok(bunker_cfg(
        &cfg,
        &["--job", "site", "--json", "snapshots"],
    ))));
    assert_eq!(left_site, vec![newest[0].clone(), newest[2].clone()]);
    ok(bunker_cfg(&cfg, &["--job", "site", "prune"]));
    restic(&s.path("main"), &["check", "--read-data"]);
    // copy --to NAME: the destination's password from the configuration too; --job
    // copies only the job's snapshots.
    ok(bunker_cfg(
        &cfg,
        &["--job", "site", "copy", "--to", "second"],
    ));
    let copied = json(&ok(bunker_cfg(
        &cfg,
        &["-r", "second", "--json", "snapshots"],
    )));
    assert_eq!(copied.as_array().unwrap().len(), 2, "{copied}");
    restic(&s.path("second"), &["check", "--read-data"]);

    // The rule: a name the configuration does not declare is a path, and a path (with
    // '/') is never a name; neither is given the configured password.
    let (code, err) = fails(bunker_cfg(&cfg, &["-r", "mian", "snapshots"]));
    assert_eq!(code, Some(10), "{err}");
    assert!(err.contains("mian"), "{err}");
    let as_path = s.path("main");
    let (code, err) = fails(bunker_cfg(
        &cfg,
        &["-r", as_path.to_str().unwrap(), "snapshots"],
    ));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("no password"), "{err}");
    let (code, err) = fails(bunker_cfg(&cfg, &["--job", "nope", "snapshots"]));
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("no job named \"nope\"") && err.contains("site"),
        "{err}"
    );
    let (code, err) = fails(bunker_cfg(&cfg, &["run", "site", "--label", "a,b"]));
    assert_eq!(code, Some(2), "{err}");
}

fn ok_bytes(o: Output) -> Vec<u8> {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o.stdout
}

#[test]
fn a_postgres_source_that_names_no_database_is_refused_at_config_check() {
    let s = Scratch::new();
    let cfg = config(
        &s,
        "[jobs.db]\nrepository = \"main\"\nsource = { type = \"postgres\", dsn = \"host=/tmp\" }\n",
    );
    let (code, err) = fails(bunker_cfg(&cfg, &["config", "check"]));
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("bunker.toml:") && err.contains("databases = [") && err.contains("all = true"),
        "{err}"
    );
    let (code, _) = fails(bunker_cfg(&cfg, &["run", "db"]));
    assert_eq!(code, Some(2));
}

const SHOP: &str = "CREATE TABLE orders (id int PRIMARY KEY, amount numeric NOT NULL); \
                    INSERT INTO orders SELECT g, g * 1.5 FROM generate_series(1, 500) g;";

/// A cluster with database `shop`, and a configuration whose job `db` reaches it
/// through a DSN that names the database (as the seeds' DATABASE_URL does).
fn shop(s: &Scratch) -> (Cluster, PathBuf) {
    let c = Cluster::start(&[]);
    c.sql("postgres", "CREATE DATABASE shop");
    c.sql("shop", SHOP);
    let cfg = config(
        s,
        &format!(
            "[jobs.db]\nrepository = \"main\"\nsource = {{ type = \"postgres\", dsn = \"{}\", databases = [\"shop\"], globals = false }}\nverify = {{ expect_tables = [\"orders\"], min_rows = {{ orders = 400 }} }}\n",
            c.dsn("shop")
        ),
    );
    (c, cfg)
}

fn orders(c: &Cluster) -> String {
    c.sql("shop", "SELECT count(*) || ':' || sum(amount) FROM orders")
}

#[test]
fn latest_after_a_replace_through_a_dsn_naming_the_database_is_the_jobs_backup() {
    let s = Scratch::new();
    let (c, cfg) = shop(&s);
    let good = orders(&c);
    ok(bunker_cfg(&cfg, &["run", "db"]));
    c.sql("shop", "DELETE FROM orders WHERE id > 100");
    let damaged = orders(&c);

    // The DSN names `shop`: the swap runs from a maintenance database.
    let out = ok(bunker_cfg(
        &cfg,
        &[
            "--job",
            "db",
            "pg",
            "restore",
            "latest",
            "--db",
            "shop",
            "--replace",
            "--yes",
            "--drop-old",
        ],
    ));
    assert!(out.contains("replaced"), "{out}");
    assert_eq!(orders(&c), good);

    // latest is still the job's backup, not the safety snapshot of the damaged data:
    // for the job, and for every PostgreSQL backup of the repository.
    let csv = ok(bunker_cfg(
        &cfg,
        &[
            "--job", "db", "pg", "export", "latest", "--db", "shop", "--table", "orders", "--csv",
        ],
    ));
    assert_eq!(csv.lines().count(), 501, "{csv}");
    let csv = ok(bunker_cfg(
        &cfg,
        &[
            "-r",
            "main",
            "pg",
            "export",
            "latest",
            "--dsn",
            &c.dsn("postgres"),
            "--db",
            "shop",
            "--table",
            "orders",
            "--csv",
        ],
    ));
    assert_eq!(csv.lines().count(), 501);
    let safety = json(&ok(bunker_cfg(
        &cfg,
        &["-r", "main", "--json", "snapshots", "--tag", "pre-restore"],
    )));
    assert_eq!(safety.as_array().unwrap().len(), 1, "{safety}");
    assert!(!tags_of(&safety[0]).iter().any(|t| t.starts_with("job=")));
    // The safety snapshot holds the damaged data, by id.
    let safety_id = safety[0]["id"].as_str().unwrap();
    let csv = ok(bunker_cfg(
        &cfg,
        &[
            "--job", "db", "pg", "export", safety_id, "--db", "shop", "--table", "orders", "--csv",
        ],
    ));
    assert_eq!(csv.lines().count(), 101, "{damaged}");

    // A replace that fails before the swap leaves the database serving and no second
    // safety snapshot behind.
    c.sql("shop", "DELETE FROM orders WHERE id > 200");
    let before = orders(&c);
    let (code, err) = fails(bunker_cfg(
        &cfg,
        &[
            "--job",
            "db",
            "pg",
            "restore",
            "latest",
            "--db",
            "shop",
            "--replace",
            "--yes",
            "--jobs",
            "2",
            "--spool-dir",
            s.path("no/such/dir").to_str().unwrap(),
        ],
    ));
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("spool"), "{err}");
    assert_eq!(orders(&c), before);
    let safety = json(&ok(bunker_cfg(
        &cfg,
        &["-r", "main", "--json", "snapshots", "--tag", "pre-restore"],
    )));
    assert_eq!(safety.as_array().unwrap().len(), 1, "{safety}");
    let leftovers = c.sql(
        "postgres",
        "SELECT count(*) FROM pg_database WHERE datname LIKE '%bunker%' OR datname LIKE '%before_restore%'",
    );
    assert_eq!(leftovers, "0");
    restic(&s.path("main"), &["check", "--read-data"]);
}

#[test]
fn drills_take_the_job_and_a_random_snapshot_of_a_window() {
    let s = Scratch::new();
    let (c, cfg) = shop(&s);
    for i in 0..3 {
        c.sql(
            "shop",
            &format!("INSERT INTO orders VALUES ({}, 1)", 1000 + i),
        );
        ok(bunker_cfg(&cfg, &["run", "db"]));
    }
    let job_ids = ids(&json(&ok(bunker_cfg(
        &cfg,
        &["--job", "db", "--json", "snapshots"],
    ))));
    assert_eq!(job_ids.len(), 3);

    // The job's drill: its server and its checks from the configuration.
    let out = ok(bunker_cfg(&cfg, &["--job", "db", "drill"]));
    assert!(
        out.contains("has at least 400 rows") && out.contains("PASSED"),
        "{out}"
    );
    assert!(out.contains(&job_ids[2][..8]), "{out}");

    // Random snapshots of the last 30 days: each report names one of the job's.
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..8 {
        let r = json(&ok(bunker_cfg(
            &cfg,
            &[
                "--job", "db", "--json", "drill", "--random", "--within", "30d",
            ],
        )));
        assert_eq!(r["passed"], true, "{r}");
        assert_eq!(r["job"], "db", "{r}");
        let id = r["snapshot"].as_str().unwrap().to_string();
        assert!(job_ids.contains(&id), "{id} not among {job_ids:?}");
        seen.insert(id);
    }
    assert!(seen.len() > 1, "eight random drills all took {seen:?}");
    // drill pg takes the job too.
    let r = json(&ok(bunker_cfg(
        &cfg,
        &["--job", "db", "--json", "drill", "pg", "--random"],
    )));
    assert!(job_ids.contains(&r["snapshot"].as_str().unwrap().to_string()));
    // An empty window says so (every snapshot is older than a second by now).
    let (code, err) = fails(bunker_cfg(
        &cfg,
        &["--job", "db", "drill", "--random", "--within", "1s"],
    ));
    assert_eq!(code, Some(1));
    assert!(
        err.contains("no snapshot of job db in the last 1s"),
        "{err}"
    );
    let (code, err) = fails(bunker_cfg(&cfg, &["-r", "main", "drill"]));
    assert_eq!(code, Some(2), "{err}");
    // The drills are in the repository's history and the catalog.
    let history = json(&ok(bunker_cfg(
        &cfg,
        &["-r", "main", "--json", "drill", "history"],
    )));
    assert_eq!(history.as_array().unwrap().len(), 10, "{history}");
    let status = json(&ok(bunker_cfg(&cfg, &["--json", "status", "db"])));
    assert_eq!(status[0]["last_drill"]["passed"], true, "{status}");
    let leftovers = c.sql(
        "postgres",
        "SELECT count(*) FROM pg_database WHERE datname LIKE 'bunker_drill%'",
    );
    assert_eq!(leftovers, "0");
}

/// A file the cluster's postgres user (archive_command, restore_command) can read.
fn readable_by_postgres(p: &Path, mode: u32) {
    let u = nix::unistd::User::from_name("postgres").unwrap().unwrap();
    nix::unistd::chown(p, Some(u.uid), Some(u.gid)).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn pitr_by_job_recovers_through_the_configured_repository() {
    let s = Scratch::new();
    std::fs::set_permissions(s.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = s.path("bin/bunker");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::copy(bunker_bin(), &bin).unwrap();
    let cfg = config(&s, "");
    let out = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(s.path("main"))
        .output()
        .unwrap();
    assert!(out.status.success());
    readable_by_postgres(&s.path("pass"), 0o600);
    // The cluster archives through the configuration: no password in its settings.
    let archive = format!(
        "archive_command = 'BUNKER_CACHE_DIR={} {} --config {} -r main wal-push %p'",
        s.path("pgcache").display(),
        bin.display(),
        cfg.display()
    );
    let c = Cluster::start(&["wal_level = replica", "archive_mode = on", &archive]);
    c.sql("postgres", "CREATE DATABASE shop");
    c.sql("shop", SHOP);
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        "[jobs.db]\nrepository = \"main\"\nsource = {{ type = \"postgres\", dsn = \"{}\", databases = [\"shop\"] }}\n",
        c.dsn("shop")
    ));
    std::fs::write(&cfg, text).unwrap();
    readable_by_postgres(&cfg, 0o644);
    let run = |args: &[&str]| {
        let o = Command::new(&bin)
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .env_remove("BUNKER_PASSWORD")
            .env_remove("BUNKER_REPOSITORY")
            .env("BUNKER_CACHE_DIR", s.path("cache"))
            .output()
            .unwrap();
        ok(o)
    };
    run(&[
        "--job",
        "db",
        "pg",
        "basebackup",
        "--dsn",
        &c.dsn("postgres"),
    ]);
    c.sql(
        "shop",
        "INSERT INTO orders SELECT g, 2 FROM generate_series(501, 800) g",
    );
    let expected = orders(&c);
    let seg = c.sql(
        "postgres",
        "SELECT pg_walfile_name(pg_current_wal_lsn()); SELECT pg_switch_wal();",
    );
    let seg = seg.lines().next().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.sql(
        "postgres",
        "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver",
    ) < seg
    {
        assert!(Instant::now() < deadline, "{seg} not archived");
        std::thread::sleep(Duration::from_millis(100));
    }

    let to = s.path("recovered");
    let sockets = s.path("sockets");
    std::fs::create_dir(&sockets).unwrap();
    readable_by_postgres(&sockets, 0o755);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let report = run(&[
        "--job",
        "db",
        "pitr",
        "--to",
        to.to_str().unwrap(),
        "--latest",
        "--start",
        "--set",
        &format!("port={port}"),
        "--set",
        &format!("unix_socket_directories={}", sockets.display()),
        "--set",
        "archive_mode=off",
    ]);
    assert!(report.contains("recovery finished"), "{report}");
    let auto = std::fs::read_to_string(to.join("postgresql.auto.conf")).unwrap();
    assert!(
        auto.contains("-r ''main'' wal-fetch") && !auto.contains("password"),
        "{auto}"
    );
    let recovered = psql(
        &format!(
            "host={} port={port} user=postgres dbname=shop",
            sockets.display()
        ),
        "SELECT count(*) || ':' || sum(amount) FROM orders",
    );
    let pg_user = nix::unistd::User::from_name("postgres").unwrap().unwrap();
    let _ = Command::new(crate::pgcluster::server_bin().join("pg_ctl"))
        .args(["stop", "-m", "immediate", "-w", "-D"])
        .arg(&to)
        .uid(pg_user.uid.as_raw())
        .gid(pg_user.gid.as_raw())
        .output();
    assert_eq!(recovered, expected);
}
