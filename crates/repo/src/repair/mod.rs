//! The repairs, restic's `repair index`, `repair packs` and `repair snapshots`: each
//! mends one kind of damage and deletes only what it has replaced, in the order the
//! write protocol needs (new files durable first, then the old ones go).
//!
//! The order to run them is restic's: the index first (the others read it), then the
//! packs whose content is damaged, then the snapshots that still refer to what is lost.

mod index;
mod packs;
mod snapshots;

pub use index::{repair_index, IndexRepair, RepairIndexOptions, RepairProgress};
pub use packs::{repair_packs, PackRepair};
pub use snapshots::{
    repair_snapshots, Outcome, RepairSnapshotsOptions, SnapshotRepair, REPAIRED_TAG,
};
