//! An open repository: storage, master key, config and the master index.

use std::collections::HashSet;
use std::sync::{RwLock, RwLockReadGuard};

use rayon::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::blob::BlobType;
use crate::chunker::{Polynomial, Tables};
use crate::config::Config;
use crate::crypto::Key;
use crate::error::{Error, Result};
use crate::file_cache::FileCache;
use crate::id::Id;
use crate::index::{BlobLocation, MasterIndex};
use crate::key_cache::open_master_key_cached;
use crate::keys::{open_master_key, KeyFile};
use crate::snapshot::Snapshot;
use crate::storage::{FileType, Storage};
use crate::tree::Tree;
use crate::unpacked;

mod index_files;

pub use index_files::{DamagedIndex, IndexFiles};

pub struct Repository {
    storage: Storage,
    key: Key,
    key_id: Id,
    config: Config,
    polynomial: Polynomial,
    chunker_tables: Tables,
    index: RwLock<MasterIndex>,
    /// Index files already in the master index.
    loaded_indexes: std::sync::Mutex<HashSet<Id>>,
    lock_wait: std::time::Duration,
    no_lock: bool,
    cache: Option<FileCache>,
    tree_pack_fetch: std::sync::Mutex<()>,
}

impl Repository {
    /// Creates a new repository with one key for `password`.
    pub fn init(storage: Storage, password: &str) -> Result<Repository> {
        Self::init_with(storage, password, None)
    }

    /// Creates a new repository; with `polynomial`, it chunks like the repository that
    /// polynomial came from, so that `copy` between them keeps blobs as they are.
    pub fn init_with(
        storage: Storage,
        password: &str,
        polynomial: Option<Polynomial>,
    ) -> Result<Repository> {
        if storage.config_exists()? {
            return Err(Error::AlreadyExists {
                location: storage.location().to_string(),
            });
        }
        storage.create_layout()?;
        let key = Key::random();
        let key_id = KeyFile::create(&key, password).save(&storage)?;
        let mut config = Config::new();
        if let Some(p) = polynomial {
            config.chunker_polynomial = p.to_hex();
        }
        storage.write_config(unpacked::seal(&key, &config, false))?;
        Repository::assemble(storage, key, key_id, config)
    }

    /// Opens an existing repository; the index is not loaded yet (see [`Self::load_index`]).
    pub fn open(storage: Storage, password: &str) -> Result<Repository> {
        Self::open_with(storage, password, None)
    }

    /// Opens a repository with the master key cached in `key_cache` (a directory), for
    /// commands that run many times a minute; see `key_cache`.
    pub fn open_with(
        storage: Storage,
        password: &str,
        key_cache: Option<&std::path::Path>,
    ) -> Result<Repository> {
        let raw = storage.read_config()?;
        let (key_id, key) = match key_cache {
            Some(dir) => open_master_key_cached(&storage, &raw, password, dir)?,
            None => open_master_key(&storage, password)?,
        };
        let config: Config = unpacked::open(&key, &raw, "config", &Id::default())?;
        if config.version != 1 && config.version != 2 {
            return Err(Error::UnsupportedVersion(config.version));
        }
        storage.clean_temporary();
        Repository::assemble(storage, key, key_id, config)
    }

    fn assemble(storage: Storage, key: Key, key_id: Id, config: Config) -> Result<Repository> {
        let polynomial = config.polynomial()?;
        Ok(Repository {
            storage,
            key,
            key_id,
            config,
            polynomial,
            chunker_tables: Tables::new(polynomial),
            index: RwLock::default(),
            loaded_indexes: Default::default(),
            lock_wait: std::time::Duration::ZERO,
            no_lock: false,
            cache: None,
            tree_pack_fetch: Default::default(),
        })
    }

    /// Keeps index and snapshot files of a remote repository in `root` (see
    /// [`FileCache`]); a local repository needs no copy of its own files.
    pub fn with_cache(mut self, root: &std::path::Path) -> Repository {
        if self.storage.local_root().is_none() {
            self.cache = Some(FileCache::new(root, &self.config.id.to_hex()));
        }
        self
    }

    /// How long to keep trying when the repository is locked (restic's `--retry-lock`).
    pub fn with_lock_wait(mut self, wait: std::time::Duration) -> Repository {
        self.lock_wait = wait;
        self
    }

    /// Skip shared locks (restic's `--no-lock`): reading a repository on a read-only
    /// disk then works. Exclusive locks (forget, tag, prune) are always taken.
    pub fn with_no_lock(mut self, no_lock: bool) -> Repository {
        self.no_lock = no_lock;
        self
    }

    /// Takes a lock on the repository, waiting up to the configured time for a
    /// conflicting one to go away.
    pub fn lock(&self, exclusive: bool) -> Result<crate::lock::Lock> {
        if self.no_lock && !exclusive {
            return Ok(crate::lock::Lock::none());
        }
        // Exclusive locks are for the commands that delete: refuse them before any
        // work when this client may not delete.
        if exclusive && self.storage.append_only() {
            return Err(Error::AppendOnly {
                location: self.storage.location().to_string(),
                what: "this command deletes files".into(),
            });
        }
        crate::lock::Lock::acquire_waiting(self, exclusive, self.lock_wait)
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }
    pub fn key(&self) -> &Key {
        &self.key
    }
    pub fn key_id(&self) -> Id {
        self.key_id
    }
    pub fn config(&self) -> &Config {
        &self.config
    }
    pub fn polynomial(&self) -> Polynomial {
        self.polynomial
    }
    /// The chunker's lookup tables for this repository's polynomial.
    pub fn chunker_tables(&self) -> &Tables {
        &self.chunker_tables
    }
    /// Version 2 repositories compress blobs and metadata.
    pub fn compresses(&self) -> bool {
        self.config.version >= 2
    }

    /// Encrypts (and compresses) a JSON file and stores it; returns its id.
    pub fn save_json<T: Serialize>(&self, ft: FileType, value: &T) -> Result<Id> {
        let data = unpacked::seal(&self.key, value, self.compresses());
        let id = Id::hash(&data);
        if let Some(cache) = self.cache.as_ref().filter(|_| FileCache::holds(ft)) {
            cache.put(ft, &id, &data);
        }
        self.storage.write(ft, &id, data)?;
        Ok(id)
    }

    /// Stores one of bunker's own named objects (WAL segments), encrypted, with its name
    /// inside so that a renamed object does not pass for another. Compressed (behind the
    /// format byte `2`) in version 2 repositories; a version 1 repository stores nothing
    /// compressed, so there the framed bytes are encrypted as they are (they begin with
    /// the path, never with the byte `2`).
    pub fn save_object(&self, path: &str, plain: &[u8]) -> Result<()> {
        let mut framed = Vec::with_capacity(path.len() + 1 + plain.len());
        framed.extend_from_slice(path.as_bytes());
        framed.push(0);
        framed.extend_from_slice(plain);
        let sealed = if self.compresses() {
            let mut sealed = vec![2u8];
            sealed.extend_from_slice(
                &zstd::bulk::compress(&framed, unpacked::ZSTD_LEVEL)
                    .map_err(|e| Error::io(path, e))?,
            );
            sealed
        } else {
            framed
        };
        self.storage.write_object(path, self.key.encrypt(&sealed))
    }

    /// Reads a named object written by [`Self::save_object`]; `None` when absent. A
    /// damaged object (it does not authenticate, decompress, or carry its own name) is
    /// [`Error::Corrupt`] naming its path.
    pub fn load_object(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let Some(data) = self.storage.read_object(path)? else {
            return Ok(None);
        };
        self.open_object(path, &data).map(Some)
    }

    /// Verifies one named object: it is there, it authenticates with the master key,
    /// decompresses, and holds the content written under `path` (not another object's).
    /// `check --read-data` runs it on every object under bunker's prefixes; one damaged
    /// WAL segment is then reported by name, not discovered during a recovery.
    pub fn verify_object(&self, path: &str) -> Result<()> {
        match self.load_object(path)? {
            Some(_) => Ok(()),
            None => Err(Error::NotFound {
                what: "object",
                id: path.to_string(),
            }),
        }
    }

    /// Opens the stored bytes of the named object at `path`.
    fn open_object(&self, path: &str, data: &[u8]) -> Result<Vec<u8>> {
        let bad = |why: &str| Error::Corrupt {
            what: "object",
            id: path.to_string(),
            reason: why.to_string(),
        };
        let plain = self
            .key
            .decrypt(data)
            .map_err(|_| bad("decryption failed"))?;
        let mut framed = match plain.first() {
            Some(2) => {
                zstd::stream::decode_all(&plain[1..]).map_err(|_| bad("decompression failed"))?
            }
            _ => plain,
        };
        let name_end = path.len();
        if framed.len() <= name_end
            || &framed[..name_end] != path.as_bytes()
            || framed[name_end] != 0
        {
            return Err(bad("it holds another object's content"));
        }
        framed.drain(..=name_end);
        Ok(framed)
    }

    pub fn load_json<T: DeserializeOwned>(&self, ft: FileType, id: &Id) -> Result<T> {
        let cache = self.cache.as_ref().filter(|_| FileCache::holds(ft));
        if let Some(data) = cache.and_then(|c| c.get(ft, id)) {
            return unpacked::open(&self.key, &data, ft.name(), id);
        }
        let data = self.storage.read(ft, id)?;
        if Id::hash(&data) != *id {
            return Err(Error::corrupt(
                ft.name(),
                id,
                "content does not match its id",
            ));
        }
        if let Some(c) = cache {
            c.put(ft, id, &data);
        }
        unpacked::open(&self.key, &data, ft.name(), id)
    }

    /// Drops cached copies of files a listing no longer shows.
    fn forget_unlisted(&self, ft: FileType, listed: &[(Id, u64)]) {
        if let Some(cache) = &self.cache {
            cache.retain(ft, &listed.iter().map(|(id, _)| *id).collect());
        }
    }

    pub fn index(&self) -> RwLockReadGuard<'_, MasterIndex> {
        self.index.read().expect("index lock")
    }

    pub(crate) fn index_add(&self, packs: &[crate::index::IndexPack]) {
        let mut idx = self.index.write().expect("index lock");
        for p in packs {
            idx.add_pack(p);
        }
    }

    pub fn locate(&self, t: BlobType, id: &Id) -> Option<BlobLocation> {
        self.index().get(t, id)
    }

    /// Decrypts, decompresses and verifies one blob read from storage.
    pub fn decode_blob(&self, id: &Id, loc: &BlobLocation, raw: &[u8]) -> Result<Vec<u8>> {
        let plain = self.key.decrypt(raw).map_err(|_| {
            Error::corrupt(
                "blob",
                id,
                format!("in pack {}: decryption failed", loc.pack),
            )
        })?;
        let plain = if loc.uncompressed_length != 0 {
            decompress(&plain, loc.uncompressed_length as usize).map_err(|e| {
                Error::corrupt(
                    "blob",
                    id,
                    format!("in pack {}: decompression failed: {e}", loc.pack),
                )
            })?
        } else {
            plain
        };
        if Id::hash(&plain) != *id {
            return Err(Error::corrupt(
                "blob",
                id,
                format!("in pack {}: content does not match its id", loc.pack),
            ));
        }
        Ok(plain)
    }

    /// Reads one blob's plaintext.
    pub fn read_blob(&self, t: BlobType, id: &Id) -> Result<Vec<u8>> {
        let mut loc = self.locate(t, id);
        if loc.is_none() {
            // A snapshot written after our index was read (a concurrent backup) refers
            // to index files we have not seen: read the new ones, then look again.
            self.load_index()?;
            loc = self.locate(t, id);
        }
        let loc = loc.ok_or_else(|| Error::missing_blob(t, id))?;
        if let (BlobType::Tree, Some(cache)) = (t, &self.cache) {
            return self.read_tree_blob_cached(cache, id, &loc);
        }
        let raw = self.storage.read_range(
            FileType::Pack,
            &loc.pack,
            loc.offset as u64,
            loc.length as u64,
        )?;
        self.decode_blob(id, &loc, &raw)
    }

    /// Tree blobs of a remote repository come from a cached copy of their pack, as
    /// restic's cache keeps them: walking a snapshot (the parent of a backup, a restore,
    /// `ls`) reads every tree, and one GET per tree costs more than the backup itself.
    fn read_tree_blob_cached(
        &self,
        cache: &FileCache,
        id: &Id,
        loc: &BlobLocation,
    ) -> Result<Vec<u8>> {
        let (offset, len) = (loc.offset as u64, loc.length as u64);
        if let Some(raw) = cache.read_range(FileType::Pack, &loc.pack, offset, len) {
            match self.decode_blob(id, loc, &raw) {
                Ok(blob) => return Ok(blob),
                Err(_) => cache.remove(FileType::Pack, &loc.pack),
            }
        }
        // One download per pack: threads walking sibling trees wait for the first.
        let _one_at_a_time = self.tree_pack_fetch.lock().expect("tree pack fetch");
        if let Some(raw) = cache.read_range(FileType::Pack, &loc.pack, offset, len) {
            return self.decode_blob(id, loc, &raw);
        }
        let pack = self.storage.read(FileType::Pack, &loc.pack)?;
        let end = offset + len;
        if Id::hash(&pack) != loc.pack || end > pack.len() as u64 {
            return Err(Error::corrupt(
                "pack",
                &loc.pack,
                "content does not match its id",
            ));
        }
        cache.put(FileType::Pack, &loc.pack, &pack);
        self.decode_blob(id, loc, &pack[offset as usize..end as usize])
    }

    pub fn load_tree(&self, id: &Id) -> Result<Tree> {
        let data = self.read_blob(BlobType::Tree, id)?;
        Tree::from_blob(&data).map_err(|e| Error::corrupt("tree", id, format!("invalid JSON: {e}")))
    }

    /// All readable snapshots, sorted by time (oldest first). A damaged snapshot file
    /// must not hide the others: see [`Self::load_snapshots`] for the damaged ones.
    pub fn snapshots(&self) -> Result<Vec<Snapshot>> {
        Ok(self.load_snapshots()?.0)
    }

    /// Readable snapshots (sorted by time) and the errors of those that are not.
    pub fn load_snapshots(&self) -> Result<(Vec<Snapshot>, Vec<Error>)> {
        let ids = self.storage.list(FileType::Snapshot)?;
        self.forget_unlisted(FileType::Snapshot, &ids);
        let loaded: Vec<Result<Snapshot>> = ids
            .par_iter()
            .map(|(id, _)| self.load_snapshot(id))
            .collect();
        let (mut snaps, mut errors) = (Vec::new(), Vec::new());
        for r in loaded {
            match r {
                Ok(s) => snaps.push(s),
                // Storage trouble is not damage: report it as the failure it is.
                Err(e @ Error::Storage { .. }) => return Err(e),
                // Removed since it was listed (forget, tag): not there any more.
                Err(Error::NotFound { .. }) => {}
                Err(e) => errors.push(e),
            }
        }
        snaps.sort_by(|a, b| a.time.cmp(&b.time).then(a.id.cmp(&b.id)));
        Ok((snaps, errors))
    }

    pub fn load_snapshot(&self, id: &Id) -> Result<Snapshot> {
        let mut s: Snapshot = self.load_json(FileType::Snapshot, id)?;
        s.id = *id;
        Ok(s)
    }

    /// Resolves `latest` or an id prefix of at least 1 hex digit to one snapshot.
    ///
    /// `latest` is the newest snapshot `filter` matches, and only while every snapshot
    /// file reads: a damaged one may be the newest, and restoring an older snapshot in
    /// its place without a word would pass old data for new. Then this fails with
    /// [`Error::LatestUnknown`], which names the damaged files; an explicit id still works.
    pub fn find_snapshot(
        &self,
        spec: &str,
        filter: &crate::snapshot::SnapshotFilter,
    ) -> Result<Snapshot> {
        if spec == "latest" {
            let (snaps, damaged) = self.load_snapshots()?;
            if !damaged.is_empty() {
                return Err(Error::LatestUnknown {
                    damaged: damaged.iter().map(Error::to_string).collect(),
                });
            }
            return snaps
                .into_iter()
                .rfind(|s| filter.matches(s))
                .ok_or_else(|| Error::NotFound {
                    what: "snapshot",
                    id: "latest".into(),
                });
        }
        // A prefix is resolved among the files, damaged ones included: a prefix of a
        // damaged snapshot says so instead of matching another one.
        let id = self.find_file(FileType::Snapshot, spec)?;
        self.load_snapshot(&id)
    }

    /// The snapshots a multi-snapshot command works on, as restic selects them: each of
    /// `specs` (an id, a unique prefix or `latest`) resolved, or with no specs every
    /// snapshot `filter` matches. Sorted by time, each snapshot once.
    pub fn find_snapshots(
        &self,
        specs: &[String],
        filter: &crate::snapshot::SnapshotFilter,
    ) -> Result<Vec<Snapshot>> {
        let mut found = if specs.is_empty() {
            let mut all = self.snapshots()?;
            all.retain(|s| filter.matches(s));
            all
        } else {
            specs
                .iter()
                .map(|spec| self.find_snapshot(spec, filter))
                .collect::<Result<Vec<_>>>()?
        };
        found.sort_by(|a, b| a.time.cmp(&b.time).then(a.id.cmp(&b.id)));
        found.dedup_by(|a, b| a.id == b.id);
        Ok(found)
    }

    /// Resolves an id prefix among the files of one type.
    pub fn find_file(&self, ft: FileType, prefix: &str) -> Result<Id> {
        if let Ok(id) = prefix.parse::<Id>() {
            return Ok(id);
        }
        let found: Vec<Id> = self
            .storage
            .list(ft)?
            .into_iter()
            .map(|(id, _)| id)
            .filter(|id| id.to_hex().starts_with(prefix))
            .collect();
        match found.len() {
            1 => Ok(found[0]),
            0 => Err(Error::NotFound {
                what: ft.name(),
                id: prefix.into(),
            }),
            _ => Err(Error::Invalid(format!(
                "{} prefix {prefix} is ambiguous: give more digits",
                ft.name()
            ))),
        }
    }
}

thread_local! {
    /// One zstd decompression context per thread: creating one per blob cost 13% of a
    /// `check --read-data` (its tables are large and zeroed on creation).
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

fn decompress(data: &[u8], capacity: usize) -> std::io::Result<Vec<u8>> {
    DECOMPRESSOR.with(|d| {
        let mut d = d.borrow_mut();
        if d.is_none() {
            *d = Some(zstd::bulk::Decompressor::new()?);
        }
        d.as_mut().expect("created").decompress(data, capacity)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StorageOptions;

    #[test]
    fn verify_object_names_a_damaged_or_renamed_object() {
        let dir = tempfile::tempdir().unwrap();
        let location = dir.path().join("repo");
        let storage =
            Storage::create(location.to_str().unwrap(), &StorageOptions::default()).unwrap();
        let repo = Repository::init(storage, "pw").unwrap();
        let path = "wal/1/00000001/000000010000000000000001";
        repo.save_object(path, b"segment bytes").unwrap();
        repo.verify_object(path).unwrap();

        let file = location.join(path);
        let mut bytes = std::fs::read(&file).unwrap();
        let renamed = "wal/1/00000001/000000010000000000000002";
        std::fs::write(location.join(renamed), &bytes).unwrap();
        let e = repo.verify_object(renamed).unwrap_err().to_string();
        assert!(e.contains(renamed) && e.contains("another object"), "{e}");

        let mid = bytes.len() / 2;
        bytes[mid] ^= 1;
        std::fs::write(&file, &bytes).unwrap();
        let e = repo.verify_object(path).unwrap_err();
        assert!(matches!(e, Error::Corrupt { .. }), "{e}");
        assert!(e.to_string().contains(path), "{e}");

        let absent = "wal/1/00000001/000000010000000000000009";
        assert!(matches!(
            repo.verify_object(absent),
            Err(Error::NotFound { .. })
        ));
    }
}
