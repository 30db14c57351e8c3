//! The repository's `config` file: format version, repository id, chunker polynomial.

use serde::{Deserialize, Serialize};

use crate::chunker::Polynomial;
use crate::id::Id;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Config {
    pub version: u32,
    pub id: Id,
    pub chunker_polynomial: String,
}

impl Config {
    pub fn new() -> Config {
        Config {
            version: 2,
            id: Id::random(),
            chunker_polynomial: Polynomial::random().to_hex(),
        }
    }

    pub fn polynomial(&self) -> Result<Polynomial, crate::Error> {
        u64::from_str_radix(&self.chunker_polynomial, 16)
            .ok()
            .map(Polynomial)
            .filter(|p| p.is_irreducible())
            .ok_or_else(|| {
                crate::Error::Invalid(format!(
                    "config: invalid chunker polynomial {}",
                    self.chunker_polynomial
                ))
            })
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}
