//! Errors of jobs: the engine's, the source's, or a request that cannot be done.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Repo(#[from] bunker_repo::Error),

    #[error(transparent)]
    Postgres(#[from] bunker_sources::postgres::Error),

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A program a source runs could not be started.
    #[error("starting {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },

    /// A restore to a new place found something there.
    #[error("{0} already exists and is not empty: restore into a new place")]
    TargetExists(String),

    /// What a kind of source cannot do (a restore in place of a command's output).
    #[error("a {kind} source cannot {what}")]
    Unsupported {
        kind: &'static str,
        what: &'static str,
    },

    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
