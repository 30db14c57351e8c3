//! The WAL archive: PostgreSQL's WAL files in the repository under bunker's own prefix,
//! `wal/<system-id>/<timeline>/<file>`, one encrypted, compressed object per file
//! (restic does not look there). What `archive_command`, `restore_command` and
//! `wal-receive` read and write, and what `pg info`, `pitr` and retention reason about.
//!
//! WAL objects are not part of the restic format: no index or snapshot refers to them,
//! so writing one takes no repository lock (a push must be fast and must not wait for a
//! prune). Prune removes only segments older than every base backup of their system.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use bunker_repo::Repository;
use bunker_sources::postgres::wal::{segment_name, segment_system_identifier, Lsn, WalFile};
use serde::Serialize;

use crate::error::{Error, Result};

/// The suffix of the in-progress segment `wal-receive` keeps in the archive (PostgreSQL
/// never asks for it; `pitr --latest` puts it in place).
pub const STREAMING_SUFFIX: &str = ".streaming";

/// Where a system's WAL lives in the repository.
pub fn system_prefix(system_id: &str) -> String {
    format!("wal/{system_id}/")
}

/// The object path of one archived file.
pub fn object_path(system_id: &str, tli: u32, name: &str) -> String {
    format!("wal/{system_id}/{tli:08X}/{name}")
}

/// What a push did.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    Stored,
    /// The archive already held the same bytes under that name (PostgreSQL retries a
    /// push whose success it did not see).
    AlreadyThere,
}

fn timeline_of(name: &str, seg_size: u64) -> Result<u32> {
    let base = name.strip_suffix(STREAMING_SUFFIX).unwrap_or(name);
    WalFile::parse(base, seg_size)
        .map(|f| f.timeline())
        .ok_or_else(|| Error::NotWalName(name.to_string()))
}

/// Stores one WAL file. The same name pushed twice succeeds only if the bytes are the
/// same (PostgreSQL's rule for archive commands); `.streaming` objects are replaced.
pub fn push(
    repo: &Repository,
    system_id: &str,
    name: &str,
    data: &[u8],
    seg_size: u64,
) -> Result<Pushed> {
    let tli = timeline_of(name, seg_size)?;
    if let Some(WalFile::Segment { .. } | WalFile::Partial { .. }) = WalFile::parse(name, seg_size)
    {
        if let Some(id) = segment_system_identifier(data) {
            if id.to_string() != system_id {
                return Err(Error::OtherSystem {
                    name: name.to_string(),
                    belongs_to: id.to_string(),
                    system: system_id.to_string(),
                });
            }
        }
    }
    let path = object_path(system_id, tli, name);
    if !name.ends_with(STREAMING_SUFFIX) {
        if let Some(existing) = repo.load_object(&path)? {
            if existing == data {
                return Ok(Pushed::AlreadyThere);
            }
            return Err(Error::ArchivedDifferently {
                name: name.to_string(),
                there: existing.len(),
                here: data.len(),
            });
        }
    }
    repo.save_object(&path, data)?;
    Ok(Pushed::Stored)
}

/// Reads one archived file; `None` when the archive does not have it.
pub fn fetch(
    repo: &Repository,
    system_id: &str,
    name: &str,
    seg_size: u64,
) -> Result<Option<Vec<u8>>> {
    let tli = timeline_of(name, seg_size)?;
    Ok(repo.load_object(&object_path(system_id, tli, name))?)
}

/// One file of the archive, as listed.
#[derive(Clone, Debug)]
pub struct Archived {
    pub name: String,
    pub file: WalFile,
    pub streaming: bool,
    pub size: u64,
    pub archived: Option<SystemTime>,
}

/// Everything archived for one system, by name.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    pub files: Vec<Archived>,
}

/// The systems that have WAL in the repository.
pub fn systems(repo: &Repository) -> Result<Vec<String>> {
    let mut ids: Vec<String> = repo
        .storage()
        .list_objects("wal/")?
        .into_iter()
        .filter_map(|o| {
            o.path
                .strip_prefix("wal/")?
                .split('/')
                .next()
                .map(String::from)
        })
        .collect();
    ids.sort();
    ids.dedup();
    Ok(ids)
}

pub fn list(repo: &Repository, system_id: &str, seg_size: u64) -> Result<Listing> {
    let mut files = Vec::new();
    for o in repo.storage().list_objects(&system_prefix(system_id))? {
        let name = o.path.rsplit('/').next().unwrap_or_default().to_string();
        let (base, streaming) = match name.strip_suffix(STREAMING_SUFFIX) {
            Some(b) => (b.to_string(), true),
            None => (name.clone(), false),
        };
        let Some(file) = WalFile::parse(&base, seg_size) else {
            continue;
        };
        files.push(Archived {
            name,
            file,
            streaming,
            size: o.size,
            archived: o.modified,
        });
    }
    files.sort_by(|a, b| a.file.cmp(&b.file).then(a.streaming.cmp(&b.streaming)));
    Ok(Listing { files })
}

/// An archived file that does not read back as what was archived.
#[derive(Clone, Debug, Serialize)]
pub struct Damaged {
    pub name: String,
    pub error: String,
}

/// Reads and authenticates every file of `listing` (each is a sealed object naming
/// itself); the damaged ones are taken out of the listing, since recovery cannot use
/// them any more than missing ones, and returned.
pub fn verify(repo: &Repository, system_id: &str, listing: &mut Listing) -> Vec<Damaged> {
    let mut damaged = Vec::new();
    listing.files.retain(|a| {
        let path = object_path(system_id, a.file.timeline(), &a.name);
        match repo.verify_object(&path) {
            Ok(()) => true,
            Err(e) => {
                damaged.push(Damaged {
                    name: a.name.clone(),
                    error: e.to_string(),
                });
                false
            }
        }
    });
    damaged
}

impl Listing {
    /// Complete segments of timeline `tli`, by number.
    pub fn segments(&self, tli: u32) -> BTreeMap<u64, &Archived> {
        self.files
            .iter()
            .filter_map(|a| match a.file {
                WalFile::Segment { tli: t, segno } if t == tli && !a.streaming => Some((segno, a)),
                _ => None,
            })
            .collect()
    }

    /// The newest in-progress segment `wal-receive` keeps for timeline `tli`.
    pub fn streaming(&self, tli: u32) -> Option<(u64, &Archived)> {
        self.files
            .iter()
            .filter(|a| a.streaming && a.file.timeline() == tli)
            .filter_map(|a| match a.file {
                WalFile::Segment { segno, .. } | WalFile::Partial { segno, .. } => Some((segno, a)),
                _ => None,
            })
            .max_by_key(|(s, _)| *s)
    }

    pub fn timelines(&self) -> Vec<u32> {
        let mut t: Vec<u32> = self.files.iter().map(|a| a.file.timeline()).collect();
        t.sort();
        t.dedup();
        t
    }

    pub fn has_history(&self, tli: u32) -> bool {
        self.files
            .iter()
            .any(|a| a.file == WalFile::History { tli })
    }
}

/// Writes `data` to `dest` through a temporary file in the same directory.
pub fn write_file(dest: &Path, data: &[u8]) -> Result<()> {
    let tmp = dest.with_extension(format!("bunker-tmp{}", std::process::id()));
    std::fs::write(&tmp, data)
        .and_then(|_| std::fs::rename(&tmp, dest))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::Write {
                path: dest.to_path_buf(),
                source: e,
            }
        })
}

/// Fetches `name` for `restore_command`, with the next `prefetch` segments of its
/// timeline fetched in parallel into `spool` so that the calls after it find them
/// there. Returns false when the archive does not have `name`.
pub fn fetch_to(
    repo: &Repository,
    system_id: &str,
    name: &str,
    dest: &Path,
    spool: &Path,
    prefetch: usize,
    seg_size: u64,
) -> Result<bool> {
    let spooled = spool.join(name);
    if spooled.is_file() {
        std::fs::rename(&spooled, dest).map_err(|e| Error::Move {
            from: spooled.clone(),
            to: dest.to_path_buf(),
            source: e,
        })?;
        return Ok(true);
    }
    let Some(WalFile::Segment { tli, segno }) = WalFile::parse(name, seg_size) else {
        // History and backup files are small and asked for once: no prefetch.
        return match fetch(repo, system_id, name, seg_size)? {
            Some(data) => write_file(dest, &data).map(|_| true),
            None => Ok(false),
        };
    };
    clear_spool(spool, seg_size, |t, s| t != tli || s < segno);
    let names: Vec<String> = (segno..segno + 1 + prefetch as u64)
        .map(|s| segment_name(tli, s, seg_size))
        .collect();
    let fetched: Vec<Result<Option<Vec<u8>>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = names
            .iter()
            .map(|n| scope.spawn(move || fetch(repo, system_id, n, seg_size)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(Error::Panicked("fetch"))))
            .collect()
    });
    let mut fetched = fetched.into_iter();
    let Some(first) = fetched.next().transpose()?.flatten() else {
        return Ok(false);
    };
    write_file(dest, &first)?;
    if std::fs::create_dir_all(spool).is_ok() {
        for (n, r) in names[1..].iter().zip(fetched) {
            // A later segment missing or unreadable is not this call's failure: it is
            // asked for (and reported) by its own call.
            match r {
                Ok(Some(data)) => {
                    let _ = write_file(&spool.join(n), &data);
                }
                _ => break,
            }
        }
    }
    Ok(true)
}

/// Removes spooled segments for which `stale(tli, segno)` holds.
pub fn clear_spool(spool: &Path, seg_size: u64, stale: impl Fn(u32, u64) -> bool) {
    let Ok(rd) = std::fs::read_dir(spool) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let old = match WalFile::parse(&name, seg_size) {
            Some(WalFile::Segment { tli, segno }) => stale(tli, segno),
            _ => true,
        };
        if old {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The position just past segment `segno`.
pub fn segment_end(segno: u64, seg_size: u64) -> Lsn {
    Lsn((segno + 1) * seg_size)
}
