//! A local copy of a remote repository's index and snapshot files, as restic keeps
//! one: on a store where each request costs tens of milliseconds, loading the index
//! and listing snapshots then costs one LIST per directory instead of one GET per file.
//!
//! Files are kept under `<cache>/<repository id>/<dir>/<file id>`. A file's id is the
//! SHA-256 of its contents, so an entry is checked against its name whenever it is
//! read, and a damaged one is dropped and fetched again. Entries whose file is no longer
//! listed in the repository are removed when the directory is listed.

use std::collections::HashSet;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::id::Id;
use crate::storage::FileType;

pub struct FileCache {
    dir: PathBuf,
}

impl FileCache {
    /// The cache of one repository below `root`.
    pub fn new(root: &Path, repository_id: &str) -> FileCache {
        FileCache {
            dir: root.join(repository_id),
        }
    }

    /// Only the files that are read whole and often, and never change under one name.
    /// (Packs of tree blobs are kept too, through [`Self::read_range`].)
    pub fn holds(ft: FileType) -> bool {
        matches!(ft, FileType::Index | FileType::Snapshot)
    }

    fn path(&self, ft: FileType, id: &Id) -> PathBuf {
        self.dir.join(ft.dir()).join(id.to_hex())
    }

    /// `len` bytes at `offset` of a cached file. The caller verifies what it reads (a
    /// blob's hash) and calls [`Self::remove`] when it does not match.
    pub fn read_range(&self, ft: FileType, id: &Id, offset: u64, len: u64) -> Option<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::open(self.path(ft, id)).ok()?;
        let mut buf = vec![0; len as usize];
        f.read_exact_at(&mut buf, offset).ok()?;
        Some(buf)
    }

    pub fn remove(&self, ft: FileType, id: &Id) {
        let _ = std::fs::remove_file(self.path(ft, id));
    }

    /// The cached file, if there is one and it matches its id.
    pub fn get(&self, ft: FileType, id: &Id) -> Option<Vec<u8>> {
        let path = self.path(ft, id);
        let data = std::fs::read(&path).ok()?;
        if Id::hash(&data) == *id {
            return Some(data);
        }
        log::warn!("cache: {} is damaged; fetching it again", path.display());
        let _ = std::fs::remove_file(&path);
        None
    }

    /// Keeps a copy. The cache only saves requests: failing to write it is not an error.
    pub fn put(&self, ft: FileType, id: &Id, data: &[u8]) {
        let path = self.path(ft, id);
        let Some(dir) = path.parent() else { return };
        let tmp = dir.join(format!(".{}-{:08x}", id.to_hex(), rand::random::<u32>()));
        // Private like the repository it mirrors (restic's cache is 0700 too).
        let written = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .and_then(|()| std::fs::write(&tmp, data))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            log::debug!("cache: cannot keep {}: {e}", path.display());
            let _ = std::fs::remove_file(&tmp);
        }
    }

    /// Drops the entries of files the repository no longer lists.
    pub fn retain(&self, ft: FileType, listed: &HashSet<Id>) {
        let Ok(entries) = std::fs::read_dir(self.dir.join(ft.dir())) else {
            return;
        };
        for e in entries.flatten() {
            let keep = e
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<Id>().ok())
                .is_some_and(|id| listed.contains(&id));
            if !keep {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_only_what_matches_its_id_and_forgets_what_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::new(dir.path(), "repo");
        let (a, b) = (b"first file".to_vec(), b"second file".to_vec());
        let (ida, idb) = (Id::hash(&a), Id::hash(&b));
        cache.put(FileType::Index, &ida, &a);
        cache.put(FileType::Index, &idb, &b);
        assert_eq!(cache.get(FileType::Index, &ida), Some(a.clone()));
        assert_eq!(cache.get(FileType::Snapshot, &ida), None);

        std::fs::write(cache.path(FileType::Index, &idb), b"tampered").unwrap();
        assert_eq!(cache.get(FileType::Index, &idb), None);
        assert!(!cache.path(FileType::Index, &idb).exists());

        cache.retain(FileType::Index, &HashSet::new());
        assert_eq!(cache.get(FileType::Index, &ida), None);
    }
}
