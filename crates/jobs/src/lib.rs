//! What bunker does with sources and repositories: the configuration file and the job
//! runner on top of the engine, PostgreSQL backups and restores, and restore drills that
//! prove a backup restores.

pub mod alerts;
pub mod choice;
pub mod config;
pub mod drill;
mod error;
pub mod exit;
pub mod overdue;
pub mod password_command;
pub mod postgres;
pub mod prune;
pub mod quota;
pub mod runner;
pub mod source;
pub mod status;
mod value;

pub use error::{Error, Result};
