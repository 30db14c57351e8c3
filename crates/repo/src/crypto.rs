//! restic's authenticated encryption: AES-256-CTR with a random 16-byte IV, then a
//! Poly1305-AES MAC over the ciphertext. On storage: `IV || ciphertext || MAC`.

use aes::cipher::{BlockEncrypt, KeyInit, KeyIvInit, StreamCipher};
use aes::{Aes128, Aes256};
use base64::Engine;
use poly1305::Poly1305;
use rand::RngCore;
use serde::{Deserialize, Serialize};

type Aes256Ctr = ctr::Ctr128BE<Aes256>;

/// Bytes added to every encrypted message: IV in front, MAC behind.
pub const OVERHEAD: usize = 32;

/// The MAC failed: wrong key or damaged data.
#[derive(Debug, thiserror::Error)]
#[error("ciphertext verification failed")]
pub struct MacError;

/// A pair of keys as restic uses them: one for AES-256-CTR, one for Poly1305-AES.
#[derive(Clone)]
pub struct Key {
    encrypt: [u8; 32],
    mac_k: [u8; 16],
    mac_r: [u8; 16],
}

impl Key {
    /// A fresh random master key.
    pub fn random() -> Key {
        let mut b = [0u8; 64];
        rand::thread_rng().fill_bytes(&mut b);
        Key::from_kdf_output(&b)
    }

    /// Splits 64 bytes of KDF output the way restic does: encryption key, MAC k, MAC r.
    pub fn from_kdf_output(b: &[u8; 64]) -> Key {
        let mut k = Key {
            encrypt: [0; 32],
            mac_k: [0; 16],
            mac_r: [0; 16],
        };
        k.encrypt.copy_from_slice(&b[..32]);
        k.mac_k.copy_from_slice(&b[32..48]);
        k.mac_r.copy_from_slice(&b[48..]);
        k
    }

    fn mac(&self, iv: &[u8; 16], ciphertext: &[u8]) -> [u8; 16] {
        // Poly1305-AES: r as given (the crate clamps it), s = AES-128_k(nonce).
        let mut s = aes::Block::clone_from_slice(iv);
        Aes128::new(&self.mac_k.into()).encrypt_block(&mut s);
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(&self.mac_r);
        key[16..].copy_from_slice(&s);
        Poly1305::new(&key.into())
            .compute_unpadded(ciphertext)
            .into()
    }

    /// Encrypts `plain` into a new buffer `IV || ciphertext || MAC`.
    pub fn encrypt(&self, plain: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(plain.len() + OVERHEAD);
        let mut iv = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut iv);
        out.extend_from_slice(&iv);
        out.extend_from_slice(plain);
        Aes256Ctr::new(&self.encrypt.into(), &iv.into()).apply_keystream(&mut out[16..]);
        let tag = self.mac(&iv, &out[16..]);
        out.extend_from_slice(&tag);
        out
    }

    /// Verifies and decrypts `IV || ciphertext || MAC`.
    pub fn decrypt(&self, data: &[u8]) -> Result<Vec<u8>, MacError> {
        if data.len() < OVERHEAD {
            return Err(MacError);
        }
        let iv: [u8; 16] = data[..16].try_into().expect("16 bytes");
        let (ct, tag) = data[16..].split_at(data.len() - OVERHEAD);
        let expected = self.mac(&iv, ct);
        if !constant_time_eq(&expected, tag) {
            return Err(MacError);
        }
        let mut plain = ct.to_vec();
        Aes256Ctr::new(&self.encrypt.into(), &iv.into()).apply_keystream(&mut plain);
        Ok(plain)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The master key as stored (encrypted) inside a key file.
#[derive(Serialize, Deserialize)]
pub(crate) struct MasterKeyJson {
    mac: MacJson,
    encrypt: String,
}

#[derive(Serialize, Deserialize)]
struct MacJson {
    k: String,
    r: String,
}

impl From<&Key> for MasterKeyJson {
    fn from(k: &Key) -> Self {
        let b = base64::engine::general_purpose::STANDARD;
        MasterKeyJson {
            mac: MacJson {
                k: b.encode(k.mac_k),
                r: b.encode(k.mac_r),
            },
            encrypt: b.encode(k.encrypt),
        }
    }
}

impl TryFrom<MasterKeyJson> for Key {
    type Error = MacError;
    fn try_from(j: MasterKeyJson) -> Result<Key, MacError> {
        let b = base64::engine::general_purpose::STANDARD;
        let decode = |s: &str, out: &mut [u8]| -> Result<(), MacError> {
            let v = b.decode(s).map_err(|_| MacError)?;
            if v.len() != out.len() {
                return Err(MacError);
            }
            out.copy_from_slice(&v);
            Ok(())
        };
        let mut k = Key {
            encrypt: [0; 32],
            mac_k: [0; 16],
            mac_r: [0; 16],
        };
        decode(&j.encrypt, &mut k.encrypt)?;
        decode(&j.mac.k, &mut k.mac_k)?;
        decode(&j.mac.r, &mut k.mac_r)?;
        Ok(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let k = Key::random();
        let c = k.encrypt(b"hello bunker");
        assert_eq!(c.len(), 12 + OVERHEAD);
        assert_eq!(k.decrypt(&c).unwrap(), b"hello bunker");
        let mut bad = c.clone();
        bad[20] ^= 1;
        assert!(k.decrypt(&bad).is_err());
        assert!(Key::random().decrypt(&c).is_err());
    }

    #[test]
    fn empty_message() {
        let k = Key::random();
        assert_eq!(k.decrypt(&k.encrypt(b"")).unwrap(), b"");
    }
}
