//! Errors of jobs: the engine's, the source's, or a request that cannot be done.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Repo(#[from] bunker_repo::Error),

    #[error(transparent)]
    Postgres(#[from] bunker_sources::postgres::Error),

    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
