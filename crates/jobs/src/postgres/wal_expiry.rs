//! WAL retention: after a prune, the WAL no remaining base backup needs goes too. It
//! reads the base backups (`window`) and the archive (`wal_archive`), so it sits above
//! both, and the archive stays a leaf that knows nothing of backups.

use bunker_repo::Repository;
use bunker_sources::postgres::wal::WalFile;

use super::wal_archive::{list, object_path, systems};
use super::window::base_backups;
use crate::error::Result;

/// What WAL retention removed (or would remove) for one system.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Expired {
    pub system_identifier: String,
    /// The oldest segment kept: the start of the oldest base backup.
    pub kept_from: String,
    pub files: usize,
    pub bytes: u64,
}

/// Removes the WAL no remaining base backup needs: for each system that has base
/// backups, every segment (on any timeline) before the start of the oldest one. History
/// files are kept. A system without base backups keeps all its WAL.
pub fn expire(repo: &Repository, dry_run: bool) -> Result<Vec<Expired>> {
    let bases = base_backups(repo)?;
    let mut out = Vec::new();
    for system in systems(repo)? {
        let Some(oldest) = bases
            .iter()
            .filter(|b| b.meta.system_identifier == system)
            .min_by_key(|b| b.meta.start_lsn)
        else {
            continue;
        };
        let seg = oldest.meta.wal_segment_size;
        let keep_from = oldest.meta.start_lsn.segment(seg);
        let mut e = Expired {
            system_identifier: system.clone(),
            kept_from: oldest.meta.start_wal.clone(),
            ..Default::default()
        };
        for a in list(repo, &system, seg)?.files {
            let old = match a.file {
                WalFile::Segment { segno, .. } | WalFile::Partial { segno, .. } => {
                    segno < keep_from
                }
                WalFile::BackupHistory { segno, .. } => segno < keep_from,
                WalFile::History { .. } => false,
            };
            if !old {
                continue;
            }
            if !dry_run {
                repo.storage()
                    .remove_object(&object_path(&system, a.file.timeline(), &a.name))?;
            }
            e.files += 1;
            e.bytes += a.size;
        }
        out.push(e);
    }
    Ok(out)
}
