//! Physical backups through the server's own interfaces: a non-exclusive base backup
//! (`pg_backup_start`/`pg_backup_stop` on one session held open by `psql`), the facts a
//! base backup records, `pg_receivewal` for streaming WAL, and `pg_ctl` for the clusters
//! bunker recovers.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use super::server::{quote_literal, Server};
use super::tools::Tool;
use super::wal::Lsn;

/// What a base backup records about the cluster it copies.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClusterFacts {
    /// `pg_control_system().system_identifier`, as a decimal string (it exceeds 2^53).
    pub system_identifier: String,
    pub version_num: u32,
    pub data_directory: PathBuf,
    pub wal_segment_size: u64,
    pub timeline: u32,
    pub in_recovery: bool,
    pub archive_mode: String,
}

/// A tablespace outside the data directory.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Tablespace {
    pub oid: u32,
    pub name: String,
    pub location: PathBuf,
}

/// `pg_stat_archiver` and the server's current position.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ArchiverStatus {
    pub current_lsn: Option<Lsn>,
    pub current_wal_file: Option<String>,
    pub archived_count: i64,
    pub last_archived_wal: Option<String>,
    pub last_archived_time: Option<String>,
    pub failed_count: i64,
    pub last_failed_wal: Option<String>,
    pub last_failed_time: Option<String>,
    /// The last attempt failed: a failure newer than the last success.
    #[serde(default)]
    pub failing: bool,
}

impl Server {
    pub fn cluster_facts(&self) -> Result<ClusterFacts> {
        #[derive(Deserialize)]
        struct Row {
            system_identifier: String,
            version_num: String,
            data_directory: String,
            wal_segment_size: String,
            timeline: u32,
            in_recovery: bool,
            archive_mode: String,
        }
        let mut rows: Vec<Row> = self.query(
            None,
            "SELECT (SELECT system_identifier::text FROM pg_control_system()) AS system_identifier, \
             current_setting('server_version_num') AS version_num, \
             current_setting('data_directory') AS data_directory, \
             (SELECT setting FROM pg_settings WHERE name = 'wal_segment_size') AS wal_segment_size, \
             (SELECT timeline_id FROM pg_control_checkpoint()) AS timeline, \
             pg_is_in_recovery() AS in_recovery, \
             current_setting('archive_mode') AS archive_mode",
        )?;
        let r = rows
            .pop()
            .ok_or_else(|| Error::Invalid("the server returned no row".into()))?;
        let num = |what: &str, v: &str| {
            v.parse::<u64>()
                .map_err(|_| Error::Invalid(format!("unexpected {what} {v:?} from the server")))
        };
        Ok(ClusterFacts {
            version_num: num("server_version_num", &r.version_num)? as u32,
            wal_segment_size: num("wal_segment_size", &r.wal_segment_size)?,
            system_identifier: r.system_identifier,
            data_directory: PathBuf::from(r.data_directory),
            timeline: r.timeline,
            in_recovery: r.in_recovery,
            archive_mode: r.archive_mode,
        })
    }

    pub fn tablespaces(&self) -> Result<Vec<Tablespace>> {
        self.query(
            None,
            "SELECT oid::int8 AS oid, spcname AS name, pg_tablespace_location(oid) AS location \
             FROM pg_tablespace WHERE pg_tablespace_location(oid) <> '' ORDER BY oid",
        )
    }

    pub fn archiver_status(&self) -> Result<ArchiverStatus> {
        let mut rows: Vec<ArchiverStatus> = self.query(
            None,
            "SELECT CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END \
               AS current_lsn, \
             CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_walfile_name(pg_current_wal_lsn()) END \
               AS current_wal_file, \
             archived_count, last_archived_wal, last_archived_time::text AS last_archived_time, \
             failed_count, last_failed_wal, last_failed_time::text AS last_failed_time, \
             coalesce(last_failed_time > coalesce(last_archived_time, '-infinity'), false) \
               AS failing \
             FROM pg_stat_archiver",
        )?;
        rows.pop()
            .ok_or_else(|| Error::Invalid("the server returned no row".into()))
    }

    /// Starts a non-exclusive base backup on a session of its own; the backup lasts as
    /// long as the returned session (dropping it aborts the backup on the server).
    pub fn backup_start(&self, label: &str, fast: bool, version_num: u32) -> Result<BackupSession> {
        let tool = self.tool("psql");
        let mut cmd = tool.command();
        cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(&self.dsn)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let (mut child, drain) = tool.spawn(cmd)?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut s = BackupSession {
            tool,
            child: Some(child),
            drain: Some(drain),
            stdin: Some(stdin),
            stdout,
            version_num,
            start_lsn: Lsn::default(),
        };
        let start = if version_num >= 150000 {
            format!("SELECT pg_backup_start({}, {fast})", quote_literal(label))
        } else {
            format!(
                "SELECT pg_start_backup({}, {fast}, false)",
                quote_literal(label)
            )
        };
        let line = s.ask(&start)?;
        s.start_lsn = line.parse()?;
        Ok(s)
    }

    /// Starts `pg_receivewal` into `dir`, flushing every write (`--synchronous`), from
    /// the replication slot `slot` (created if missing, so that the server keeps the WAL
    /// the receiver has not got yet).
    pub fn receive_wal(&self, dir: &Path, slot: &str) -> Result<WalReceiver> {
        let tool = self.tool("pg_receivewal");
        let mut create = tool.command();
        create
            .args(["--create-slot", "--if-not-exists", "--slot", slot, "-d"])
            .arg(&self.dsn);
        tool.output(create)?;
        let mut cmd = tool.command();
        cmd.args(["--synchronous", "--slot", slot, "--no-password", "-d"])
            .arg(&self.dsn)
            .arg("-D")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let (child, drain) = tool.spawn(cmd)?;
        Ok(WalReceiver {
            tool,
            child: Some(child),
            drain: Some(drain),
        })
    }
}

/// The session a base backup runs in.
pub struct BackupSession {
    tool: Tool,
    child: Option<Child>,
    drain: Option<JoinHandle<String>>,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    version_num: u32,
    start_lsn: Lsn,
}

/// What `pg_backup_stop` returns: the end of the WAL a restore must replay, and the
/// files to put into the restored data directory.
#[derive(Clone, Debug)]
pub struct BackupStop {
    pub lsn: Lsn,
    pub backup_label: String,
    pub tablespace_map: String,
}

impl BackupSession {
    /// Where the backup's checkpoint began: replay starts here.
    pub fn start_lsn(&self) -> Lsn {
        self.start_lsn
    }

    /// Sends one statement and reads its one-line answer.
    fn ask(&mut self, sql: &str) -> Result<String> {
        let sent = self
            .stdin
            .as_mut()
            .expect("session open")
            .write_all(format!("{sql};\n").as_bytes())
            .and_then(|_| self.stdin.as_mut().expect("session open").flush());
        let mut line = String::new();
        let read = sent.and_then(|_| self.stdout.read_line(&mut line));
        match read {
            Ok(n) if n > 0 => Ok(line.trim_end().to_string()),
            _ => Err(self.failure()),
        }
    }

    /// The session ended: psql's own message says why.
    fn failure(&mut self) -> Error {
        drop(self.stdin.take());
        let (Some(child), Some(drain)) = (self.child.take(), self.drain.take()) else {
            return Error::Invalid("the backup session is closed".into());
        };
        match self.tool.finish(child, drain) {
            Err(e) => e,
            Ok(_) => Error::Invalid("the backup session ended unexpectedly".into()),
        }
    }

    /// Ends the backup; returns its stop position and the label files.
    pub fn stop(mut self) -> Result<BackupStop> {
        let sql = if self.version_num >= 150000 {
            "SELECT lsn, encode(convert_to(labelfile, 'UTF8'), 'hex'), \
             encode(convert_to(coalesce(spcmapfile, ''), 'UTF8'), 'hex') FROM pg_backup_stop(false)"
        } else {
            "SELECT lsn, encode(convert_to(labelfile, 'UTF8'), 'hex'), \
             encode(convert_to(coalesce(spcmapfile, ''), 'UTF8'), 'hex') FROM pg_stop_backup(false, false)"
        };
        let line = self.ask(sql)?;
        let mut f = line.split('|');
        let bad = || Error::Invalid(format!("unexpected answer to pg_backup_stop: {line:?}"));
        let lsn: Lsn = f.next().ok_or_else(bad)?.parse()?;
        let label = from_hex(f.next().ok_or_else(bad)?).ok_or_else(bad)?;
        let map = from_hex(f.next().ok_or_else(bad)?).ok_or_else(bad)?;
        drop(self.stdin.take());
        if let (Some(child), Some(drain)) = (self.child.take(), self.drain.take()) {
            self.tool.finish(child, drain)?;
        }
        Ok(BackupStop {
            lsn,
            backup_label: label,
            tablespace_map: map,
        })
    }
}

impl Drop for BackupSession {
    fn drop(&mut self) {
        // Ending the session aborts a backup that was not stopped.
        drop(self.stdin.take());
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn from_hex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// A running `pg_receivewal`.
pub struct WalReceiver {
    tool: Tool,
    child: Option<Child>,
    drain: Option<JoinHandle<String>>,
}

impl WalReceiver {
    /// `Some(error)` once the receiver has exited (it retries lost connections itself,
    /// so an exit is a real failure).
    pub fn exited(&mut self) -> Option<Error> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(None) => None,
            _ => {
                let (child, drain) = (self.child.take()?, self.drain.take()?);
                Some(match self.tool.finish(child, drain) {
                    Err(e) => e,
                    Ok(_) => Error::Invalid("pg_receivewal exited".into()),
                })
            }
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // --synchronous flushed every write: killing it loses nothing received.
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for WalReceiver {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Server {
    /// `pg_basebackup` writing the data directory as one tar stream (`-D - -Ft`), without
    /// WAL (`-X none`: the archive has it), for when bunker cannot read the data directory
    /// itself. Where it started and ended is in the backup history file
    /// PostgreSQL archives.
    pub fn basebackup_stream(&self, label: &str, fast: bool) -> Result<super::tools::Dump> {
        let tool = self.tool("pg_basebackup");
        let mut cmd = tool.command();
        cmd.args([
            "-D",
            "-",
            "-F",
            "t",
            "-X",
            "none",
            "-v",
            "--no-manifest",
            "-l",
            label,
        ])
        .args(["-c", if fast { "fast" } else { "spread" }])
        .arg("-d")
        .arg(&self.dsn);
        super::tools::Dump::start(tool, cmd)
    }
}
