//! Blobs, the unit of deduplication: a piece of file content or one directory listing.
//! A leaf of the format: it knows nothing of packs, indexes or the repository.

use serde::{Deserialize, Serialize};

/// What a blob holds: file content, or a directory listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum BlobType {
    Data,
    Tree,
}

impl BlobType {
    /// How errors name a blob of this type.
    pub fn noun(self) -> &'static str {
        match self {
            BlobType::Data => "data blob",
            BlobType::Tree => "tree blob",
        }
    }
}
