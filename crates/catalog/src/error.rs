//! The catalog's errors: which file, and what went wrong with it.

use std::path::PathBuf;

/// Every failure the catalog reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SQLite refused a statement on the catalog file `path`.
    #[error("catalog {path}: {}", describe_sqlite(.source))]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },

    /// Creating the catalog's directory failed.
    #[error("catalog directory {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Reading or writing a repository failed (rebuild, the repository's audit log).
    #[error(transparent)]
    Repo(#[from] bunker_repo::Error),

    /// Data the catalog cannot use: an unknown run id, a schema newer than this bunker.
    #[error("{0}")]
    Invalid(String),
}

/// Results of catalog operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn sqlite(path: &str, source: rusqlite::Error) -> Error {
        Error::Sqlite {
            path: path.to_string(),
            source,
        }
    }
}

/// SQLite's message, with the remedy when another process kept the file busy.
fn describe_sqlite(e: &rusqlite::Error) -> String {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => format!(
            "{e}: another bunker process held it for longer than {} s",
            crate::BUSY_TIMEOUT.as_secs()
        ),
        _ => e.to_string(),
    }
}
