//! A local cache of the opened master key, for commands that run once per WAL segment
//! (`wal-push`, `wal-fetch`): deriving the key with scrypt costs ~70 ms, more than
//! storing a segment.
//!
//! The cache file (mode 0600, in a 0700 directory) holds the master key, so it is as
//! secret as the password file next to it. It is named after the hash of the
//! repository's config file (one per repository) and is used only while the key file it
//! came from still exists (a removed key revokes it) and the password given still
//! matches a salted hash of the one that opened it.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::crypto::{Key, MasterKeyJson};
use crate::error::Result;
use crate::id::Id;
use crate::keys::open_master_key;
use crate::storage::{FileType, Storage};

#[derive(Serialize, Deserialize)]
struct CachedKey {
    key_id: String,
    salt: String,
    password_hash: String,
    master: MasterKeyJson,
}

fn password_hash(salt: &[u8], password: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(password.as_bytes());
    hex::encode(h.finalize())
}

fn cache_file(dir: &Path, config: &[u8]) -> PathBuf {
    dir.join(Id::hash(config).to_hex())
}

/// The master key: from the cache when it is valid, otherwise opened with the password
/// (and then cached; a cache that cannot be written is only slower).
pub(crate) fn open_master_key_cached(
    storage: &Storage,
    config: &[u8],
    password: &str,
    dir: &Path,
) -> Result<(Id, Key)> {
    let file = cache_file(dir, config);
    if let Some(found) = read_cache(storage, &file, password) {
        return Ok(found);
    }
    let (id, key) = open_master_key(storage, password)?;
    let _ = write_cache(dir, &file, &id, &key, password);
    Ok((id, key))
}

fn read_cache(storage: &Storage, file: &Path, password: &str) -> Option<(Id, Key)> {
    let bytes = std::fs::read(file).ok()?;
    let c: CachedKey = serde_json::from_slice(&bytes).ok()?;
    let salt = hex::decode(&c.salt).ok()?;
    if password_hash(&salt, password) != c.password_hash {
        return None;
    }
    let id: Id = c.key_id.parse().ok()?;
    if !storage.exists(FileType::Key, &id).ok()? {
        let _ = std::fs::remove_file(file);
        return None;
    }
    Some((id, Key::try_from(c.master).ok()?))
}

fn write_cache(dir: &Path, file: &Path, id: &Id, key: &Key, password: &str) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let mut salt = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut salt);
    let c = CachedKey {
        key_id: id.to_hex(),
        salt: hex::encode(salt),
        password_hash: password_hash(&salt, password),
        master: MasterKeyJson::from(key),
    };
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(&serde_json::to_vec(&c).expect("json"))?;
    drop(f);
    std::fs::rename(&tmp, file)
}
