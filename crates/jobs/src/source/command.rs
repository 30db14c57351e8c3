//! `type = "command"`: what a command writes to its standard output, stored as one file
//! (an etcd snapshot, `kubectl get -o yaml`, any dump tool without its own source).

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use bunker_repo::{backup_stream, BackupOptions, BackupProgress, Repository, Snapshot};
use serde::{Deserialize, Serialize};

use super::{tree, Backup, Item, Restored, Source, Target};
use crate::drill::Assertions;
use crate::drill::DrillReport;
use crate::error::{Error, Result};
use crate::value::{argv, Text};

/// The program with its arguments, and the name its output is stored under.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Command {
    #[serde(deserialize_with = "argv")]
    pub command: Vec<Text>,
    pub stdin_filename: Text,
}

impl Source for Command {
    fn kind(&self) -> &'static str {
        "command"
    }

    /// The command was checked when it was read (not empty).
    fn check(&self) -> std::result::Result<(), String> {
        Ok(())
    }

    /// Streams the command's standard output into the snapshot; the snapshot is
    /// written only if the command succeeds, else its last line of standard error is
    /// the error.
    fn backup(
        &self,
        repo: Arc<Repository>,
        opts: BackupOptions,
        progress: &BackupProgress,
    ) -> Result<Backup> {
        let (program, args) = self.command.split_first().expect("checked: not empty");
        let mut child = std::process::Command::new(&program.0)
            .args(args.iter().map(|a| &a.0))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::Spawn {
                program: program.0.clone(),
                source: e,
            })?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let mut err_reader = Some(std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
            s
        }));
        let mut wait = || -> bunker_repo::Result<()> {
            let status = child.wait().map_err(|e| {
                bunker_repo::Error::Invalid(format!("waiting for {}: {e}", program.0))
            })?;
            let text = err_reader
                .take()
                .and_then(|h| h.join().ok())
                .unwrap_or_default();
            if !status.success() {
                let last = text.lines().rev().find(|l| !l.trim().is_empty());
                return Err(bunker_repo::Error::Invalid(format!(
                    "{} failed ({status}){}: no snapshot was written",
                    program.0,
                    last.map(|t| format!(": {}", t.trim())).unwrap_or_default()
                )));
            }
            Ok(())
        };
        let result = backup_stream(
            repo,
            stdout,
            &self.stdin_filename.0,
            &opts,
            progress,
            &mut wait,
        )?;
        let warnings = result.warnings.clone();
        Ok(Backup { result, warnings })
    }

    /// Into a new directory, as the one file. Running the command backwards is not
    /// something bunker can do, so not in place.
    fn restore(
        &self,
        repo: &Arc<Repository>,
        snapshot: &Snapshot,
        target: &Target,
    ) -> Result<Restored> {
        tree::restore(
            repo,
            snapshot,
            target,
            self.kind(),
            "restore in place; restore the output into a new directory and feed \
             it to the tool that reads it",
        )
    }

    fn drill(
        &self,
        repo: &Arc<Repository>,
        snapshot: &Snapshot,
        scratch: &Path,
        _assertions: &Assertions,
    ) -> Result<DrillReport> {
        tree::drill(repo, snapshot, scratch)
    }

    /// The one file, with the bytes the command wrote.
    fn contents(&self, _repo: &Arc<Repository>, snapshot: &Snapshot) -> Result<Vec<Item>> {
        Ok(tree::single_file(snapshot, "file"))
    }
}
