//! What bunker does with sources and repositories: PostgreSQL backups and restores on top
//! of the engine, and restore drills that prove a backup restores.

pub mod drill;
mod error;
pub mod postgres;

pub use error::{Error, Result};
