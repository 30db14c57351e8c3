//! Snapshots: the root tree of one backup plus who, where, when and what.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use crate::id::Id;

/// Counters restic (0.17+) stores with each snapshot.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SnapshotSummary {
    pub backup_start: Option<DateTime<FixedOffset>>,
    pub backup_end: Option<DateTime<FixedOffset>>,
    #[serde(default)]
    pub files_new: u64,
    #[serde(default)]
    pub files_changed: u64,
    #[serde(default)]
    pub files_unmodified: u64,
    #[serde(default)]
    pub dirs_new: u64,
    #[serde(default)]
    pub dirs_changed: u64,
    #[serde(default)]
    pub dirs_unmodified: u64,
    #[serde(default)]
    pub data_blobs: u64,
    #[serde(default)]
    pub tree_blobs: u64,
    #[serde(default)]
    pub data_added: u64,
    #[serde(default)]
    pub data_added_packed: u64,
    #[serde(default)]
    pub total_files_processed: u64,
    #[serde(default)]
    pub total_bytes_processed: u64,
}

/// A snapshot file's content. Fields restic does not know are kept in `extra` so that
/// reading and rewriting a snapshot loses nothing.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Snapshot {
    pub time: DateTime<FixedOffset>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Id>,
    pub tree: Id,
    pub paths: Vec<String>,
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub uid: u32,
    #[serde(default)]
    pub gid: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excludes: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_vec"
    )]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<Id>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub program_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<SnapshotSummary>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// The snapshot file's id (not part of the stored JSON).
    #[serde(skip)]
    pub id: Id,
}

fn null_vec<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// Selects snapshots by host, tags and paths, as restic's `--host/--tag/--path` do.
#[derive(Clone, Debug, Default)]
pub struct SnapshotFilter {
    pub hosts: Vec<String>,
    /// Each entry is a comma-separated set of tags that must all be present;
    /// a snapshot matches if any entry matches.
    pub tags: Vec<String>,
    pub paths: Vec<String>,
}

impl SnapshotFilter {
    /// restic's selection: any of the hosts; any of the tag sets (a set matches when the
    /// snapshot has all its tags; an empty entry matches snapshots without tags); and
    /// every one of the paths among the snapshot's paths.
    pub fn matches(&self, s: &Snapshot) -> bool {
        (self.hosts.is_empty() || self.hosts.contains(&s.hostname))
            && (self.tags.is_empty() || self.tags.iter().any(|set| s.has_tags(set)))
            && self.paths.iter().all(|p| s.paths.contains(p))
    }
}

impl Snapshot {
    pub fn short_id(&self) -> String {
        self.id.short()
    }

    /// restic's `HasTags` for a comma-separated set: every tag present; an empty tag
    /// in the set matches a snapshot without tags.
    pub fn has_tags(&self, set: &str) -> bool {
        for tag in set.split(',').map(str::trim) {
            if tag.is_empty() && self.tags.is_empty() {
                return true;
            }
            if !self.tags.iter().any(|t| t == tag) {
                return false;
            }
        }
        true
    }

    /// The same set of paths, in any order (how a backup finds its parent).
    pub fn has_exactly_paths(&self, paths: &[String]) -> bool {
        let mut a: Vec<&String> = self.paths.iter().collect();
        let mut b: Vec<&String> = paths.iter().collect();
        a.sort();
        b.sort();
        a.dedup();
        b.dedup();
        a == b
    }
}
