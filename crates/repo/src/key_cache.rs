//! A local cache of the opened master key, for the commands PostgreSQL runs once per
//! WAL segment (`wal-push`, `wal-fetch`, and only those): deriving the key with scrypt
//! costs ~70 ms, more than storing a segment.
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
///
/// A cached key counts only once it opens the repository's config: a damaged entry (a
/// flipped byte in the key, a truncated file) is removed and the password opens the
/// repository, instead of failing every command until someone deletes the file.
pub(crate) fn open_master_key_cached(
    storage: &Storage,
    config: &[u8],
    password: &str,
    dir: &Path,
) -> Result<(Id, Key)> {
    let file = cache_file(dir, config);
    match read_cache(storage, &file, password) {
        Some((id, key)) if opens_config(&key, config) => return Ok((id, key)),
        Some(_) => {
            let _ = std::fs::remove_file(&file);
        }
        None => {}
    }
    let (id, key) = open_master_key(storage, password)?;
    let _ = write_cache(dir, &file, &id, &key, password);
    Ok((id, key))
}

fn opens_config(key: &Key, config: &[u8]) -> bool {
    crate::unpacked::open::<crate::config::Config>(key, config, "config", &Id::default()).is_ok()
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

#[cfg(test)]
mod tests {
    use crate::repository::Repository;
    use crate::storage::{Storage, StorageOptions};

    fn open(repo: &std::path::Path, cache: &std::path::Path, password: &str) -> crate::Result<()> {
        let storage = Storage::open(repo.to_str().unwrap(), &StorageOptions::default())?;
        Repository::open_with(storage, password, Some(cache)).map(drop)
    }

    /// Regression (issue 14, item 9): a cache entry whose key no longer opened the
    /// repository failed every `wal-push` until someone deleted the file.
    #[test]
    fn damaged_key_cache_entry_falls_back_to_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let (repo, cache) = (dir.path().join("repo"), dir.path().join("keys"));
        let storage = Storage::create(repo.to_str().unwrap(), &StorageOptions::default()).unwrap();
        Repository::init(storage, "pw").unwrap();
        open(&repo, &cache, "pw").unwrap();
        let entry = std::fs::read_dir(&cache)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let good = std::fs::read_to_string(&entry).unwrap();
        let mut cached: serde_json::Value = serde_json::from_str(&good).unwrap();
        // Another valid key, as a flipped bit in the key material gives.
        cached["master"]["encrypt"] = serde_json::json!(base64_of(&[7u8; 32]));
        std::fs::write(&entry, cached.to_string()).unwrap();
        open(&repo, &cache, "pw").expect("the password opens the repository");
        let rewritten: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&entry).unwrap()).unwrap();
        let good: serde_json::Value = serde_json::from_str(&good).unwrap();
        assert_eq!(
            rewritten["master"], good["master"],
            "the entry is written anew"
        );
        // Garbage in the file is only a slower open, too.
        std::fs::write(&entry, b"\x00garbage").unwrap();
        open(&repo, &cache, "pw").unwrap();
        assert!(matches!(
            open(&repo, &cache, "wrong"),
            Err(crate::Error::WrongPassword { .. })
        ));
    }

    fn base64_of(b: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(b)
    }
}
