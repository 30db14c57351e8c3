//! A server run from a data directory with `pg_ctl`, as the directory's owner when
//! bunker runs as root: handed over, started, found (its port and socket from
//! `postmaster.pid`), waited for until recovery ends, and stopped. What `pitr` and
//! `pg standby` do with the server they recovered.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::error::{Error, Result};
use super::Server;

/// A data directory and the server binaries to run it with (default: PATH).
pub struct DataDirectory<'a> {
    dir: &'a Path,
    server_bin: Option<&'a Path>,
}

/// Where a started server stands once recovery ended (or, for a standby, once it
/// accepts connections).
#[derive(Clone, Debug)]
pub struct Recovered {
    pub in_recovery: bool,
    pub timeline: u32,
    pub lsn: String,
    pub last_transaction: Option<String>,
    pub port: u16,
    pub socket_dir: String,
}

/// Whether bunker runs as root (then servers run as their directory's owner).
pub fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::io(path.display().to_string(), e)
}

impl<'a> DataDirectory<'a> {
    pub fn new(dir: &'a Path, server_bin: Option<&'a Path>) -> DataDirectory<'a> {
        DataDirectory { dir, server_bin }
    }

    fn pg_ctl(&self) -> PathBuf {
        match self.server_bin {
            Some(d) => d.join("pg_ctl"),
            None => PathBuf::from("pg_ctl"),
        }
    }

    /// As root, gives the directory, `created` (what bunker wrote in it) and the files
    /// in `pg_wal` to the owner of the restored files: the server refuses a data
    /// directory it does not own. Links are changed, never what they point to.
    pub fn hand_over(&self, created: &[PathBuf]) -> Result<()> {
        if !is_root() {
            return Ok(());
        }
        let to = self.dir;
        let owner = std::fs::metadata(to.join("global")).map_err(|e| io(to, e))?;
        let (uid, gid) = (owner.uid(), owner.gid());
        for p in std::iter::once(&to.to_path_buf()).chain(created) {
            if p.symlink_metadata().is_ok() {
                std::os::unix::fs::lchown(p, Some(uid), Some(gid)).map_err(|e| io(p, e))?;
            }
        }
        if let Ok(rd) = std::fs::read_dir(to.join("pg_wal")) {
            for e in rd.flatten() {
                let _ = std::os::unix::fs::lchown(e.path(), Some(uid), Some(gid));
            }
        }
        Ok(())
    }

    /// Stops a server running from the directory at once, if one does; errors are
    /// ignored (this is cleaning up after a failure).
    pub fn stop_immediately(&self) {
        if !self.dir.join("postmaster.pid").exists() {
            return;
        }
        let mut cmd = Command::new(self.pg_ctl());
        cmd.args(["stop", "-m", "immediate", "-w", "-D"])
            .arg(self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let (true, Ok(owner)) = (is_root(), std::fs::metadata(self.dir)) {
            cmd.uid(owner.uid()).gid(owner.gid());
        }
        let _ = cmd.status();
    }

    /// Starts the server (as the directory's owner when run as root), logging to
    /// `log`, and waits until it has left recovery (a `standby`: until it runs).
    pub fn start_and_wait(
        &self,
        log: &Path,
        standby: bool,
        timeout: Duration,
    ) -> Result<Recovered> {
        let to = self.dir;
        let owner = std::fs::metadata(to).map_err(|e| io(to, e))?;
        let pg_ctl = self.pg_ctl();
        let mut cmd = Command::new(&pg_ctl);
        cmd.args(["start", "-w", "-t"])
            .arg(timeout.as_secs().max(1).to_string())
            .arg("-D")
            .arg(to)
            .arg("-l")
            .arg(log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if is_root() {
            cmd.uid(owner.uid()).gid(owner.gid());
        }
        let out = cmd
            .output()
            .map_err(|e| Error::io(format!("starting {}", pg_ctl.display()), e))?;
        if !out.status.success() {
            return Err(Error::Invalid(format!(
                "the recovered server did not start: {}",
                server_failure(log, &String::from_utf8_lossy(&out.stderr))
            )));
        }
        let (port, socket_dir) = postmaster_address(to)?;
        let dsn = format!(
            "host={} port={port} dbname=postgres user={}",
            quote_dsn(&socket_dir),
            quote_dsn(&owner_name(owner.uid()))
        );
        let server = Server::new(&dsn, self.server_bin);
        let deadline = Instant::now() + timeout;
        loop {
            let in_recovery: Result<bool> = server.query_value(None, "pg_is_in_recovery()");
            match in_recovery {
                Ok(false) => break,
                Ok(true) if standby => break,
                _ if !to.join("postmaster.pid").exists() => {
                    return Err(Error::Invalid(format!(
                        "recovery failed and the server stopped: {}",
                        server_failure(log, "")
                    )))
                }
                _ if Instant::now() >= deadline => {
                    return Err(Error::Invalid(format!(
                        "recovery did not finish within {}s (see {})",
                        timeout.as_secs(),
                        log.display()
                    )))
                }
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
        #[derive(Deserialize)]
        struct Row {
            lsn: String,
            tli: u32,
            recovering: bool,
            last: Option<String>,
        }
        let mut rows: Vec<Row> = server.query(
            None,
            "SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()::text ELSE pg_current_wal_lsn()::text END AS lsn, \
             CASE WHEN pg_is_in_recovery() THEN (SELECT timeline_id FROM pg_control_checkpoint()) \
             ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END AS tli, \
             pg_is_in_recovery() AS recovering, \
             pg_last_xact_replay_timestamp()::text AS last",
        )?;
        let row = rows
            .pop()
            .ok_or_else(|| Error::Invalid("the server returned no row".into()))?;
        Ok(Recovered {
            in_recovery: row.recovering,
            timeline: row.tli,
            lsn: row.lsn,
            last_transaction: row.last,
            port,
            socket_dir,
        })
    }
}

fn quote_dsn(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn owner_name(uid: u32) -> String {
    // The bootstrap superuser is named after the OS user that ran initdb.
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| {
            p.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_string())
            })
        })
        .unwrap_or_else(|| "postgres".to_string())
}

/// The port and socket directory from `postmaster.pid` (lines 4 and 5).
fn postmaster_address(to: &Path) -> Result<(u16, String)> {
    let pid = to.join("postmaster.pid");
    let text = std::fs::read_to_string(&pid).map_err(|e| io(&pid, e))?;
    let lines: Vec<&str> = text.lines().collect();
    let port = lines.get(3).and_then(|p| p.trim().parse().ok());
    let socket = lines
        .get(4)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    match (port, socket) {
        (Some(p), Some(s)) => Ok((p, s)),
        (Some(p), None) => Ok((p, "localhost".to_string())),
        _ => Err(Error::Invalid(format!(
            "{}: no port recorded",
            pid.display()
        ))),
    }
}

/// The server's own words on why it stopped: its FATAL/PANIC lines.
fn server_failure(log: &Path, stderr: &str) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let fatal: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("FATAL:") || l.contains("PANIC:"))
        .collect();
    match fatal.last() {
        Some(l) => l.trim().to_string(),
        None => format!("{} (see {})", stderr.trim(), log.display()),
    }
}
