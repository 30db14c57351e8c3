//! A toy source, compiled only for tests, that shows what a new kind of source costs:
//! this module, one arm of [`SourceConfig`](super::SourceConfig) and its line in
//! `SourceConfig::source`. The runner, drills and `config check` take it as it is.
//!
//! `type = "toy"`: a text file whose lines are stored as one stream each (`line-0000`,
//! ...), with the number of lines recorded in the snapshot.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use bunker_repo::{
    backup_streams, BackupOptions, BackupProgress, FileReader, Repository, Snapshot,
};
use serde::{Deserialize, Serialize};

use super::{Backup, Item, Restored, Source, Target};
use crate::drill::Assertions;
use crate::drill::{Check, DatabaseDrill, DrillReport};
use crate::error::{Error, Result};
use crate::value::Text;

/// The snapshot field holding the number of lines.
const META_KEY: &str = "toy";

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Toy {
    /// The text file whose lines are backed up.
    pub file: Text,
}

impl Toy {
    /// The lines of a snapshot, in order, and the count the snapshot records.
    fn lines_of(repo: &Arc<Repository>, snapshot: &Snapshot) -> Result<(Vec<String>, u64)> {
        let recorded = snapshot
            .extra
            .get(META_KEY)
            .and_then(|m| m["lines"].as_u64())
            .ok_or_else(|| Error::Invalid(format!("snapshot {} is no toy", snapshot.short_id())))?;
        repo.load_index()?;
        let mut nodes = repo.load_tree(&snapshot.tree)?.nodes;
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        let mut lines = Vec::new();
        for n in nodes {
            let mut line = String::new();
            FileReader::new(repo.clone(), n.content.clone())
                .read_to_string(&mut line)
                .map_err(|e| Error::Invalid(format!("reading {}: {e}", n.name_lossy())))?;
            lines.push(line);
        }
        Ok((lines, recorded))
    }

    fn write(path: &Path, lines: &[String]) -> Result<()> {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(path, text).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })
    }
}

impl Source for Toy {
    fn kind(&self) -> &'static str {
        "toy"
    }

    fn check(&self) -> std::result::Result<(), String> {
        if !Path::new(&self.file.0).is_absolute() {
            return Err(format!("file {:?}: give an absolute path", self.file.0));
        }
        Ok(())
    }

    fn backup(
        &self,
        repo: Arc<Repository>,
        opts: BackupOptions,
        progress: &BackupProgress,
    ) -> Result<Backup> {
        let text = std::fs::read_to_string(&self.file.0).map_err(|e| Error::Io {
            path: self.file.0.clone().into(),
            source: e,
        })?;
        let result = backup_streams(repo, &opts, progress, &mut |sink| {
            let mut n = 0;
            for (i, line) in text.lines().enumerate() {
                sink.add(&format!("line-{i:04}"), 0o600, line.as_bytes())?;
                n += 1;
            }
            sink.set_extra(META_KEY, serde_json::json!({ "lines": n }));
            Ok(())
        })?;
        Ok(Backup {
            result,
            warnings: Vec::new(),
        })
    }

    /// A new file, or the source's own file after a safety snapshot of it.
    fn restore(
        &self,
        repo: &Arc<Repository>,
        snapshot: &Snapshot,
        target: &Target,
    ) -> Result<Restored> {
        let (lines, _) = Self::lines_of(repo, snapshot)?;
        let (to, safety_snapshot) = match target {
            Target::New { to, .. } => {
                if Path::new(to).exists() {
                    return Err(Error::TargetExists(to.clone()));
                }
                (to.clone(), None)
            }
            Target::InPlace { .. } => {
                let opts = BackupOptions {
                    tags: vec![crate::choice::SAFETY_TAG.to_string()],
                    ..Default::default()
                };
                let safety = self.backup(repo.clone(), opts, &BackupProgress::default())?;
                (
                    self.file.0.clone(),
                    Some(safety.result.snapshot.id.to_hex()),
                )
            }
        };
        Self::write(Path::new(&to), &lines)?;
        Ok(Restored {
            to,
            files: 1,
            bytes: lines.iter().map(|l| l.len() as u64 + 1).sum(),
            damaged: Vec::new(),
            safety_snapshot,
        })
    }

    /// Restores into a scratch file and checks the number of lines.
    fn drill(
        &self,
        repo: &Arc<Repository>,
        snapshot: &Snapshot,
        scratch: &Path,
        _assertions: &Assertions,
    ) -> Result<DrillReport> {
        let started = chrono::Local::now().fixed_offset();
        let t0 = std::time::Instant::now();
        let (lines, recorded) = Self::lines_of(repo, snapshot)?;
        std::fs::create_dir_all(scratch).map_err(|e| Error::Io {
            path: scratch.to_path_buf(),
            source: e,
        })?;
        let file = scratch.join(format!("toy-{:016x}", rand::random::<u64>()));
        Self::write(&file, &lines)?;
        let back = std::fs::read_to_string(&file).map(|t| t.lines().count() as u64);
        let _ = std::fs::remove_file(&file);
        let restore_seconds = t0.elapsed().as_secs_f64();
        let passed = back.as_ref().is_ok_and(|n| *n == recorded);
        let checks = vec![Check {
            name: "lines match the snapshot".into(),
            passed,
            detail: format!("{back:?} restored, {recorded} recorded"),
        }];
        Ok(DrillReport {
            kind: "toy".into(),
            snapshot: snapshot.id.to_hex(),
            snapshot_time: snapshot.time,
            host: bunker_repo::hostname(),
            started,
            finished: chrono::Local::now().fixed_offset(),
            data_age_seconds: (started - snapshot.time).num_milliseconds() as f64 / 1000.0,
            restore_seconds,
            passed,
            databases: vec![DatabaseDrill {
                name: "toy".into(),
                scratch_database: file.display().to_string(),
                restore_seconds,
                passed,
                checks,
                tables: Vec::new(),
            }],
            job: None,
        })
    }

    fn contents(&self, repo: &Arc<Repository>, snapshot: &Snapshot) -> Result<Vec<Item>> {
        let (lines, _) = Self::lines_of(repo, snapshot)?;
        Ok(lines
            .into_iter()
            .enumerate()
            .map(|(i, l)| Item {
                name: format!("line-{i:04}"),
                what: "line",
                bytes: Some(l.len() as u64),
            })
            .collect())
    }
}
