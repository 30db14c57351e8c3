//! bunker's own prefixes, where restic does not look (docs/format.md): drill reports
//! (`drills/`) and audit events (`audit/`) are encrypted JSON named by their hash, like
//! snapshots; WAL objects (`wal/<system>/<timeline>/<file>`) are named objects sealed
//! with their path (see [`Repository::save_object`]).
//!
//! Without reading data, `check` lists them and checks what their names and sizes
//! show. With it, every selected object is read and must authenticate, decompress and
//! (for hash-named files) match its name: a flipped byte in an archived WAL segment is
//! an error naming the segment, found before a recovery needs it.

use std::sync::atomic::Ordering;

use rayon::prelude::*;

use crate::crypto::OVERHEAD;
use crate::error::Result;
use crate::id::Id;
use crate::repository::Repository;
use crate::storage::FileType;

use super::{CheckProgress, ReadData};

/// What restic's format puts at the top of a repository, and what bunker adds.
const KNOWN_TOP_LEVEL: &[&str] = &[
    "config",
    "keys/",
    "data/",
    "index/",
    "snapshots/",
    "locks/",
    "drills/",
    "audit/",
    "wal/",
    ".tmp/",
];

/// bunker's own files named by their hash.
const HASH_NAMED: [FileType; 2] = [FileType::Drill, FileType::Audit];

/// Where the named WAL objects live.
const WAL_PREFIX: &str = "wal/";

/// The smallest sealed object: IV and MAC, a format byte, something compressed.
const SMALLEST_OBJECT: u64 = OVERHEAD as u64 + 2;

/// How many of bunker's objects were listed and how many read.
#[derive(Debug, Default)]
pub(super) struct ObjectCounts {
    pub listed: usize,
    pub read: usize,
}

/// One object to verify: where it is and what it is.
struct Listed {
    path: String,
    size: u64,
    /// The file type and id of hash-named files; `None` for WAL objects.
    hashed: Option<(FileType, Id)>,
}

/// Checks bunker's prefixes; damage goes to `err`, oddities to `warn`.
pub(super) fn check_objects(
    repo: &Repository,
    read: ReadData,
    progress: &CheckProgress,
    err: &(dyn Fn(String) + Sync),
    warn: &mut Vec<String>,
) -> Result<ObjectCounts> {
    for name in repo.storage().list_top_level()? {
        if !KNOWN_TOP_LEVEL.contains(&name.as_str()) {
            warn.push(format!(
                "{name}: not part of a restic or bunker repository (left alone)"
            ));
        }
    }
    let mut listed = Vec::new();
    for ft in HASH_NAMED {
        let prefix = format!("{}/", ft.dir());
        for o in repo.storage().list_objects(&prefix)? {
            let name = &o.path[prefix.len()..];
            match name.parse::<Id>() {
                Ok(id) => listed.push(Listed {
                    path: o.path.clone(),
                    size: o.size,
                    hashed: Some((ft, id)),
                }),
                Err(_) => warn.push(format!(
                    "{}: not named like a {} (left alone)",
                    o.path,
                    ft.name()
                )),
            }
        }
    }
    for o in repo.storage().list_objects(WAL_PREFIX)? {
        if is_wal_object_path(&o.path) {
            listed.push(Listed {
                path: o.path,
                size: o.size,
                hashed: None,
            });
        } else {
            warn.push(format!(
                "{}: not named like a WAL object (wal/<system id>/<timeline>/<file>; left alone)",
                o.path
            ));
        }
    }

    let mut to_read = Vec::new();
    for o in &listed {
        if o.size < SMALLEST_OBJECT {
            let what = o.hashed.map_or("object", |(ft, _)| ft.name());
            err(format!(
                "{what} {}: {} bytes is too small for an encrypted file",
                o.path, o.size
            ));
        } else if read.selects(&Id::hash(o.path.as_bytes())) {
            to_read.push(o);
        }
    }
    to_read.par_iter().for_each(|o| {
        let verified = match o.hashed {
            Some((ft, id)) => repo.load_json::<serde_json::Value>(ft, &id).map(drop),
            None => repo.verify_object(&o.path),
        };
        if let Err(e) = verified {
            err(e.to_string());
        }
        progress.objects_read.fetch_add(1, Ordering::Relaxed);
    });
    Ok(ObjectCounts {
        listed: listed.len(),
        read: to_read.len(),
    })
}

/// `wal/<system id in decimal>/<timeline in 8 hex digits>/<file>`, where every WAL file
/// name PostgreSQL archives (segments, partial segments, history and backup history
/// files) starts with its timeline.
fn is_wal_object_path(path: &str) -> bool {
    let Some(rest) = path.strip_prefix(WAL_PREFIX) else {
        return false;
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let [system, timeline, file] = parts[..] else {
        return false;
    };
    !system.is_empty()
        && system.bytes().all(|b| b.is_ascii_digit())
        && timeline.len() == 8
        && timeline.bytes().all(|b| b.is_ascii_hexdigit())
        && file.len() > 8
        && file.is_char_boundary(8)
        && file[..8].eq_ignore_ascii_case(timeline)
}

#[cfg(test)]
mod tests {
    use super::is_wal_object_path;

    #[test]
    fn wal_object_paths() {
        for good in [
            "wal/7310412290187543213/00000001/000000010000000000000003",
            "wal/7310412290187543213/00000002/00000002.history",
            "wal/7310412290187543213/00000001/000000010000000000000003.partial",
            "wal/7310412290187543213/00000001/000000010000000000000003.streaming",
            "wal/1/0000000A/0000000A0000000000000001.00000028.backup",
        ] {
            assert!(is_wal_object_path(good), "{good}");
        }
        for bad in [
            "wal/x/00000001/000000010000000000000003",
            "wal/1/0001/000000010000000000000003",
            "wal/1/00000001/000000020000000000000003",
            "wal/1/00000001",
            "wal/1/00000001/a/b",
            "wal/1/00000001/0000000\u{e9}",
            "wal//00000001/000000010000000000000003",
        ] {
            assert!(!is_wal_object_path(bad), "{bad}");
        }
    }
}
