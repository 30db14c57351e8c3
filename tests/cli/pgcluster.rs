//! A throwaway PostgreSQL 15 cluster per test: `initdb` as the `postgres` user in a
//! temporary directory, a free port, the socket in that directory, trust auth on the
//! socket only. Stopped (immediate) and removed when dropped.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The directory of the server binaries (initdb, pg_ctl, postgres).
pub fn server_bin() -> PathBuf {
    for d in ["/usr/lib/postgresql/15/bin", "/usr/local/bin"] {
        if Path::new(d).join("initdb").is_file() && Path::new(d).join("pg_ctl").is_file() {
            return PathBuf::from(d);
        }
    }
    panic!("PostgreSQL 15 server binaries (initdb, pg_ctl) not found: run scripts/setup");
}

fn postgres_ids() -> (u32, u32) {
    let user = nix::unistd::User::from_name("postgres")
        .expect("reading the user database")
        .expect("no `postgres` user: run scripts/setup");
    (user.uid.as_raw(), user.gid.as_raw())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub port: u16,
    uid: u32,
    gid: u32,
}

impl Cluster {
    /// Initializes and starts a cluster. `conf` lines are appended to postgresql.conf.
    pub fn start(conf: &[&str]) -> Cluster {
        Cluster::start_with(conf, false)
    }

    /// A cluster that keeps its WAL outside the data directory (`initdb --waldir`, so
    /// `pg_wal` is a link to [`Cluster::waldir`]).
    pub fn start_with_waldir(conf: &[&str]) -> Cluster {
        Cluster::start_with(conf, true)
    }

    /// The WAL directory of a cluster started with [`Cluster::start_with_waldir`].
    pub fn waldir(&self) -> PathBuf {
        self.dir.path().join("waldir")
    }

    fn start_with(conf: &[&str], separate_wal: bool) -> Cluster {
        let (uid, gid) = postgres_ids();
        let dir = tempfile::Builder::new()
            .prefix("bunker-pg-")
            .tempdir()
            .expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        nix::unistd::chown(dir.path(), Some(uid.into()), Some(gid.into())).unwrap();
        let c = Cluster {
            dir,
            port: free_port(),
            uid,
            gid,
        };
        c.as_postgres("initdb")
            .args(["-D"])
            .arg(c.data())
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ])
            .args(separate_wal.then(|| format!("--waldir={}", c.waldir().display())))
            .run_ok();
        let mut extra = vec![
            format!("port = {}", c.port),
            "listen_addresses = ''".to_string(),
            format!("unix_socket_directories = '{}'", c.dir.path().display()),
            "fsync = off".to_string(),
            "shared_buffers = 64MB".to_string(),
            "max_connections = 40".to_string(),
        ];
        extra.extend(conf.iter().map(|s| s.to_string()));
        let conf_path = c.data().join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf_path).unwrap();
        text.push_str(&extra.join("\n"));
        text.push('\n');
        std::fs::write(&conf_path, text).unwrap();
        c.pg_ctl(
            &["start", "-w", "-t", "60", "-l"],
            Some(&c.dir.path().join("log")),
        );
        c
    }

    /// Stops the server (fast shutdown), as an outage would.
    pub fn stop(&self) {
        self.pg_ctl(&["stop", "-w", "-m", "fast"], None);
    }

    /// Starts a stopped server again.
    pub fn start_again(&self) {
        self.pg_ctl(
            &["start", "-w", "-t", "60", "-l"],
            Some(&self.dir.path().join("log")),
        );
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn as_postgres(&self, tool: &str) -> Command {
        let mut c = Command::new(server_bin().join(tool));
        c.uid(self.uid).gid(self.gid).current_dir(self.dir.path());
        c
    }

    fn pg_ctl(&self, args: &[&str], log: Option<&Path>) {
        let mut c = self.as_postgres("pg_ctl");
        c.args(args);
        if let Some(l) = log {
            c.arg(l);
        }
        c.arg("-D").arg(self.data()).run_ok();
    }

    /// A libpq connection string for `db`, as user postgres over the socket.
    pub fn dsn(&self, db: &str) -> String {
        format!(
            "host={} port={} user=postgres dbname={db}",
            self.dir.path().display(),
            self.port
        )
    }

    /// Runs SQL with psql on `db`, each statement in its own transaction; panics with
    /// psql's message on error. Returns the unaligned, tuples-only output.
    pub fn sql(&self, db: &str, sql: &str) -> String {
        psql(&self.dsn(db), sql)
    }

    /// Runs a client tool (pgbench, pg_dump) with this cluster's connection settings.
    pub fn tool(&self, tool: &str, db: &str, args: &[&str]) -> Output {
        Command::new(tool)
            .args(args)
            .env("PGHOST", self.dir.path())
            .env("PGPORT", self.port.to_string())
            .env("PGUSER", "postgres")
            .env("PGDATABASE", db)
            .output()
            .expect("client tool")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .as_postgres("pg_ctl")
            .args(["stop", "-m", "immediate", "-w", "-D"])
            .arg(self.data())
            .output();
    }
}

trait RunOk {
    fn run_ok(&mut self);
}

impl RunOk for Command {
    fn run_ok(&mut self) {
        let out = self.output().expect("start");
        assert!(
            out.status.success(),
            "{:?} failed: {}{}",
            self,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Runs SQL with psql on the server `dsn` reaches, each statement in its own
/// transaction; panics with psql's message on error. Returns the unaligned, tuples-only
/// output.
pub fn psql(dsn: &str, sql: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-f",
            "-",
            "-d",
        ])
        .arg(dsn)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("psql");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(sql.as_bytes())
        .unwrap();
    let out = child.wait_with_output().expect("psql");
    assert!(
        out.status.success(),
        "psql failed on {sql:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
