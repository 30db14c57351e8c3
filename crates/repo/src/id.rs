//! SHA-256 identifiers: every blob, pack and file in a repository is named by one.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// A 32-byte SHA-256 identifier, written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Id(pub [u8; 32]);

impl Id {
    /// The SHA-256 of `data`.
    pub fn hash(data: &[u8]) -> Id {
        Id(Sha256::digest(data).into())
    }

    /// A random identifier (repository ids).
    pub fn random() -> Id {
        let mut b = [0u8; 32];
        rand::Rng::fill(&mut rand::thread_rng(), &mut b[..]);
        Id(b)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 8 hex digits, as restic prints ids.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.short())
    }
}

/// The text was not 64 hex digits.
#[derive(Debug, thiserror::Error)]
#[error("invalid id {0:?}: expected 64 hex digits")]
pub struct ParseIdError(pub String);

impl FromStr for Id {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Id, ParseIdError> {
        let mut b = [0u8; 32];
        hex::decode_to_slice(s, &mut b).map_err(|_| ParseIdError(s.to_string()))?;
        Ok(Id(b))
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Id, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id = Id::hash(b"bunker");
        assert_eq!(id.to_hex().parse::<Id>().unwrap(), id);
        assert_eq!(id.short().len(), 8);
        assert!("zz".parse::<Id>().is_err());
    }
}
