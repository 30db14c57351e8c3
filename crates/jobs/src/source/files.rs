//! `type = "files"`: file trees, walked into one snapshot.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bunker_repo::{backup_paths, BackupOptions, BackupProgress, Repository, Snapshot};
use serde::{Deserialize, Serialize};

use super::{tree, Backup, Item, Restored, Source, Target};
use crate::drill::Assertions;
use crate::drill::DrillReport;
use crate::error::Result;
use crate::value::Text;

/// The paths to back up and what to leave out.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Files {
    pub paths: Vec<Text>,
    #[serde(default)]
    pub excludes: Vec<Text>,
    #[serde(default)]
    pub exclude_caches: bool,
    #[serde(default)]
    pub one_file_system: bool,
}

impl Source for Files {
    fn kind(&self) -> &'static str {
        "files"
    }

    fn check(&self) -> std::result::Result<(), String> {
        if self.paths.is_empty() {
            return Err("no paths to back up".into());
        }
        Ok(())
    }

    fn backup(
        &self,
        repo: Arc<Repository>,
        mut opts: BackupOptions,
        progress: &BackupProgress,
    ) -> Result<Backup> {
        opts.excludes = self.excludes.iter().map(|e| e.0.clone()).collect();
        opts.exclude_caches = self.exclude_caches;
        opts.one_file_system = self.one_file_system;
        let paths: Vec<PathBuf> = self.paths.iter().map(|p| PathBuf::from(&p.0)).collect();
        let result = backup_paths(repo, &paths, &opts, progress)?;
        let warnings = result.warnings.clone();
        Ok(Backup { result, warnings })
    }

    /// Into a new directory, which holds the paths under their full names (restic's
    /// layout). Not in place: a tree restored over live files would mix old and new.
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
            "restore in place; restore into a new directory and move what you need",
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

    /// The paths the snapshot was taken of.
    fn contents(&self, _repo: &Arc<Repository>, snapshot: &Snapshot) -> Result<Vec<Item>> {
        Ok(snapshot
            .paths
            .iter()
            .map(|p| Item {
                name: p.clone(),
                what: "path",
                bytes: None,
            })
            .collect())
    }
}
