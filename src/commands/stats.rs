use anyhow::Result;
use bunker_repo::{stats, RepoStats, StatsMode};
use serde::Serialize;

use super::Globals;
use crate::cli::StatsArgs;
use crate::output::bytes;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_zero_f(x: &f64) -> bool {
    *x == 0.0
}

/// restic's JSON fields, in restic's order and omitted where restic omits them, then
/// bunker's own.
#[derive(Serialize)]
struct StatsJson<'a> {
    total_size: u64,
    #[serde(skip_serializing_if = "is_zero")]
    total_uncompressed_size: u64,
    compression_ratio: f64,
    #[serde(skip_serializing_if = "is_zero_f")]
    compression_progress: f64,
    #[serde(skip_serializing_if = "is_zero_f")]
    compression_space_saving: f64,
    #[serde(skip_serializing_if = "is_zero")]
    total_file_count: u64,
    #[serde(skip_serializing_if = "is_zero")]
    total_blob_count: u64,
    snapshots_count: u64,
    mode: &'a str,
    deduplication_ratio: f64,
    restore_size: u64,
    raw_data_size: u64,
    unique_data_size: u64,
    data_blobs: u64,
    tree_blobs: u64,
    pack_count: u64,
    repository_size: u64,
}

impl<'a> From<&'a RepoStats> for StatsJson<'a> {
    fn from(s: &'a RepoStats) -> Self {
        let raw = s.mode == StatsMode::RawData;
        StatsJson {
            total_size: s.total_size,
            total_uncompressed_size: s.total_uncompressed_size,
            compression_ratio: s.compression_ratio,
            compression_progress: if raw { s.compression_progress } else { 0.0 },
            compression_space_saving: if raw { s.compression_space_saving } else { 0.0 },
            total_file_count: s.total_file_count,
            total_blob_count: s.total_blob_count,
            snapshots_count: s.snapshots_count,
            mode: s.mode.as_str(),
            deduplication_ratio: s.deduplication_ratio,
            restore_size: s.restore_size,
            raw_data_size: s.raw_data_size,
            unique_data_size: s.unique_data_size,
            data_blobs: s.data_blobs,
            tree_blobs: s.tree_blobs,
            pack_count: s.pack_count,
            repository_size: s.repository_size,
        }
    }
}

pub fn run(g: &Globals, a: StatsArgs) -> Result<()> {
    let repo = g.open()?;
    let snaps = repo.find_snapshots(&a.snapshots, &g.filter(&a.filter))?;
    let s = stats(&repo, &snaps, a.mode)?;
    if g.json {
        println!("{}", serde_json::to_string(&StatsJson::from(&s))?);
        return Ok(());
    }
    let row = |label: &str, value: String| println!("{label:>24}:  {value}");
    println!("Stats in {} mode:", s.mode.as_str());
    row("Snapshots processed", s.snapshots_count.to_string());
    if s.total_blob_count > 0 {
        row("Total Blob Count", s.total_blob_count.to_string());
    }
    if s.total_file_count > 0 {
        row("Total File Count", s.total_file_count.to_string());
    }
    if s.total_uncompressed_size > 0 {
        row("Total Uncompressed Size", bytes(s.total_uncompressed_size));
    }
    row("Total Size", bytes(s.total_size));
    if s.mode == StatsMode::RawData {
        if s.compression_progress > 0.0 {
            row(
                "Compression Progress",
                format!("{:.2}%", s.compression_progress),
            );
        }
        if s.compression_space_saving > 0.0 {
            row(
                "Compression Space Saving",
                format!("{:.2}%", s.compression_space_saving),
            );
        }
    }
    println!();
    row("Restore Size", bytes(s.restore_size));
    row(
        "Unique Data",
        format!(
            "{} in {} data blobs ({} tree blobs)",
            bytes(s.unique_data_size),
            s.data_blobs,
            s.tree_blobs
        ),
    );
    row("Stored (raw data)", bytes(s.raw_data_size));
    row(
        "Deduplication Ratio",
        format!("{:.2}x", s.deduplication_ratio),
    );
    row("Compression Ratio", format!("{:.2}x", s.compression_ratio));
    row(
        "Repository",
        format!("{} in {} packs", bytes(s.repository_size), s.pack_count),
    );
    Ok(())
}
