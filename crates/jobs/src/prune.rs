//! Prune as bunker does it: restic's prune of the packs no snapshot needs, then the
//! WAL no remaining base backup needs (forgetting base backups frees their WAL).

use std::sync::Arc;

use bunker_repo::{PruneOptions, PrunePlan, PruneProgress, Repository};

use crate::error::Result;
use crate::postgres::wal_expiry::{expire, Expired};

/// What a prune removed (or, dry, would remove).
pub struct Pruned {
    pub plan: PrunePlan,
    /// Per system with base backups: the WAL before the oldest one's start.
    pub wal: Vec<Expired>,
}

/// Prunes the packs, then expires the WAL (both only planned with `opts.dry_run`).
pub fn prune(
    repo: &Arc<Repository>,
    opts: &PruneOptions,
    progress: &PruneProgress,
) -> Result<Pruned> {
    let plan = bunker_repo::prune(repo, opts, progress)?;
    let wal = expire(repo, opts.dry_run)?;
    Ok(Pruned { plan, wal })
}
