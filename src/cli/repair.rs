//! Arguments of `repair index`, `repair packs` and `repair snapshots` (restic's).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::FilterArgs;

#[derive(Subcommand, Debug)]
pub enum RepairCommand {
    /// Rebuild the index from the packs' headers (after a damaged or lost index file)
    Index(RepairIndexArgs),
    /// Move the readable blobs of damaged packs into new packs, then remove the damaged
    /// ones (a copy of each is saved first)
    Packs(RepairPacksArgs),
    /// Rewrite snapshots without what cannot be read: missing file content is cut out,
    /// unreadable directories become empty (run `repair index` first)
    Snapshots(RepairSnapshotsArgs),
}

#[derive(Args, Debug)]
pub struct RepairIndexArgs {
    /// Ignore the old index: read every pack in full, index it from its header and
    /// report damaged content
    #[arg(long)]
    pub read_all_packs: bool,
}

#[derive(Args, Debug)]
pub struct RepairPacksArgs {
    /// The damaged packs (full ids, as `check --read-data` names them)
    #[arg(required = true, value_name = "ID")]
    pub packs: Vec<String>,
    /// Where to save a copy of each damaged pack before it is removed (as pack-ID)
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub copy_to: PathBuf,
}

#[derive(Args, Debug)]
pub struct RepairSnapshotsArgs {
    /// Snapshots to repair (ids, unique prefixes or "latest"; default: all that match)
    pub snapshots: Vec<String>,
    /// Remove each original snapshot once its repaired one is written
    #[arg(long)]
    pub forget: bool,
    /// Show what would change; write and remove nothing
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub filter: FilterArgs,
}
