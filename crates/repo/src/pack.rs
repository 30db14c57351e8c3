//! Pack files: encrypted blobs one after another, then the encrypted header that lists
//! them, then the header's length as 4 little-endian bytes.

use crate::blob::BlobType;
use crate::crypto::{Key, OVERHEAD};
use crate::error::{Error, Result};
use crate::id::Id;

/// Packs are closed once they reach this size (restic's default).
pub const PACK_SIZE: usize = 16 * 1024 * 1024;

/// One blob inside a pack, as the header and the index describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackedBlob {
    pub blob_type: BlobType,
    pub id: Id,
    pub offset: u32,
    /// Length on storage (encrypted, possibly compressed).
    pub length: u32,
    /// Length of the plaintext when the blob is compressed, 0 when it is not.
    pub uncompressed_length: u32,
}

const ENTRY_PLAIN: usize = 1 + 4 + 32;
const ENTRY_COMPRESSED: usize = 1 + 4 + 4 + 32;

/// Builds one pack in memory.
#[derive(Default)]
pub struct PackBuilder {
    data: Vec<u8>,
    blobs: Vec<PackedBlob>,
}

impl PackBuilder {
    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }

    /// Appends an already encrypted blob.
    pub fn add(&mut self, blob_type: BlobType, id: Id, encrypted: &[u8], uncompressed_length: u32) {
        if self.data.capacity() == 0 {
            // Room for a full pack plus one largest blob and the header, reserved once:
            // growing by doubling would copy and could touch twice the pack's size.
            self.data
                .reserve_exact(PACK_SIZE + crate::chunker::MAX_SIZE + 64 * 1024);
        }
        self.blobs.push(PackedBlob {
            blob_type,
            id,
            offset: self.data.len() as u32,
            length: encrypted.len() as u32,
            uncompressed_length,
        });
        self.data.extend_from_slice(encrypted);
    }

    /// Appends the header and returns the pack's bytes, its id and its blobs.
    pub fn finish(mut self, key: &Key) -> (Id, Vec<u8>, Vec<PackedBlob>) {
        let mut header = Vec::with_capacity(self.blobs.len() * ENTRY_COMPRESSED);
        for b in &self.blobs {
            let compressed = b.uncompressed_length != 0;
            let t = match (b.blob_type, compressed) {
                (BlobType::Data, false) => 0u8,
                (BlobType::Tree, false) => 1,
                (BlobType::Data, true) => 2,
                (BlobType::Tree, true) => 3,
            };
            header.push(t);
            header.extend_from_slice(&b.length.to_le_bytes());
            if compressed {
                header.extend_from_slice(&b.uncompressed_length.to_le_bytes());
            }
            header.extend_from_slice(&b.id.0);
        }
        let enc = key.encrypt(&header);
        self.data.extend_from_slice(&enc);
        self.data
            .extend_from_slice(&(enc.len() as u32).to_le_bytes());
        let id = Id::hash(&self.data);
        (id, self.data, self.blobs)
    }
}

/// Reads the header from the tail of a pack (`tail` ends where the pack ends and
/// must hold at least the header). `pack_size` is the whole pack's size.
pub fn parse_header(
    key: &Key,
    pack_id: &Id,
    tail: &[u8],
    pack_size: u64,
) -> Result<Vec<PackedBlob>> {
    let bad = |r: &str| Error::corrupt("pack", pack_id, r.to_string());
    if tail.len() < 4 {
        return Err(bad("too short for a header"));
    }
    let hlen = u32::from_le_bytes(tail[tail.len() - 4..].try_into().expect("4 bytes")) as usize;
    if hlen + 4 > tail.len() || (hlen as u64 + 4) > pack_size || hlen < OVERHEAD {
        return Err(bad("header length out of range"));
    }
    let enc = &tail[tail.len() - 4 - hlen..tail.len() - 4];
    let header = key
        .decrypt(enc)
        .map_err(|_| bad("header does not decrypt"))?;
    let mut blobs = Vec::new();
    let mut pos = 0usize;
    let mut offset = 0u64;
    let data_end = pack_size - hlen as u64 - 4;
    while pos < header.len() {
        let t = header[pos];
        let need = if t >= 2 {
            ENTRY_COMPRESSED
        } else {
            ENTRY_PLAIN
        };
        if t > 3 || pos + need > header.len() {
            return Err(bad("malformed header entry"));
        }
        let length = u32::from_le_bytes(header[pos + 1..pos + 5].try_into().expect("4"));
        let (uncompressed_length, idpos) = if t >= 2 {
            (
                u32::from_le_bytes(header[pos + 5..pos + 9].try_into().expect("4")),
                pos + 9,
            )
        } else {
            (0, pos + 5)
        };
        let id = Id(header[idpos..idpos + 32].try_into().expect("32"));
        let blob_type = if t % 2 == 0 {
            BlobType::Data
        } else {
            BlobType::Tree
        };
        if offset + length as u64 > data_end {
            return Err(bad("blob extends past the header"));
        }
        blobs.push(PackedBlob {
            blob_type,
            id,
            offset: offset as u32,
            length,
            uncompressed_length,
        });
        offset += length as u64;
        pos += need;
    }
    Ok(blobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let key = Key::random();
        let mut p = PackBuilder::default();
        let a = key.encrypt(b"aaaa");
        let b = key.encrypt(b"compressed-ish");
        p.add(BlobType::Data, Id::hash(b"aaaa"), &a, 0);
        p.add(BlobType::Tree, Id::hash(b"t"), &b, 99);
        let (id, bytes, blobs) = p.finish(&key);
        assert_eq!(id, Id::hash(&bytes));
        let parsed = parse_header(&key, &id, &bytes, bytes.len() as u64).unwrap();
        assert_eq!(parsed, blobs);
        assert_eq!(parsed[1].offset as usize, a.len());
    }
}
