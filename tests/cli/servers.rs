//! Real object-storage and SFTP servers for the integration tests, each on free loopback
//! ports in its own temporary directory, killed with everything it started when dropped.
//!
//! | server | type | what it emulates |
//! |---|---|---|
//! | Garage 2.x (`garage`) | [`Garage`] | S3, one node or a cluster of several on this machine |
//! | Azurite (`azurite-blob`) | [`Azurite`] | Azure Blob Storage, dev account `devstoreaccount1` |
//! | fake-gcs-server | [`FakeGcs`] | Google Cloud Storage JSON API, no authentication |
//! | OpenSSH `sshd` | [`Sftp`] | SFTP (`internal-sftp`) with a test-made key pair |
//! | Prometheus (`prometheus`) | [`Prometheus`] | not an emulator: scrapes the daemon, evaluates rules |
//!
//! `scripts/setup` installs all of them. Each type also says how the oracles reach it
//! ([`Garage::restic`], [`Garage::rustic`] and so on return an [`OracleRepo`]); what was
//! found by trying restic 0.14 (Debian 12) and rustic 0.11.4 against these servers:
//!
//! - **S3 (Garage)**: restic `s3:http://127.0.0.1:PORT/BUCKET/PATH` with
//!   `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` (and `AWS_DEFAULT_REGION=us-east-1`,
//!   which Garage is configured to answer to). An IP endpoint makes restic use path-style
//!   requests by itself. rustic: `opendal:s3` with `OPENDAL_ENDPOINT`, `OPENDAL_BUCKET`,
//!   `OPENDAL_REGION`, `OPENDAL_ACCESS_KEY_ID`, `OPENDAL_SECRET_ACCESS_KEY`, `OPENDAL_ROOT`.
//! - **Azure (Azurite)**: restic 0.14 has no endpoint setting for `azure:`; its Azure SDK
//!   sends the emulator account `devstoreaccount1` to the fixed address
//!   `http://127.0.0.1:10000`. So restic reaches an Azurite started with
//!   [`Azurite::start_on_emulator_port`] (one at a time, see there):
//!   `azure:CONTAINER:/PATH` with `AZURE_ACCOUNT_NAME`, `AZURE_ACCOUNT_KEY`. rustic reaches
//!   any port: `opendal:azblob` with `OPENDAL_ENDPOINT=http://127.0.0.1:PORT/devstoreaccount1`,
//!   `OPENDAL_CONTAINER`, `OPENDAL_ACCOUNT_NAME`, `OPENDAL_ACCOUNT_KEY`, `OPENDAL_ROOT`.
//! - **GCS (fake-gcs-server)**: restic 0.14 cannot: its `gs:` backend always calls
//!   `https://storage.googleapis.com` (it ignores `STORAGE_EMULATOR_HOST`; with
//!   `GOOGLE_ACCESS_TOKEN` and `GOOGLE_PROJECT_ID` set, `restic init` fails with `dial tcp:
//!   lookup storage.googleapis.com ... no such host`) and has no endpoint option. rustic:
//!   `opendal:gcs` with `OPENDAL_ENDPOINT=http://127.0.0.1:PORT`, `OPENDAL_BUCKET`,
//!   `OPENDAL_ROOT` and `OPENDAL_ALLOW_ANONYMOUS=true` (no token at all).
//! - **SFTP (sshd)**: restic `sftp:USER@127.0.0.1:/DIR` with `-o sftp.command=...` (see
//!   [`Sftp::ssh_command`]: it carries the port, key and known_hosts file). rustic:
//!   `opendal:sftp`, whose ssh has no known_hosts-file setting: [`Sftp::opendal_env`] puts
//!   an `ssh` wrapper first on PATH that adds this server's known_hosts file, and keeps
//!   the ssh control sockets out of the home directory.
//!
//! Other clients (bunker) are configured from the public fields and accessors of each type.

#![allow(dead_code)]

mod azurite;
mod chromium;
mod garage;
mod gcs;
mod prometheus;
mod sftp;

pub mod http_recorder;
pub mod smtp;

pub use azurite::Azurite;
pub use chromium::Browser;
pub use garage::Garage;
pub use gcs::FakeGcs;
pub use prometheus::Prometheus;
pub use sftp::Sftp;

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{tool, PASSWORD};

/// How long a server may take to become ready before the test fails. They start in a
/// second or two; the margin is for a loaded machine running tests in parallel.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// How an oracle binary (restic or rustic) reaches a repository on one of these servers:
/// the repository string, the environment it needs and extra `-o` options (restic only).
#[derive(Clone, Debug)]
pub struct OracleRepo {
    pub repo: String,
    pub env: Vec<(String, String)>,
    pub options: Vec<String>,
}

impl OracleRepo {
    /// A command for `tool` ("restic" or "rustic") with the repository, options,
    /// environment and the test password set, and no cache.
    pub fn command(&self, tool_name: &str) -> Command {
        let mut c = Command::new(tool(tool_name));
        c.arg("-r").arg(&self.repo).arg("--no-cache");
        for o in &self.options {
            c.arg("-o").arg(o);
        }
        c.envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("RESTIC_PASSWORD", PASSWORD)
            .env("RUSTIC_PASSWORD", PASSWORD)
            .env("RUSTIC_NO_PROGRESS", "true")
            .stdin(Stdio::null());
        c
    }

    /// Runs `tool` with `args` and asserts success; returns stdout.
    pub fn run(&self, tool_name: &str, args: &[&str]) -> String {
        let o = self
            .command(tool_name)
            .args(args)
            .output()
            .expect("spawn oracle");
        assert!(
            o.status.success(),
            "{tool_name} -r {} {args:?} failed: status {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.repo,
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

/// A server process. Dropping it kills the process, its process group and every
/// descendant (sshd's per-connection children leave the group with setsid).
struct Daemon {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    /// Starts `cmd` in its own process group with stdout and stderr appended to `log`.
    fn spawn(name: &str, cmd: &mut Command, log: &Path) -> Daemon {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .expect("open server log");
        let err = out.try_clone().expect("clone log handle");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name} ({cmd:?}): {e}"));
        Daemon {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
        }
    }

    /// The last lines of the server's log, for failure messages.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Polls `ready` until it returns true; panics with the log tail if the server exits
    /// or the deadline passes.
    fn wait_until(&mut self, what: &str, mut ready: impl FnMut() -> bool) {
        let start = Instant::now();
        loop {
            if ready() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) before {what}; log {}:\n{}",
                    self.name,
                    self.log.display(),
                    self.log_tail()
                );
            }
            if start.elapsed() > START_DEADLINE {
                panic!(
                    "{} not ready after {START_DEADLINE:?} (waiting for {what}); log {}:\n{}",
                    self.name,
                    self.log.display(),
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        use nix::sys::signal::{kill, killpg, Signal};
        use nix::unistd::Pid;
        let pid = self.child.id() as i32;
        // Children first, while the server is alive to reap them; deepest first.
        let mut below = descendants(pid);
        below.reverse();
        for &p in &below {
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
        }
        let gone = Instant::now();
        while below.iter().any(|&p| is_alive(p)) && gone.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every process whose chain of parents leads to `root`, parents before children.
fn descendants(root: i32) -> Vec<i32> {
    let mut parent_of = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces and parens.
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|s| s.parse::<i32>().ok());
        if let Some(ppid) = ppid {
            parent_of.push((pid, ppid));
        }
    }
    let mut out = vec![];
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for &(child, parent) in &parent_of {
            if parent == p && !out.contains(&child) {
                out.push(child);
                frontier.push(child);
            }
        }
    }
    out
}

/// True if `pid` exists and is not a zombie.
fn is_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// `n` distinct free loopback ports (all held until chosen, then released).
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("addr").port())
        .collect()
}

fn accepts_connections(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// One HTTP/1.1 request to `127.0.0.1:port`; returns the status code and the body.
/// Enough for readiness probes and the one-off set-up calls; not a general client.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let text = String::from_utf8_lossy(&resp);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {text:?}")))?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok((status, body.to_string()))
}

/// A temporary directory for one server.
fn server_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("bunker-{name}-"))
        .tempdir()
        .expect("tempdir")
}

/// Lowercase hex of `n` random bytes.
fn random_hex(n: usize) -> String {
    (0..n)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
