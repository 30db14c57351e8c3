//! PostgreSQL logical backups against a throwaway cluster per test: round trips compared
//! row by row and schema by schema, deduplication across days, safe replace, table
//! recovery, drills, and the errors a user meets.

use std::process::Command;

use crate::pgcluster::Cluster;
use crate::util::*;

/// A schema that exercises what pg_dump must carry: many column types, an enum, a
/// domain, arrays, jsonb, bytea, a large object, sequences, a view, a function, a
/// trigger, an extension from contrib, roles and grants.
const RICH_SCHEMA: &str = r#"
CREATE ROLE app_owner LOGIN;
CREATE ROLE reader NOLOGIN;
CREATE DATABASE shop OWNER app_owner;
"#;

const RICH_TABLES: &str = r#"
CREATE EXTENSION citext;
CREATE TYPE order_status AS ENUM ('new', 'paid', 'shipped', 'cancelled');
CREATE DOMAIN positive_amount AS numeric(12,2) CHECK (VALUE > 0);
CREATE TABLE customers (
    id bigserial PRIMARY KEY,
    email citext UNIQUE NOT NULL,
    name text NOT NULL,
    tags text[] NOT NULL DEFAULT '{}',
    profile jsonb,
    avatar bytea,
    created timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE orders (
    id serial PRIMARY KEY,
    customer_id bigint REFERENCES customers(id),
    status order_status NOT NULL DEFAULT 'new',
    amount positive_amount NOT NULL,
    ratio double precision,
    placed timestamptz NOT NULL,
    items int[],
    note text,
    updated timestamptz
);
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.updated := '2026-01-01 00:00:00+00'; RETURN NEW; END $$;
CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION touch();
CREATE VIEW paid_orders AS SELECT id, amount FROM orders WHERE status = 'paid';
CREATE SEQUENCE invoice_numbers START 1000;
SELECT setval('invoice_numbers', 4242);
INSERT INTO customers (email, name, tags, profile, avatar, created)
SELECT 'User' || g || '@Example.com', 'Name ' || g || E' \u00e9\u4e2d\t"q"',
       ARRAY['t' || (g % 5), 'x,y'], jsonb_build_object('n', g, 'nested', jsonb_build_array(g, 'a\b', null)),
       decode(md5(g::text), 'hex'), '2026-01-01 00:00:00+00'::timestamptz + g * interval '37 minutes'
FROM generate_series(1, 2000) g;
INSERT INTO orders (customer_id, status, amount, ratio, placed, items, note)
SELECT 1 + g % 2000, (ARRAY['new','paid','shipped','cancelled'])[1 + g % 4]::order_status,
       (g % 997) + 0.01, g / 7.0, '2026-02-01 00:00:00+00'::timestamptz + g * interval '1 minute',
       ARRAY[g, g + 1, g * 2], CASE WHEN g % 10 = 0 THEN NULL ELSE E'line1\nline2 \\ ' || g END
FROM generate_series(1, 5000) g;
UPDATE orders SET note = note || '!' WHERE id % 100 = 0;
SELECT lo_from_bytea(0, convert_to(repeat('large object ', 5000), 'UTF8'));
GRANT SELECT ON orders, customers, paid_orders TO reader;
ALTER TABLE orders OWNER TO app_owner;
"#;

/// One checksum per user table over all rows, plus the large objects and sequences:
/// equal values mean equal contents.
fn content_digest(c: &Cluster, db: &str) -> String {
    let tables = c.sql(
        db,
        "SELECT string_agg(format('%I.%I', schemaname, tablename), ' ' ORDER BY schemaname, tablename) \
         FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
    );
    let mut out = Vec::new();
    for t in tables.split_whitespace() {
        out.push(format!(
            "{t} {}",
            c.sql(
                db,
                &format!("SELECT count(*) || ':' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') FROM {t} x")
            )
        ));
    }
    out.push(c.sql(
        db,
        "SELECT 'lo ' || count(*) || ':' || coalesce(md5(string_agg(md5(lo_get(oid)), '' ORDER BY oid)), '') FROM pg_largeobject_metadata",
    ));
    out.push(c.sql(
        db,
        "SELECT 'seq ' || string_agg(sequencename || '=' || coalesce(last_value, 0), ',' ORDER BY sequencename) FROM pg_sequences",
    ));
    out.join("\n")
}

/// `pg_dump --schema-only`, without the random `\restrict` keys of each run.
fn schema_dump(c: &Cluster, db: &str) -> String {
    let o = c.tool("pg_dump", db, &["--schema-only"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `words` split at spaces, with `--dsn DSN` after the command's first two words
/// (`pg backup`, `drill pg`) or after a leading `--json`.
fn pg_args<'a>(dsn: &'a str, words: &'a str) -> Vec<&'a str> {
    let mut v: Vec<&str> = words.split_whitespace().collect();
    let at = if v.first() == Some(&"--json") { 3 } else { 2 };
    v.splice(at..at, ["--dsn", dsn]);
    v
}

fn init_repo(s: &Scratch) -> std::path::PathBuf {
    let repo = s.repo();
    bunker(&repo, &["init"]);
    repo
}

fn databases(c: &Cluster) -> Vec<String> {
    c.sql("postgres", "SELECT datname FROM pg_database ORDER BY 1")
        .lines()
        .map(String::from)
        .collect()
}

fn snapshot_ids(repo: &std::path::Path) -> Vec<String> {
    let v: serde_json::Value =
        serde_json::from_str(&bunker(repo, &["--json", "snapshots"])).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

fn snapshot_count(repo: &std::path::Path) -> usize {
    snapshot_ids(repo).len()
}

#[test]
fn pg_round_trip_to_another_cluster_keeps_schema_rows_and_roles() {
    let s = Scratch::new();
    let repo = init_repo(&s);
    let src = Cluster::start(&[]);
    src.sql("postgres", RICH_SCHEMA);
    src.sql("shop", RICH_TABLES);
    let o = src.tool("pgbench", "shop", &["-i", "-s", "1", "-q"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dsn = src.dsn("postgres");
    let out = bunker(&repo, &pg_args(&dsn, "--json pg backup --all"));
    let summary = json_result(&out);
    let meta = &summary["postgres"];
    assert_eq!(meta["server_version_num"].as_u64().unwrap() / 10000, 15);
    let names: Vec<&str> = meta["databases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["postgres", "shop"]);
    assert!(meta["databases"][1]["size"].as_u64().unwrap() > 1_000_000);
    assert!(meta["pg_dump_version"].as_str().unwrap().starts_with("15."));

    // The repository is plain restic: it checks, and restic reads the dump bunker wrote.
    restic(&repo, &["check", "--read-data"]);
    let via_restic = restic(&repo, &["dump", "latest", "/shop.dump"]);
    assert!(via_restic.starts_with("PGDMP"));

    // Restore into a second, empty cluster: globals (roles) first, then the database.
    let dst = Cluster::start(&[]);
    let ddsn = dst.dsn("postgres");
    let o = bunker_raw(
        &repo,
        &pg_args(&ddsn, "pg restore latest --globals --db shop --to shop"),
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The role postgres exists already: reported, not fatal.
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));
    assert_eq!(
        dst.sql("postgres", "SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE rolname IN ('app_owner', 'reader')"),
        "app_owner,reader"
    );
    assert_eq!(
        dst.sql(
            "shop",
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'shop'"
        ),
        "app_owner"
    );
    assert_eq!(schema_dump(&src, "shop"), schema_dump(&dst, "shop"));
    assert_eq!(content_digest(&src, "shop"), content_digest(&dst, "shop"));
    // A parallel restore (the archive spooled to a file) gives the same database.
    let spool = s.path("spool");
    std::fs::create_dir(&spool).unwrap();
    bunker(
        &repo,
        &[
            "pg",
            "restore",
            "latest",
            "--dsn",
            &ddsn,
            "--db",
            "shop",
            "--to",
            "shop2",
            "--jobs",
            "2",
            "--spool-dir",
            spool.to_str().unwrap(),
        ],
    );
    assert_eq!(content_digest(&src, "shop"), content_digest(&dst, "shop2"));
    assert_eq!(
        std::fs::read_dir(&spool).unwrap().count(),
        0,
        "spool file left behind"
    );
    assert_eq!(
        dst.sql(
            "shop",
            "SELECT has_table_privilege('reader', 'orders', 'SELECT')"
        ),
        "t"
    );
    // The trigger came back and fires.
    dst.sql("shop", "UPDATE orders SET note = 'x' WHERE id = 1");
    assert_eq!(
        dst.sql("shop", "SELECT updated FROM orders WHERE id = 1"),
        "2026-01-01 00:00:00+00"
    );
}

#[test]
fn pg_second_day_dump_adds_a_small_fraction() {
    let s = Scratch::new();
    let repo = init_repo(&s);
    let c = Cluster::start(&[]);
    c.sql("postgres", "CREATE DATABASE app");
    let o = c.tool("pgbench", "app", &["-i", "-s", "5", "-q"]);
    assert!(o.status.success());
    let dsn = c.dsn("app");
    let added = |repo: &std::path::Path| -> (u64, u64) {
        let out = bunker(repo, &pg_args(&dsn, "--json pg backup --no-globals"));
        let v = json_result(&out);
        (
            v["data_added"].as_u64().unwrap(),
            v["data_added_packed"].as_u64().unwrap(),
        )
    };
    let first = added(&repo);
    // A typical day: 1% new rows appended, the most recent 1% updated.
    c.sql(
        "app",
        "INSERT INTO pgbench_accounts (aid, bid, abalance, filler) \
         SELECT g, 1 + g % 5, 0, '' FROM generate_series(500001, 505000) g; \
         UPDATE pgbench_accounts SET abalance = abalance + 7 WHERE aid > 500000 - 5000 AND aid <= 500000",
    );
    let second = added(&repo);
    assert!(first.0 > 40_000_000, "first dump added {first:?} bytes");
    // About 2% of the rows changed, at the dump's head (its header) and tail; whole
    // chunks around each change are stored again. Bounds: raw and stored bytes.
    assert!(
        second.0 * 4 < first.0 && second.1 * 10 < first.1,
        "second dump added {second:?} bytes (raw, stored), first {first:?}: deduplication does not work"
    );
    bunker(&repo, &["check", "--read-data"]);
}

#[test]
fn pg_replace_swaps_safely_and_a_failed_restore_leaves_the_original() {
    let s = Scratch::new();
    let repo = init_repo(&s);
    let c = Cluster::start(&[]);
    c.sql("postgres", "CREATE DATABASE app");
    c.sql("app", "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 1000) g");
    let dsn = c.dsn("postgres");
    bunker(&repo, &pg_args(&dsn, "pg backup --db app"));
    c.sql(
        "app",
        "INSERT INTO t SELECT g, 'later' FROM generate_series(1001, 1500) g",
    );

    // Without a terminal and without --yes: refused, nothing changed.
    let o = bunker_raw(
        &repo,
        &pg_args(&dsn, "pg restore latest --db app --replace"),
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--yes"));
    assert_eq!(c.sql("app", "SELECT count(*) FROM t"), "1500");

    // A session left open on the database does not block the swap.
    let mut idle = Command::new("psql")
        .args(["-X", "-d", &c.dsn("app"), "-c", "SELECT pg_sleep(60)"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let out = bunker(
        &repo,
        &pg_args(&dsn, "pg restore latest --db app --replace --yes"),
    );
    let _ = idle.kill();
    let _ = idle.wait();
    assert_eq!(c.sql("app", "SELECT count(*) FROM t"), "1000");
    // The old database is kept, and a safety snapshot of it is in the repository.
    let old: Vec<String> = databases(&c)
        .into_iter()
        .filter(|d| d.starts_with("app_before_restore_"))
        .collect();
    assert_eq!(old.len(), 1, "{out}");
    assert_eq!(c.sql(&old[0], "SELECT count(*) FROM t"), "1500");
    let snaps: serde_json::Value = serde_json::from_str(&bunker(
        &repo,
        &["--json", "snapshots", "--tag", "pre-restore"],
    ))
    .unwrap();
    assert_eq!(snaps.as_array().unwrap().len(), 1);
    c.sql("postgres", &format!("DROP DATABASE \"{}\"", old[0]));

    // Damage the data of the newest dump: the restore fails mid-way, the original stays.
    c.sql(
        "app",
        "INSERT INTO t SELECT g, repeat(md5(g::text), 40) FROM generate_series(2000, 40000) g",
    );
    let before_packs = pack_files(&repo);
    bunker(&repo, &pg_args(&dsn, "pg backup --db app --tag big"));
    let new_packs: Vec<_> = pack_files(&repo)
        .into_iter()
        .filter(|p| !before_packs.contains(p))
        .collect();
    assert!(!new_packs.is_empty());
    for p in &new_packs {
        let mut data = std::fs::read(p).unwrap();
        let mid = data.len() / 2;
        for b in &mut data[mid..mid + 64] {
            *b ^= 0xff;
        }
        std::fs::write(p, data).unwrap();
    }
    let digest = c.sql(
        "app",
        "SELECT count(*) || md5(string_agg(v, '' ORDER BY id)) FROM t",
    );
    let o = bunker_raw(
        &repo,
        &pg_args(&dsn, "pg restore latest --db app --replace --yes"),
        None,
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("damaged") || err.contains("pg_restore"),
        "{err}"
    );
    assert_eq!(
        c.sql(
            "app",
            "SELECT count(*) || md5(string_agg(v, '' ORDER BY id)) FROM t"
        ),
        digest
    );
    let leftovers: Vec<String> = databases(&c)
        .into_iter()
        .filter(|d| d.contains("bunker"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn pack_files(repo: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for d in std::fs::read_dir(repo.join("data")).unwrap() {
        for f in std::fs::read_dir(d.unwrap().path()).unwrap() {
            out.push(f.unwrap().path());
        }
    }
    out
}

#[test]
fn pg_table_recovery_brings_back_exactly_the_deleted_rows() {
    let s = Scratch::new();
    let repo = init_repo(&s);
    let c = Cluster::start(&[]);
    c.sql("postgres", RICH_SCHEMA);
    c.sql("shop", RICH_TABLES);
    let dsn = c.dsn("postgres");
    bunker(&repo, &pg_args(&dsn, "pg backup --db shop"));
    let deleted = "SELECT count(*) || ':' || md5(string_agg(o::text, '|' ORDER BY id)) FROM {} o WHERE customer_id % 7 = 0";
    let expected = c.sql("shop", &deleted.replace("{}", "public.orders"));
    c.sql("shop", "DELETE FROM orders WHERE customer_id % 7 = 0");
    c.sql(
        "shop",
        "INSERT INTO orders (customer_id, amount, placed) VALUES (1, 5, now())",
    );

    let out = bunker(
        &repo,
        &pg_args(
            &dsn,
            "pg restore latest --db shop --table orders --to-schema recovered",
        ),
    );
    assert!(out.contains("5000 rows"), "{out}");
    // The rows missing from the live table are exactly the ones deleted.
    let missing = c.sql(
        "shop",
        "SELECT count(*) || ':' || md5(string_agg(r::text, '|' ORDER BY id)) FROM recovered.orders r \
         WHERE NOT EXISTS (SELECT 1 FROM public.orders o WHERE o.id = r.id)",
    );
    assert_eq!(missing, expected);
    assert_eq!(
        c.sql("shop", &deleted.replace("{}", "recovered.orders")),
        expected
    );
    // The live table was not touched; the scratch database is gone.
    assert_eq!(
        c.sql(
            "shop",
            "SELECT count(*) FROM public.orders WHERE customer_id % 7 = 0"
        ),
        "0"
    );
    assert!(databases(&c).iter().all(|d| !d.contains("bunker")));
    // A second recovery into the same schema is refused, not overwritten.
    let o = bunker_raw(
        &repo,
        &pg_args(&dsn, "pg restore latest --db shop --table orders"),
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));

    // The same table as CSV.
    let csv = bunker(
        &repo,
        &pg_args(
            &dsn,
            "pg export latest --db shop --table public.customers --csv",
        ),
    );
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("id,email,name,tags,profile,avatar,created")
    );
    let via_psql = c.sql(
        "shop",
        "COPY (SELECT * FROM customers ORDER BY id) TO STDOUT WITH (FORMAT csv)",
    );
    let mut rows: Vec<&str> = csv.lines().skip(1).collect();
    rows.sort_by_key(|l| l.split(',').next().unwrap().parse::<u64>().unwrap_or(0));
    // Quoted fields may hold newlines in general; these rows do not.
    assert_eq!(rows.len(), 2000);
    assert_eq!(rows.join("\n"), via_psql);
    let o = bunker_raw(
        &repo,
        &pg_args(&dsn, "pg export latest --db shop --table nope --csv"),
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("public.nope"));
}

#[test]
fn pg_drill_passes_on_a_good_snapshot_and_fails_with_a_reason() {
    let s = Scratch::new();
    let repo = init_repo(&s);
    let c = Cluster::start(&[]);
    c.sql("postgres", "CREATE DATABASE app");
    let o = c.tool("pgbench", "app", &["-i", "-s", "1", "-q"]);
    assert!(o.status.success());
    let dsn = c.dsn("postgres");
    bunker(&repo, &pg_args(&dsn, "pg backup --db app"));

    let out = bunker(
        &repo,
        &[
            "--json",
            "drill",
            "pg",
            "latest",
            "--dsn",
            &dsn,
            "--expect-table",
            "pgbench_branches",
            "--min-rows",
            "pgbench_accounts=100000",
            "--sql",
            "SELECT sum(bbalance) = 0 FROM pgbench_branches",
        ],
    );
    let r = json_result(&out);
    assert_eq!(r["passed"], true, "{out}");
    assert!(r["restore_seconds"].as_f64().unwrap() > 0.0);
    assert!(r["data_age_seconds"].as_f64().unwrap() >= 0.0);
    let checks = r["databases"][0]["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 5, "{out}");
    let tables = r["databases"][0]["tables"].as_array().unwrap();
    assert!(tables
        .iter()
        .any(|t| t["table"] == "public.pgbench_accounts" && t["rows"] == 100000));

    let o = bunker_raw(
        &repo,
        &[
            "drill",
            "pg",
            "latest",
            "--dsn",
            &dsn,
            "--min-rows",
            "pgbench_accounts=100001",
            "--sql",
            "SELECT false",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("public.pgbench_accounts has at least 100001 rows (100000 rows)"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("FAILED"));
    // The throwaway databases are gone; both reports are kept in the repository.
    assert!(databases(&c).iter().all(|d| !d.starts_with("bunker_drill")));
    let h: serde_json::Value =
        serde_json::from_str(&bunker(&repo, &["--json", "drill", "history"])).unwrap();
    let passed: Vec<bool> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["passed"].as_bool().unwrap())
        .collect();
    assert_eq!(passed, [true, false]);
    // bunker's drills/ directory is invisible to restic.
    restic(&repo, &["check", "--read-data"]);
}

#[test]
fn pg_failed_dumps_say_why_and_leave_no_snapshot() {
    let s = Scratch::new();
    let repo = init_repo(&s);
    let c = Cluster::start(&[]);
    c.sql("postgres", "CREATE DATABASE app; CREATE ROLE limited LOGIN");
    c.sql(
        "app",
        "CREATE TABLE open_data AS SELECT g AS id, repeat('x', 500) AS v FROM generate_series(1, 20000) g; \
         CREATE TABLE secret (id int); GRANT SELECT ON open_data TO limited",
    );
    let fail = |dsn: &str, extra: &[&str]| -> String {
        let mut args = vec!["pg", "backup", "--dsn", dsn, "--no-globals"];
        args.extend_from_slice(extra);
        let o = bunker_raw(&repo, &args, None);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&o.stdout)
        );
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(err.lines().count(), 1, "{err}");
        err
    };
    // Nothing listens there.
    let err = fail(
        &format!("host={} port=1 user=postgres", s.dir.path().display()),
        &[],
    );
    assert!(err.contains("connection to server"), "{err}");
    // No such database.
    let err = fail(&c.dsn("postgres"), &["--db", "nope"]);
    assert!(err.contains("\"nope\" does not exist"), "{err}");
    // pg_dump fails part-way (a table it may not read): its own message, no snapshot.
    let limited = format!(
        "host={} port={} user=limited dbname=app",
        c.dir.path().display(),
        c.port
    );
    let err = fail(&limited, &[]);
    assert!(
        err.contains("pg_dump failed") && err.contains("permission denied"),
        "{err}"
    );
    assert_eq!(snapshot_count(&repo), 0);
    bunker(&repo, &["check", "--read-data"]);
    restic(&repo, &["check", "--read-data"]);
    // Restoring from a snapshot that is not a PostgreSQL backup says so.
    let src = s.path("files");
    write(&src.join("a"), b"a");
    bunker(&repo, &["backup", src.to_str().unwrap()]);
    let id = &snapshot_ids(&repo)[0];
    let o = bunker_raw(&repo, &["pg", "restore", id, "--db", "app"], None);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("is not a PostgreSQL backup"), "{err}");
    // And "latest" means the newest PostgreSQL backup: there is none.
    let o = bunker_raw(&repo, &["pg", "restore", "latest", "--db", "app"], None);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no PostgreSQL backup"), "{err}");
}
