//! What can go wrong talking to PostgreSQL, each with the tool's own message.

/// A failure of a PostgreSQL tool or of bunker's use of it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{tool} not found: install the PostgreSQL client tools or point --pg-bin at them")]
    ToolMissing { tool: String },

    /// The tool ran and failed; `message` is what it printed on stderr.
    #[error("{tool} failed: {message}")]
    Tool { tool: String, message: String },

    #[error("the server runs PostgreSQL {server}, newer than {tool} {client}: install the PostgreSQL {server_major} client tools (or point --pg-bin at them)")]
    ClientTooOld {
        tool: String,
        client: String,
        server: String,
        server_major: u32,
    },

    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}
