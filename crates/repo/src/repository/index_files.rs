//! Reading the index files into the master index: all of them or an error naming the
//! damaged one (for commands that need the whole index), or every readable one and a
//! list of the damaged (for the commands that examine or mend the index).

use std::collections::HashSet;

use rayon::prelude::*;

use super::Repository;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::index::IndexFile;
use crate::storage::FileType;

/// The index files of a repository as read: the readable ones, by id, and the damaged.
#[derive(Debug, Default)]
pub struct IndexFiles {
    pub readable: Vec<(Id, IndexFile)>,
    pub damaged: Vec<DamagedIndex>,
}

impl IndexFiles {
    /// The readable files, or the error naming the first damaged one: for commands
    /// that must see the whole index.
    pub fn whole(self) -> Result<Vec<(Id, IndexFile)>> {
        match self.damaged.into_iter().next() {
            Some(d) => Err(d.into_error()),
            None => Ok(self.readable),
        }
    }
}

/// An index file that could not be read, and why.
#[derive(Debug)]
pub struct DamagedIndex {
    pub id: Id,
    pub error: Error,
}

impl DamagedIndex {
    /// The error a command that needs the whole index fails with.
    pub fn into_error(self) -> Error {
        let reason = match self.error {
            Error::Corrupt { reason, .. } => reason,
            e => e.to_string(),
        };
        Error::DamagedIndex {
            id: self.id.to_hex(),
            reason,
        }
    }
}

impl Repository {
    /// Reads the index files not read yet into the master index. Operations call it
    /// after choosing their snapshots (read in reverse: snapshot, then index), and
    /// [`Self::read_blob`] calls it again when a blob is missing. A damaged index file is
    /// [`Error::DamagedIndex`]: working with part of the index could make a backup
    /// think blobs are missing, or a prune think packs are unused.
    pub fn load_index(&self) -> Result<()> {
        match self.load_index_lenient()?.into_iter().next() {
            Some(damaged) => Err(damaged.into_error()),
            None => Ok(()),
        }
    }

    /// [`Self::load_index`] for the commands that examine or mend a damaged index
    /// (`check`, `repair`): every readable index file is loaded, and the ones that
    /// cannot be read are returned instead of failing the load.
    pub fn load_index_lenient(&self) -> Result<Vec<DamagedIndex>> {
        // Concurrent callers wait here, so every file is read once.
        let mut loaded = self.loaded_indexes.lock().expect("loaded indexes");
        let first = loaded.is_empty();
        let listed = self.storage.list(FileType::Index)?;
        self.forget_unlisted(FileType::Index, &listed);
        let new: Vec<Id> = listed
            .into_iter()
            .map(|(id, _)| id)
            .filter(|id| !loaded.contains(id))
            .collect();
        if new.is_empty() && !first {
            return Ok(Vec::new());
        }
        let files = self.read_index_files(&new)?;
        self.add_index_files(&mut loaded, &files.readable);
        Ok(files.damaged)
    }

    /// Every index file as stored, the readable ones (also loaded into the master
    /// index) and the damaged ones: for the commands that rewrite the index (prune,
    /// repair) or compare it with the packs (check).
    pub fn index_files(&self) -> Result<IndexFiles> {
        let mut loaded = self.loaded_indexes.lock().expect("loaded indexes");
        let listed = self.storage.list(FileType::Index)?;
        self.forget_unlisted(FileType::Index, &listed);
        let ids: Vec<Id> = listed.into_iter().map(|(id, _)| id).collect();
        let files = self.read_index_files(&ids)?;
        self.add_index_files(&mut loaded, &files.readable);
        Ok(files)
    }

    /// Reads index files in parallel. Files removed since they were listed (superseded
    /// by a prune) are skipped; storage failures fail the read (they are not damage).
    fn read_index_files(&self, ids: &[Id]) -> Result<IndexFiles> {
        let read: Vec<(Id, Result<IndexFile>)> = ids
            .par_iter()
            .map(|id| (*id, self.load_json::<IndexFile>(FileType::Index, id)))
            .collect();
        let (mut files, mut damaged) = (Vec::new(), Vec::new());
        for (id, f) in read {
            match f {
                Ok(f) => files.push((id, f)),
                Err(Error::NotFound { .. }) => {}
                Err(e @ Error::Storage { .. }) => return Err(e),
                Err(error) => damaged.push(DamagedIndex { id, error }),
            }
        }
        files.sort_by_key(|(id, _)| *id);
        damaged.sort_by_key(|d| d.id);
        Ok(IndexFiles {
            readable: files,
            damaged,
        })
    }

    /// Adds the packs of index files not loaded yet to the master index.
    fn add_index_files(&self, loaded: &mut HashSet<Id>, files: &[(Id, IndexFile)]) {
        let mut idx = self.index.write().expect("index lock");
        for (id, f) in files {
            if loaded.insert(*id) {
                for p in &f.packs {
                    idx.add_pack(p);
                }
            }
        }
    }
}
