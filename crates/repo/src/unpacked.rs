//! restic's "unpacked" files (snapshots, indexes, locks; the config too): a JSON document,
//! in repository version 2 zstd-compressed behind a version byte `2`, then encrypted.
//! Their id is the SHA-256 of what is stored.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::crypto::Key;
use crate::error::{Error, Result};
use crate::id::Id;

/// zstd level for metadata and blobs ("auto" in restic terms).
pub const ZSTD_LEVEL: i32 = 3;

/// Serializes, compresses (when `compress`) and encrypts a JSON document.
pub fn seal<T: Serialize>(key: &Key, value: &T, compress: bool) -> Vec<u8> {
    let json = serde_json::to_vec(value).expect("serializable value");
    seal_bytes(key, &json, compress)
}

pub fn seal_bytes(key: &Key, json: &[u8], compress: bool) -> Vec<u8> {
    if compress {
        let mut plain = vec![2u8];
        plain.extend_from_slice(&zstd::bulk::compress(json, ZSTD_LEVEL).expect("zstd compress"));
        key.encrypt(&plain)
    } else {
        key.encrypt(json)
    }
}

/// Decrypts and decompresses an unpacked file; `what` and `id` name it in errors.
pub fn open_bytes(key: &Key, data: &[u8], what: &'static str, id: &Id) -> Result<Vec<u8>> {
    let plain = key
        .decrypt(data)
        .map_err(|_| Error::corrupt(what, id, "decryption failed"))?;
    match plain.first() {
        Some(b'{') | Some(b'[') => Ok(plain),
        Some(2) => zstd::stream::decode_all(&plain[1..])
            .map_err(|e| Error::corrupt(what, id, format!("decompression failed: {e}"))),
        Some(v) => Err(Error::corrupt(what, id, format!("unknown format byte {v}"))),
        None => Err(Error::corrupt(what, id, "empty")),
    }
}

pub fn open<T: DeserializeOwned>(key: &Key, data: &[u8], what: &'static str, id: &Id) -> Result<T> {
    let plain = open_bytes(key, data, what, id)?;
    serde_json::from_slice(&plain)
        .map_err(|e| Error::corrupt(what, id, format!("invalid JSON: {e}")))
}
