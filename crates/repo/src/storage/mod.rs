//! Where a repository's files live: restic's layout (`config`, `keys/`, `data/xx/`,
//! `index/`, `snapshots/`, `locks/`) over an `opendal` operator.
//!
//! The engine is synchronous and parallel with threads; opendal is async, so storage
//! uses opendal's blocking operator on top of one small tokio runtime that every
//! `Storage` of the process shares.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use opendal::options::ListOptions;
use opendal::ErrorKind;

use crate::error::{Error, Result};
use crate::id::Id;

mod disk_faults;
mod faults;
mod local;
mod location;
mod services;

pub use location::Location;
pub use services::StorageOptions;

/// The kinds of file in a restic repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileType {
    Config,
    Key,
    Snapshot,
    Index,
    Pack,
    Lock,
    /// bunker's own: the encrypted report of a restore drill (`drills/`), where restic
    /// does not look.
    Drill,
    /// bunker's own: one encrypted audit-log event (`audit/`): who backed up, restored,
    /// forgot, pruned or changed keys, kept with the data it concerns.
    Audit,
}

impl FileType {
    pub fn dir(self) -> &'static str {
        match self {
            FileType::Config => "",
            FileType::Key => "keys",
            FileType::Snapshot => "snapshots",
            FileType::Index => "index",
            FileType::Pack => "data",
            FileType::Lock => "locks",
            FileType::Drill => "drills",
            FileType::Audit => "audit",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FileType::Config => "config",
            FileType::Key => "key",
            FileType::Snapshot => "snapshot",
            FileType::Index => "index",
            FileType::Pack => "pack",
            FileType::Lock => "lock",
            FileType::Drill => "drill report",
            FileType::Audit => "audit event",
        }
    }
}

/// One of bunker's own named objects, as listed.
#[derive(Clone, Debug)]
pub struct ObjectEntry {
    pub path: String,
    pub size: u64,
    pub modified: Option<std::time::SystemTime>,
}

/// Handle on the storage of one repository.
#[derive(Clone)]
pub struct Storage {
    op: opendal::blocking::Operator,
    /// Writes data packs where they go to a storage class of their own.
    pack_op: Option<opendal::blocking::Operator>,
    location: String,
    local_root: Option<PathBuf>,
    /// The modes of new files and directories on a local disk (see `local`).
    modes: local::Modes,
    /// Whether writes go to a temporary name and are renamed into place (local disks
    /// and SFTP; an object store's PUT is atomic by itself).
    rename_into_place: bool,
    /// Uploads and downloads to run in parallel.
    connections: usize,
    /// Whether to compare an upload's MD5 with the one the service reports for what it
    /// stored (Azure and GCS report one; S3 checks the Content-MD5 bunker sends).
    verify_md5: bool,
    append_only: bool,
}

/// The process's one tokio runtime, built on first use. A runtime per `Storage` cost
/// two worker threads and a blocking pool for each repository a command opens (`copy`
/// opens two, the daemon one per job and run), none of them shared.
fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bunker-io")
        .enable_all()
        .build()
        .map_err(|e| Error::io("tokio runtime", e))?;
    // Two threads racing here: one runtime is kept, the other dropped unused.
    Ok(RUNTIME.get_or_init(|| rt))
}

impl Storage {
    /// Opens storage for a repository location: a local path (`local:` prefix optional),
    /// `s3:`, `gs:`, `azure:` or `sftp:` in restic's syntax.
    ///
    /// Opening a local location touches nothing: a directory that does not exist is
    /// [`Error::NoRepository`] (a typo or an unmounted disk must not become a new empty
    /// directory), and a read-only repository opens for reading. Remote locations are
    /// not contacted until the first request.
    pub fn open(location: &str, opts: &StorageOptions) -> Result<Storage> {
        let parsed = Location::parse(location)?;
        if let Location::Local(root) = &parsed {
            if !root.is_dir() {
                return Err(Error::NoRepository {
                    location: location.to_string(),
                });
            }
        }
        Self::build(parsed, opts)
    }

    /// Opens storage for a new repository, creating a local directory if needed (a
    /// bucket or container must exist). A directory bunker creates is private (0700).
    pub fn create(location: &str, opts: &StorageOptions) -> Result<Storage> {
        let parsed = Location::parse(location)?;
        if let Location::Local(root) = &parsed {
            local::Modes::PRIVATE
                .create_dirs(root)
                .map_err(|e| Error::io(root, e))?;
        }
        Self::build(parsed, opts)
    }

    fn build(location: Location, opts: &StorageOptions) -> Result<Storage> {
        let _guard = runtime()?.enter();
        let name = location.to_string();
        let blocking = |op| {
            opendal::blocking::Operator::new(op).map_err(|e| storage_err("open", &name, "", e))
        };
        let (op, pack_op, local_root, connections) = match &location {
            Location::Local(root) => {
                let builder = opendal::services::Fs::default().root(&root.to_string_lossy());
                let mut op = opendal::Operator::new(builder)
                    .map_err(|e| storage_err("open", &name, "", e))?;
                if let Some(spec) = std::env::var("BUNKER_INJECT_DISK_FAULTS")
                    .ok()
                    .filter(|v| !v.is_empty())
                {
                    op = op.layer(disk_faults::DiskFaultLayer::parse(&spec)?);
                }
                (blocking(op)?, None, Some(root.clone()), 1)
            }
            remote => {
                let op = services::remote_operator(remote, opts, false)?;
                let pack_op = match opts.has_pack_class(remote.service()) {
                    true => Some(blocking(services::remote_operator(remote, opts, true)?)?),
                    false => None,
                };
                (
                    blocking(op)?,
                    pack_op,
                    None,
                    opts.connections(remote.service())?,
                )
            }
        };
        Ok(Storage {
            op,
            pack_op,
            location: name,
            modes: local_root
                .as_deref()
                .map(local::Modes::of)
                .unwrap_or(local::Modes::PRIVATE),
            local_root,
            rename_into_place: matches!(location, Location::Local(_) | Location::Sftp { .. }),
            connections,
            verify_md5: matches!(location, Location::Azure { .. } | Location::Gcs { .. }),
            append_only: opts.append_only(),
        })
    }

    /// How many uploads a backup keeps in flight.
    pub fn connections(&self) -> usize {
        self.connections
    }

    /// Whether this client may only add files: no delete, no overwrite.
    pub fn append_only(&self) -> bool {
        self.append_only
    }

    fn refuse_delete(&self, path: &str) -> Result<()> {
        if self.append_only {
            return Err(Error::AppendOnly {
                location: self.location.clone(),
                what: format!("{path} may not be deleted"),
            });
        }
        Ok(())
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    /// The local directory behind this storage, if it is local.
    pub fn local_root(&self) -> Option<&Path> {
        self.local_root.as_deref()
    }

    pub fn path(ft: FileType, id: &Id) -> String {
        let hex = id.to_hex();
        match ft {
            FileType::Config => "config".into(),
            FileType::Pack => format!("data/{}/{}", &hex[..2], hex),
            _ => format!("{}/{}", ft.dir(), hex),
        }
    }

    fn err(&self, op: &'static str, path: &str, e: opendal::Error) -> Error {
        storage_err(op, &self.location, path, e)
    }

    pub fn read(&self, ft: FileType, id: &Id) -> Result<Vec<u8>> {
        if ft == FileType::Pack && self.local_root.is_some() {
            // Packs are large: size first, then one exact read. (A remote store would
            // pay a request for the size: there, one GET.)
            let size = self.size(ft, id)?;
            return self.read_range(ft, id, 0, size);
        }
        let path = Self::path(ft, id);
        match self.op.read(&path) {
            Ok(b) => Ok(into_vec(b)),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(Error::NotFound {
                what: ft.name(),
                id: id.to_hex(),
            }),
            Err(e) => Err(self.err("read", &path, e)),
        }
    }

    /// Reads `len` bytes at `offset` into one buffer of exactly that size (opendal's own
    /// buffers arrive in pieces; joining them cost a second copy of every pack read).
    pub fn read_range(&self, ft: FileType, id: &Id, offset: u64, len: u64) -> Result<Vec<u8>> {
        let path = Self::path(ft, id);
        let not_found = |e: opendal::Error| match e.kind() {
            ErrorKind::NotFound => Error::NotFound {
                what: ft.name(),
                id: id.to_hex(),
            },
            _ => self.err("read", &path, e),
        };
        let reader = self.op.reader(&path).map_err(not_found)?;
        let mut buf = Vec::with_capacity(len as usize);
        let n = reader
            .read_into(&mut buf, offset..offset + len)
            .map_err(not_found)?;
        if n as u64 != len || buf.len() as u64 != len {
            return Err(Error::corrupt(
                ft.name(),
                id,
                format!("short read at {offset}+{len}"),
            ));
        }
        Ok(buf)
    }

    /// Writes a whole file; durable (file and directory synced on local disks) on return.
    pub fn write(&self, ft: FileType, id: &Id, data: Vec<u8>) -> Result<()> {
        let path = Self::path(ft, id);
        match (&self.pack_op, ft) {
            (Some(pack_op), FileType::Pack) => self.put(pack_op, &path, data),
            _ => self.write_path(&path, data),
        }
    }

    /// Writes a file so that it is either whole under its name or not there at all.
    /// Object stores give that with one PUT (with Content-MD5 where the service takes
    /// it, so a body damaged on the way is refused). Local disks and SFTP write under a
    /// temporary name in `.tmp/` (fsynced on close), rename into place, then fsync the
    /// directory: a file that is there is durable. A write that fails (a full disk)
    /// removes its temporary file at once. On a local disk the file is made read-only
    /// and its directories private before it gets its name (see `local`).
    fn write_path(&self, path: &str, data: Vec<u8>) -> Result<()> {
        let len = data.len() as u64;
        if !self.rename_into_place {
            return self.put(&self.op, path, data);
        }
        let tmp = format!(
            ".tmp/{}-{:016x}",
            path.replace('/', "_"),
            rand::random::<u64>()
        );
        let written = self
            .op
            .write(&tmp, data)
            .map_err(|e| self.err("write", path, e))
            .and_then(|meta| check_written(path, &meta, len));
        if let Err(e) = written {
            // Removing our own temporary file is no deletion of repository data: an
            // append-only client removes it too.
            let _ = self.op.delete(&tmp);
            return Err(e);
        }
        if let Some(root) = &self.local_root {
            self.modes.seal_file(&root.join(&tmp));
            let dir = root.join(path);
            let dir = dir.parent().unwrap_or(root);
            if let Err(e) = self.modes.create_dirs(dir) {
                let _ = self.op.delete(&tmp);
                return Err(Error::io(dir, e));
            }
        }
        if let Err(e) = self.op.rename(&tmp, path) {
            let _ = self.op.delete(&tmp);
            return Err(self.err("rename", path, e));
        }
        self.sync_dir_of(path)
    }

    /// One PUT to an object store, checked against what the service says it stored.
    fn put(&self, op: &opendal::blocking::Operator, path: &str, data: Vec<u8>) -> Result<()> {
        let len = data.len() as u64;
        let md5 = self.verify_md5.then(|| {
            use base64::Engine;
            use md5::Digest;
            base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&data))
        });
        let meta = op
            .write(path, data)
            .map_err(|e| self.err("write", path, e))?;
        check_written(path, &meta, len)?;
        match (md5, meta.content_md5()) {
            (Some(sent), Some(stored)) if sent != stored => {
                if !self.append_only {
                    let _ = op.delete(path);
                }
                Err(Error::Invalid(format!(
                    "{}/{path}: the upload arrived damaged (MD5 {stored}, sent {sent})",
                    self.location
                )))
            }
            _ => Ok(()),
        }
    }

    /// On local disks, fsync the directory that holds `path` so a rename is durable.
    fn sync_dir_of(&self, path: &str) -> Result<()> {
        if let Some(root) = &self.local_root {
            let dir = root.join(path);
            let dir = dir.parent().unwrap_or(root);
            let f = std::fs::File::open(dir).map_err(|e| Error::io(dir, e))?;
            f.sync_all().map_err(|e| Error::io(dir, e))?;
        }
        Ok(())
    }

    pub fn exists(&self, ft: FileType, id: &Id) -> Result<bool> {
        let path = Self::path(ft, id);
        self.op
            .exists(&path)
            .map_err(|e| self.err("stat", &path, e))
    }

    pub fn size(&self, ft: FileType, id: &Id) -> Result<u64> {
        let path = Self::path(ft, id);
        match self.op.stat(&path) {
            Ok(m) => Ok(m.content_length()),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(Error::NotFound {
                what: ft.name(),
                id: id.to_hex(),
            }),
            Err(e) => Err(self.err("stat", &path, e)),
        }
    }

    pub fn remove(&self, ft: FileType, id: &Id) -> Result<()> {
        let path = Self::path(ft, id);
        self.refuse_delete(&path)?;
        self.op
            .delete(&path)
            .map_err(|e| self.err("delete", &path, e))
    }

    /// Lists the ids of all files of one type, with their sizes. Names that are not ids
    /// (temporary files of other tools) are skipped.
    pub fn list(&self, ft: FileType) -> Result<Vec<(Id, u64)>> {
        let dir = format!("{}/", ft.dir());
        let opts = ListOptions {
            recursive: true,
            ..Default::default()
        };
        let entries = match self.op.list_options(&dir, opts) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.err("list", &dir, e)),
        };
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            if !e.metadata().is_file() {
                continue;
            }
            let Some(id) = e.name().parse::<Id>().ok() else {
                continue;
            };
            let mut size = e.metadata().content_length();
            if size == 0 {
                // The lister gave no size: ask. A file removed since it was listed (a lock
                // released by another process) is simply no longer there.
                size = match self.size(ft, &id) {
                    Ok(n) => n,
                    Err(Error::NotFound { .. }) => continue,
                    Err(e) => return Err(e),
                };
            }
            out.push((id, size));
        }
        Ok(out)
    }

    /// Writes one of bunker's own named objects (under a prefix restic does not read,
    /// such as `wal/`); durable on return, like every other write.
    pub fn write_object(&self, path: &str, data: Vec<u8>) -> Result<()> {
        self.write_path(path, data)
    }

    /// Reads a named object; `None` when there is none of that name.
    pub fn read_object(&self, path: &str) -> Result<Option<Vec<u8>>> {
        match self.op.read(path) {
            Ok(b) => Ok(Some(into_vec(b))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err("read", path, e)),
        }
    }

    pub fn object_exists(&self, path: &str) -> Result<bool> {
        self.op.exists(path).map_err(|e| self.err("stat", path, e))
    }

    pub fn remove_object(&self, path: &str) -> Result<()> {
        self.refuse_delete(path)?;
        self.op
            .delete(path)
            .map_err(|e| self.err("delete", path, e))
    }

    /// Lists the named objects below `prefix` (which ends in `/`), recursively, with
    /// their sizes and modification times where the service gives them.
    pub fn list_objects(&self, prefix: &str) -> Result<Vec<ObjectEntry>> {
        let opts = ListOptions {
            recursive: true,
            ..Default::default()
        };
        let entries = match self.op.list_options(prefix, opts) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.err("list", prefix, e)),
        };
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            if !e.metadata().is_file() {
                continue;
            }
            let mut meta = e.metadata().clone();
            if meta.last_modified().is_none() {
                meta = match self.op.stat(e.path()) {
                    Ok(m) => m,
                    Err(err) if err.kind() == ErrorKind::NotFound => continue,
                    Err(err) => return Err(self.err("stat", e.path(), err)),
                };
            }
            out.push(ObjectEntry {
                path: e.path().to_string(),
                size: meta.content_length(),
                modified: meta.last_modified().map(std::time::SystemTime::from),
            });
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// The names at the top of the repository (directories end in `/`), for `check` to
    /// notice what neither restic nor bunker put there.
    pub fn list_top_level(&self) -> Result<Vec<String>> {
        let entries = match self.op.list("") {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.err("list", "", e)),
        };
        let mut names: Vec<String> = entries
            .into_iter()
            .map(|e| e.path().to_string())
            .filter(|p| !p.is_empty() && p != "/")
            .collect();
        names.sort();
        Ok(names)
    }

    pub fn config_exists(&self) -> Result<bool> {
        self.op
            .exists("config")
            .map_err(|e| self.err("stat", "config", e))
    }

    pub fn read_config(&self) -> Result<Vec<u8>> {
        match self.op.read("config") {
            Ok(b) => Ok(into_vec(b)),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(Error::NoRepository {
                location: self.location.clone(),
            }),
            Err(e) => Err(self.err("read", "config", e)),
        }
    }

    pub fn write_config(&self, data: Vec<u8>) -> Result<()> {
        self.write_path("config", data)
    }

    /// Creates the directory layout restic expects (local disks and SFTP need the 256
    /// data dirs; object stores have no directories). Local directories are private.
    pub fn create_layout(&self) -> Result<()> {
        if !self.rename_into_place {
            return Ok(());
        }
        let mut dirs: Vec<String> = ["keys/", "snapshots/", "index/", "locks/", "data/", ".tmp/"]
            .map(String::from)
            .to_vec();
        dirs.extend((0..256).map(|i| format!("data/{i:02x}/")));
        for d in dirs {
            match &self.local_root {
                Some(root) => {
                    let dir = root.join(&d);
                    self.modes
                        .create_dirs(&dir)
                        .map_err(|e| Error::io(dir, e))?
                }
                None => self
                    .op
                    .create_dir(&d)
                    .map_err(|e| self.err("mkdir", &d, e))?,
            }
        }
        Ok(())
    }

    /// Removes temporary files that an interrupted run left behind.
    pub fn clean_temporary(&self) {
        if let Some(root) = &self.local_root {
            if let Ok(rd) = std::fs::read_dir(root.join(".tmp")) {
                for e in rd.flatten() {
                    let old = e
                        .metadata()
                        .and_then(|m| m.modified())
                        .map(|t| t.elapsed().map(|d| d.as_secs() > 3600).unwrap_or(false))
                        .unwrap_or(false);
                    if old {
                        let _ = std::fs::remove_file(e.path());
                    }
                }
            }
        }
    }
}

/// Checks the size a service reports for a write, where it reports one.
fn check_written(path: &str, meta: &opendal::Metadata, len: u64) -> Result<()> {
    if meta.content_length() != 0 && meta.content_length() != len {
        return Err(Error::Invalid(format!(
            "{path}: wrote {} of {len} bytes",
            meta.content_length()
        )));
    }
    Ok(())
}

/// Takes the bytes out of an opendal buffer, without a copy when it holds one piece.
fn into_vec(buf: opendal::Buffer) -> Vec<u8> {
    let bytes = buf.to_bytes();
    drop(buf);
    Vec::from(bytes)
}

fn storage_err(op: &'static str, location: &str, path: &str, source: opendal::Error) -> Error {
    Error::Storage {
        op,
        location: location.to_string(),
        path: path.to_string(),
        source: Box::new(source),
    }
}
