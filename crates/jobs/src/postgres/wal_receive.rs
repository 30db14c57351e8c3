//! `wal-receive`'s spool: the directory pg_receivewal writes into, emptied into the WAL
//! archive. Complete segments and history files become archived files (and leave the
//! spool); the segment in progress is stored as `NAME.streaming` whenever it changed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bunker_repo::Repository;
use bunker_sources::postgres::wal::WalFile;

use super::wal_archive::{self, STREAMING_SUFFIX};
use crate::error::{Error, Result};

/// The spool of one system, and what of its segment in progress is stored already.
pub struct Spool {
    dir: PathBuf,
    system: String,
    seg_size: u64,
    /// The size and modification time each `.partial` file had when it was stored.
    stored: HashMap<String, (u64, SystemTime)>,
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

impl Spool {
    pub fn new(dir: PathBuf, system: String, seg_size: u64) -> Spool {
        Spool {
            dir,
            system,
            seg_size,
            stored: HashMap::new(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// One pass over the spool; returns the names of the complete files archived.
    pub fn store(&mut self, repo: &Repository) -> Result<Vec<String>> {
        let (system, seg) = (self.system.as_str(), self.seg_size);
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)
            .map_err(|e| io(&self.dir, e))?
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(String::from))
            .collect();
        names.sort();
        let mut archived = Vec::new();
        for name in names {
            let path = self.dir.join(&name);
            match WalFile::parse(&name, seg) {
                Some(WalFile::Segment { tli, .. }) | Some(WalFile::History { tli }) => {
                    let data = std::fs::read(&path).map_err(|e| io(&path, e))?;
                    wal_archive::push(repo, system, &name, &data, seg)?;
                    let _ = repo.storage().remove_object(&wal_archive::object_path(
                        system,
                        tli,
                        &format!("{name}{STREAMING_SUFFIX}"),
                    ));
                    std::fs::remove_file(&path).map_err(|e| io(&path, e))?;
                    self.stored.remove(&format!("{name}.partial"));
                    archived.push(name);
                }
                Some(WalFile::Partial { .. }) => {
                    let meta = std::fs::metadata(&path).map_err(|e| io(&path, e))?;
                    let seen = (
                        meta.len(),
                        meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    );
                    if self.stored.get(&name) == Some(&seen) {
                        continue;
                    }
                    let data = std::fs::read(&path).map_err(|e| io(&path, e))?;
                    let base = name.strip_suffix(".partial").unwrap_or(&name);
                    wal_archive::push(
                        repo,
                        system,
                        &format!("{base}{STREAMING_SUFFIX}"),
                        &data,
                        seg,
                    )?;
                    self.stored.insert(name, seen);
                }
                _ => {}
            }
        }
        Ok(archived)
    }
}
