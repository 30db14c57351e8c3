//! Reading one pack in full: its id, its header against the index, every blob.

use rayon::prelude::*;

use crate::crypto::OVERHEAD;
use crate::id::Id;
use crate::index::{BlobLocation, IndexBlob};
use crate::pack::parse_header;
use crate::repository::Repository;
use crate::storage::FileType;

/// The size a pack holding `blobs` has: the blobs, one header entry each (37 bytes, 41
/// when compressed), the header's encryption overhead and its 4-byte length.
pub(crate) fn expected_pack_size(blobs: &[IndexBlob]) -> u64 {
    let data: u64 = blobs.iter().map(|b| b.length as u64).sum();
    let header: u64 = blobs
        .iter()
        .map(|b| if b.uncompressed_length != 0 { 41 } else { 37 })
        .sum();
    data + header + OVERHEAD as u64 + 4
}

/// What reading a pack in full found wrong with it, one line each.
pub(super) fn read_pack(repo: &Repository, id: &Id, index_blobs: &[IndexBlob]) -> Vec<String> {
    let data = match repo.storage().read(FileType::Pack, id) {
        Ok(d) => d,
        Err(e) => return vec![format!("pack {id}: {e}")],
    };
    // The pack's own hash and its blobs are checked side by side, blobs in parallel,
    // so that a few large packs keep every core busy to the end.
    let (hash_ok, blob_problems) = rayon::join(
        || Id::hash(&data) == *id,
        || -> Vec<String> {
            index_blobs
                .par_iter()
                .filter_map(|b| {
                    let (start, end) = (b.offset as usize, b.offset as usize + b.length as usize);
                    if end > data.len() {
                        return Some(format!(
                            "pack {id}: blob {}: extends past the end of the pack",
                            b.id
                        ));
                    }
                    let loc = BlobLocation {
                        pack: *id,
                        offset: b.offset,
                        length: b.length,
                        uncompressed_length: b.uncompressed_length,
                    };
                    repo.decode_blob(&b.id, &loc, &data[start..end])
                        .err()
                        .map(|e| format!("pack {id}: blob {} ({:?}): {e}", b.id, b.blob_type))
                })
                .collect()
        },
    );
    let mut problems = Vec::new();
    if !hash_ok {
        problems.push(format!("pack {id}: content does not match its id"));
    }
    match parse_header(repo.key(), id, &data, data.len() as u64) {
        Ok(header) => {
            let mut h: Vec<_> = header.iter().map(|b| (b.id, b.offset, b.length)).collect();
            let mut x: Vec<_> = index_blobs
                .iter()
                .map(|b| (b.id, b.offset, b.length))
                .collect();
            h.sort();
            x.sort();
            if h != x {
                problems.push(format!("pack {id}: header does not match the index"));
            }
        }
        Err(e) => problems.push(format!("pack {id}: {e}")),
    }
    problems.extend(blob_problems);
    problems
}
