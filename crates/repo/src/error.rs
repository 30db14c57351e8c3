//! The engine's errors: what failed, on which object, and whether trying again can help.

use std::path::PathBuf;

use crate::blob::BlobType;
use crate::id::Id;

/// Every failure the engine reports. The binary maps kinds to exit codes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no repository at {location}: run `bunker init` first, or check -r/BUNKER_REPOSITORY")]
    NoRepository { location: String },

    #[error("repository already exists at {location}")]
    AlreadyExists { location: String },

    #[error("wrong password: no key in {location} opens with it")]
    WrongPassword { location: String },

    #[error("repository is locked {by}: wait for it to finish, or run `bunker unlock` if it died")]
    Locked { by: String },

    #[error("{}", describe_storage(.op, .location, .path, .source))]
    Storage {
        op: &'static str,
        location: String,
        path: String,
        #[source]
        source: Box<opendal::Error>,
    },

    #[error("{what} {id} is damaged: {reason}")]
    Corrupt {
        what: &'static str,
        id: String,
        reason: String,
    },

    /// An index file that cannot be read: the packs it describes are still there, and
    /// `repair index` describes them again from their headers.
    #[error("index file {id} is damaged ({reason}): run `bunker repair index` to rebuild the index from the packs")]
    DamagedIndex { id: String, reason: String },

    /// `repair packs` learns a pack's blobs from the index, which does not list it.
    #[error("pack {id} is not in the index: run `bunker repair index` first, so that its blobs are known")]
    UnindexedPack { id: String },

    #[error(
        "cannot tell which snapshot is the latest: {}; name a snapshot by its id instead \
         (`bunker snapshots` lists the readable ones)",
        .damaged.join("; ")
    )]
    LatestUnknown {
        /// What is wrong with each snapshot file that could not be read.
        damaged: Vec<String>,
    },

    #[error("{} not found in the repository", describe_missing(.what, .id))]
    NotFound { what: &'static str, id: String },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{0}")]
    Invalid(String),

    #[error("{location} is append-only for this client: {what}; run forget, prune and unlock where deleting is allowed")]
    AppendOnly { location: String, what: String },

    #[error("unsupported repository version {0}: bunker reads and writes version 2 (and reads version 1)")]
    UnsupportedVersion(u32),
}

/// One line for a failed storage request: what failed where, a hint for the kinds a
/// user can act on, and the service's own message.
fn describe_storage(op: &str, location: &str, path: &str, e: &opendal::Error) -> String {
    use opendal::ErrorKind as K;
    let at = if path.is_empty() {
        location.to_string()
    } else {
        format!("{location}/{path}")
    };
    if let Some(disk) = disk_error(e) {
        return format!("{disk} at {at}");
    }
    let hint = match e.kind() {
        K::PermissionDenied => "access denied: check the credentials and their permissions",
        K::ConfigInvalid => "the storage settings are invalid",
        K::RateLimited => "the service kept refusing with rate limits",
        K::NotFound => "not found (does the bucket or container exist?)",
        _ if e.is_temporary() => "the service did not answer in time, even after retries",
        _ => "",
    };
    // opendal's Display carries the request context (URL, response headers) over
    // several fields; the messages along the chain of causes say what happened.
    let mut parts: Vec<String> = Vec::new();
    let mut push = |text: String| {
        let text = text.trim().to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    };
    push(e.message().to_string());
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        push(match c.downcast_ref::<opendal::Error>() {
            Some(inner) => inner.message().to_string(),
            None => c.to_string(),
        });
        cause = c.source();
    }
    let message = parts
        .iter()
        .filter(|p| !p.contains(", context: {"))
        .cloned()
        .collect::<Vec<_>>()
        .join(": ");
    let message = without_url_queries(message.lines().next().unwrap_or_default());
    let said = [hint, message.as_str()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(": ");
    format!("storage {op} failed on {at}: {said}")
}

/// What a local disk said, for the OS errors that say it all: a full disk, a failing
/// one, a read-only mount. opendal marks them temporary, but trying again cannot help.
fn disk_error(e: &opendal::Error) -> Option<&'static str> {
    use nix::errno::Errno;
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return match Errno::from_raw(io.raw_os_error()?) {
                Errno::ENOSPC => Some("no space left on device"),
                Errno::EDQUOT => Some("disk quota exceeded"),
                Errno::EIO => Some("input/output error (the disk reports a failure)"),
                Errno::EROFS => Some("read-only file system"),
                _ => None,
            };
        }
        cause = c.source();
    }
    None
}

/// Drops the query of every URL in `text`: a SAS token or a presigned signature travels
/// there, and errors are printed.
fn without_url_queries(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_url = false;
    let mut skipping = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() || matches!(c, ')' | '"' | ',' | '>') {
            in_url = false;
            skipping = false;
        } else if !in_url && text[i..].starts_with("http") && text[i..].contains("://") {
            in_url = true;
        } else if in_url && c == '?' {
            skipping = true;
        }
        if !skipping {
            out.push(c);
        }
    }
    out
}

fn describe_missing(what: &str, id: &str) -> String {
    format!("{what} {id}")
}

impl Error {
    /// Whether repeating the same operation may succeed (a network blip, a busy server).
    pub fn is_temporary(&self) -> bool {
        matches!(self, Error::Storage { source, .. }
            if source.is_temporary() && disk_error(source).is_none())
    }

    pub(crate) fn corrupt(what: &'static str, id: &Id, reason: impl Into<String>) -> Error {
        Error::Corrupt {
            what,
            id: id.to_hex(),
            reason: reason.into(),
        }
    }

    pub(crate) fn missing_blob(t: BlobType, id: &Id) -> Error {
        Error::NotFound {
            what: t.noun(),
            id: id.to_hex(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    /// Regression (issue 14): a full local disk said "the service did not answer in
    /// time, even after retries".
    #[test]
    fn a_full_disk_says_so_and_is_not_temporary() {
        let io = std::io::Error::from_raw_os_error(nix::errno::Errno::ENOSPC as i32);
        let e = super::Error::Storage {
            op: "write",
            location: "/srv/repo".into(),
            path: "data/ab/abcd".into(),
            source: Box::new(opendal::raw::new_std_io_error(io)),
        };
        assert_eq!(
            e.to_string(),
            "no space left on device at /srv/repo/data/ab/abcd"
        );
        assert!(!e.is_temporary());
    }

    #[test]
    fn url_queries_are_not_printed() {
        assert_eq!(
            super::without_url_queries(
                "error sending request for url (https://a.blob.core.windows.net/c/config?sv=2021&sig=SECRET): timed out"
            ),
            "error sending request for url (https://a.blob.core.windows.net/c/config): timed out"
        );
    }
}
