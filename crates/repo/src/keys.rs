//! Key files: the master key, encrypted with a key derived from a password by scrypt.
//! A repository may have several; any one of them opens it.

use base64::Engine;
use chrono::{DateTime, Local};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::crypto::{Key, MasterKeyJson};
use crate::error::{Error, Result};
use crate::id::Id;
use crate::storage::{FileType, Storage};

/// scrypt cost parameters for new keys (restic's minimum; ~100 ms, 32 MiB).
const SCRYPT_LOG_N: u8 = 15;
const SCRYPT_R: u32 = 8;
const SCRYPT_P: u32 = 1;

/// A key file as stored (plain JSON; its `data` is encrypted).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyFile {
    /// rustic writes key files without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Local>>,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub hostname: String,
    pub kdf: String,
    #[serde(rename = "N")]
    pub n: u64,
    pub r: u32,
    pub p: u32,
    pub salt: String,
    pub data: String,
}

impl KeyFile {
    fn derive(&self, password: &str) -> Result<Key> {
        if self.kdf != "scrypt" {
            return Err(Error::Invalid(format!(
                "key uses unknown KDF {:?}",
                self.kdf
            )));
        }
        if !self.n.is_power_of_two() || self.n < 2 {
            return Err(Error::Invalid(format!(
                "key has invalid scrypt N {}",
                self.n
            )));
        }
        let b64 = base64::engine::general_purpose::STANDARD;
        let salt = b64
            .decode(&self.salt)
            .map_err(|_| Error::Invalid("key: bad salt".into()))?;
        let params = scrypt::Params::new(self.n.trailing_zeros() as u8, self.r, self.p, 64)
            .map_err(|e| Error::Invalid(format!("key: scrypt parameters: {e}")))?;
        let mut out = [0u8; 64];
        scrypt::scrypt(password.as_bytes(), &salt, &params, &mut out)
            .map_err(|e| Error::Invalid(format!("key: scrypt: {e}")))?;
        Ok(Key::from_kdf_output(&out))
    }

    /// Opens the master key with `password`; `None` when the password does not fit.
    pub fn open(&self, password: &str) -> Result<Option<Key>> {
        let user_key = self.derive(password)?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let data = b64
            .decode(&self.data)
            .map_err(|_| Error::Invalid("key: bad data".into()))?;
        let Ok(plain) = user_key.decrypt(&data) else {
            return Ok(None);
        };
        let json: MasterKeyJson = serde_json::from_slice(&plain)
            .map_err(|e| Error::Invalid(format!("key: master key JSON: {e}")))?;
        Ok(Some(Key::try_from(json).map_err(|_| {
            Error::Invalid("key: master key fields".into())
        })?))
    }

    /// A new key file protecting `master` with `password`.
    pub fn create(master: &Key, password: &str) -> KeyFile {
        let mut salt = [0u8; 64];
        rand::thread_rng().fill_bytes(&mut salt);
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut kf = KeyFile {
            created: Some(Local::now()),
            username: whoami(),
            hostname: hostname(),
            kdf: "scrypt".into(),
            n: 1 << SCRYPT_LOG_N,
            r: SCRYPT_R,
            p: SCRYPT_P,
            salt: b64.encode(salt),
            data: String::new(),
        };
        let user_key = kf.derive(password).expect("valid scrypt parameters");
        let plain = serde_json::to_vec(&MasterKeyJson::from(master)).expect("json");
        kf.data = b64.encode(user_key.encrypt(&plain));
        kf
    }

    /// Stores the key file; its id is the hash of its bytes.
    pub fn save(&self, storage: &Storage) -> Result<Id> {
        let bytes = serde_json::to_vec_pretty(self).expect("json");
        let id = Id::hash(&bytes);
        storage.write(FileType::Key, &id, bytes)?;
        Ok(id)
    }

    pub fn load(storage: &Storage, id: &Id) -> Result<KeyFile> {
        let bytes = storage.read(FileType::Key, id)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::corrupt("key", id, e.to_string()))
    }
}

/// Tries every key file (restic tries them all too) and returns the first that opens.
pub fn open_master_key(storage: &Storage, password: &str) -> Result<(Id, Key)> {
    let ids = storage.list(FileType::Key)?;
    for (id, _) in &ids {
        let kf = KeyFile::load(storage, id)?;
        if let Some(k) = kf.open(password)? {
            return Ok((*id, k));
        }
    }
    Err(Error::WrongPassword {
        location: storage.location().to_string(),
    })
}

pub fn whoami() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_default()
}

pub fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}
