//! Index files (which blob lives in which pack, where) and the in-memory master index
//! built from all of them.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::blob::BlobType;
use crate::id::Id;
use crate::pack::PackedBlob;

/// An index file as stored.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct IndexFile {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supersedes: Vec<Id>,
    pub packs: Vec<IndexPack>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IndexPack {
    pub id: Id,
    pub blobs: Vec<IndexBlob>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IndexBlob {
    pub id: Id,
    #[serde(rename = "type")]
    pub blob_type: BlobType,
    pub offset: u32,
    pub length: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub uncompressed_length: u32,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

impl IndexPack {
    pub fn new(id: Id, blobs: &[PackedBlob]) -> IndexPack {
        IndexPack {
            id,
            blobs: blobs
                .iter()
                .map(|b| IndexBlob {
                    id: b.id,
                    blob_type: b.blob_type,
                    offset: b.offset,
                    length: b.length,
                    uncompressed_length: b.uncompressed_length,
                })
                .collect(),
        }
    }

    pub fn packed_blobs(&self) -> Vec<PackedBlob> {
        self.blobs
            .iter()
            .map(|b| PackedBlob {
                blob_type: b.blob_type,
                id: b.id,
                offset: b.offset,
                length: b.length,
                uncompressed_length: b.uncompressed_length,
            })
            .collect()
    }
}

/// Where a blob can be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobLocation {
    pub pack: Id,
    pub offset: u32,
    pub length: u32,
    pub uncompressed_length: u32,
}

impl BlobLocation {
    /// Size of the blob's plaintext.
    pub fn plain_size(&self) -> u32 {
        if self.uncompressed_length != 0 {
            self.uncompressed_length
        } else {
            self.length.saturating_sub(crate::crypto::OVERHEAD as u32)
        }
    }
}

/// All blobs of the repository by type and id.
#[derive(Default)]
pub struct MasterIndex {
    data: HashMap<Id, BlobLocation>,
    tree: HashMap<Id, BlobLocation>,
    packs: HashMap<Id, u64>,
}

impl MasterIndex {
    fn map(&self, t: BlobType) -> &HashMap<Id, BlobLocation> {
        match t {
            BlobType::Data => &self.data,
            BlobType::Tree => &self.tree,
        }
    }

    pub fn add_pack(&mut self, pack: &IndexPack) {
        let mut size = 0u64;
        for b in &pack.blobs {
            let loc = BlobLocation {
                pack: pack.id,
                offset: b.offset,
                length: b.length,
                uncompressed_length: b.uncompressed_length,
            };
            size = size.max(b.offset as u64 + b.length as u64);
            let m = match b.blob_type {
                BlobType::Data => &mut self.data,
                BlobType::Tree => &mut self.tree,
            };
            m.entry(b.id).or_insert(loc);
        }
        self.packs.insert(pack.id, size);
    }

    pub fn get(&self, t: BlobType, id: &Id) -> Option<BlobLocation> {
        self.map(t).get(id).copied()
    }

    pub fn has(&self, t: BlobType, id: &Id) -> bool {
        self.map(t).contains_key(id)
    }

    pub fn has_pack(&self, id: &Id) -> bool {
        self.packs.contains_key(id)
    }

    pub fn pack_count(&self) -> usize {
        self.packs.len()
    }

    pub fn packs(&self) -> impl Iterator<Item = &Id> {
        self.packs.keys()
    }

    pub fn blob_count(&self, t: BlobType) -> usize {
        self.map(t).len()
    }

    pub fn iter(&self, t: BlobType) -> impl Iterator<Item = (&Id, &BlobLocation)> {
        self.map(t).iter()
    }
}
