//! Repository locations in restic's syntax, so that one string names the same
//! repository for both tools: a local path, `s3:`, `gs:`, `azure:` and `sftp:`.

use std::fmt;
use std::path::PathBuf;

use crate::error::{Error, Result};

/// Where a repository lives, parsed from its location string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// `/path`, `relative/path` or `local:/path`.
    Local(PathBuf),
    /// `s3:https://host[:port]/bucket[/prefix]`, or `s3:host/bucket[/prefix]` (https).
    S3 {
        endpoint: String,
        bucket: String,
        prefix: String,
    },
    /// `gs:bucket:/prefix`.
    Gcs { bucket: String, prefix: String },
    /// `azure:container:/prefix`.
    Azure { container: String, prefix: String },
    /// `sftp:[user@]host:/path` or `sftp://[user@]host[:port]/path`.
    Sftp {
        user: Option<String>,
        host: String,
        port: Option<u16>,
        path: String,
    },
}

impl Location {
    pub fn parse(s: &str) -> Result<Location> {
        let bad = |why: &str| Error::Invalid(format!("repository location {s:?}: {why}"));
        if s.is_empty() {
            return Err(Error::Invalid("empty repository location".into()));
        }
        if let Some(rest) = s.strip_prefix("s3:") {
            let (scheme, rest) = match rest.split_once("://") {
                Some((scheme @ ("http" | "https"), rest)) => (scheme, rest),
                Some((other, _)) => return Err(bad(&format!("unknown scheme {other:?}"))),
                None => ("https", rest),
            };
            let mut parts = rest.splitn(3, '/');
            let host = parts.next().unwrap_or_default();
            let bucket = parts.next().unwrap_or_default();
            let prefix = parts.next().unwrap_or_default().trim_matches('/');
            if host.is_empty() || bucket.is_empty() {
                return Err(bad("expected s3:https://host[:port]/bucket[/prefix]"));
            }
            return Ok(Location::S3 {
                endpoint: format!("{scheme}://{host}"),
                bucket: bucket.to_string(),
                prefix: prefix.to_string(),
            });
        }
        if let Some(rest) = s.strip_prefix("gs:") {
            let (bucket, prefix) =
                bucket_and_prefix(rest).ok_or_else(|| bad("expected gs:bucket:/prefix"))?;
            return Ok(Location::Gcs { bucket, prefix });
        }
        if let Some(rest) = s.strip_prefix("azure:") {
            let (container, prefix) =
                bucket_and_prefix(rest).ok_or_else(|| bad("expected azure:container:/prefix"))?;
            return Ok(Location::Azure { container, prefix });
        }
        if let Some(rest) = s.strip_prefix("sftp://") {
            let (authority, path) = rest
                .split_once('/')
                .ok_or_else(|| bad("expected sftp://[user@]host[:port]/path"))?;
            let (user, hostport) = split_user(authority);
            // `host:port`, `[v6]:port`, or a host alone (a bare IPv6 address has colons
            // of its own and no port).
            let (host, port) = match hostport.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') || h.ends_with(']') => {
                    let port = p
                        .parse::<u16>()
                        .map_err(|_| bad("the port is not a number"))?;
                    (unbracket(h), Some(port))
                }
                _ => (unbracket(hostport), None),
            };
            if !sftp_names_ok(user.as_deref(), host) || path.is_empty() {
                return Err(bad("expected sftp://[user@]host[:port]/path"));
            }
            return Ok(Location::Sftp {
                user,
                host: host.to_string(),
                port,
                path: path.to_string(),
            });
        }
        if let Some(rest) = s.strip_prefix("sftp:") {
            let (authority, path) = rest
                .split_once(':')
                .ok_or_else(|| bad("expected sftp:[user@]host:/path"))?;
            let (user, host) = split_user(authority);
            if !sftp_names_ok(user.as_deref(), host) || path.is_empty() {
                return Err(bad("expected sftp:[user@]host:/path"));
            }
            return Ok(Location::Sftp {
                user,
                host: host.to_string(),
                port: None,
                path: path.to_string(),
            });
        }
        for scheme in ["rest:", "b2:", "swift:", "rclone:"] {
            if s.starts_with(scheme) {
                return Err(bad(&format!(
                    "{} repositories are not supported; for Backblaze B2 use its S3 endpoint (s3:https://s3.REGION.backblazeb2.com/bucket)",
                    scheme.trim_end_matches(':')
                )));
            }
        }
        let path = s.strip_prefix("local:").unwrap_or(s);
        if path.is_empty() {
            return Err(Error::Invalid("empty repository location".into()));
        }
        Ok(Location::Local(
            std::path::absolute(path).map_err(|e| Error::io(path, e))?,
        ))
    }

    /// The name of the service, as options are prefixed (`s3.region=…`).
    pub fn service(&self) -> &'static str {
        match self {
            Location::Local(_) => "local",
            Location::S3 { .. } => "s3",
            Location::Gcs { .. } => "gs",
            Location::Azure { .. } => "azure",
            Location::Sftp { .. } => "sftp",
        }
    }
}

/// `bucket:/prefix` (restic's gs: and azure: form); the prefix may be empty.
fn bucket_and_prefix(rest: &str) -> Option<(String, String)> {
    let (bucket, prefix) = rest.split_once(':').unwrap_or((rest, ""));
    if bucket.is_empty() || bucket.contains('/') {
        return None;
    }
    Some((bucket.to_string(), prefix.trim_matches('/').to_string()))
}

/// `[v6]` without its brackets; anything else as it is.
fn unbracket(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// A host name or address (IPv6 without its brackets, with a `%zone`), and a user name
/// without the separators of the location syntax: what parses is shown back the same.
fn sftp_names_ok(user: Option<&str>, host: &str) -> bool {
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '%'));
    let user_ok = user.is_none_or(|u| !u.is_empty() && !u.contains(['@', ':', '/', '[', ']']));
    host_ok && user_ok
}

fn split_user(authority: &str) -> (Option<String>, &str) {
    match authority.rsplit_once('@') {
        Some((user, host)) => (Some(user.to_string()), host),
        None => (None, authority),
    }
}

/// The location in restic's syntax; it never holds a secret, so it may be printed.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let with_prefix = |prefix: &str| {
            if prefix.is_empty() {
                String::new()
            } else {
                format!("/{prefix}")
            }
        };
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::S3 {
                endpoint,
                bucket,
                prefix,
            } => write!(f, "s3:{endpoint}/{bucket}{}", with_prefix(prefix)),
            Location::Gcs { bucket, prefix } => write!(f, "gs:{bucket}:/{prefix}"),
            Location::Azure { container, prefix } => write!(f, "azure:{container}:/{prefix}"),
            Location::Sftp {
                user,
                host,
                port,
                path,
            } => {
                let user = user.as_deref().map(|u| format!("{u}@")).unwrap_or_default();
                // An IPv6 address keeps its brackets, or its colons would read as a port.
                match (port, host.contains(':')) {
                    (Some(p), false) => write!(f, "sftp://{user}{host}:{p}/{path}"),
                    (Some(p), true) => write!(f, "sftp://{user}[{host}]:{p}/{path}"),
                    (None, false) => write!(f, "sftp:{user}{host}:{path}"),
                    (None, true) => write!(f, "sftp://{user}[{host}]/{path}"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(endpoint: &str, bucket: &str, prefix: &str) -> Location {
        Location::S3 {
            endpoint: endpoint.into(),
            bucket: bucket.into(),
            prefix: prefix.into(),
        }
    }

    #[test]
    fn parses_restic_locations() {
        assert_eq!(
            Location::parse("s3:http://127.0.0.1:3900/bunker/a/b").unwrap(),
            s3("http://127.0.0.1:3900", "bunker", "a/b")
        );
        assert_eq!(
            Location::parse("s3:s3.amazonaws.com/bucket").unwrap(),
            s3("https://s3.amazonaws.com", "bucket", "")
        );
        assert_eq!(
            Location::parse("gs:bkt:/some/where").unwrap(),
            Location::Gcs {
                bucket: "bkt".into(),
                prefix: "some/where".into()
            }
        );
        assert_eq!(
            Location::parse("azure:ctr:/").unwrap(),
            Location::Azure {
                container: "ctr".into(),
                prefix: "".into()
            }
        );
        assert_eq!(
            Location::parse("sftp:me@host:/srv/repo").unwrap(),
            Location::Sftp {
                user: Some("me".into()),
                host: "host".into(),
                port: None,
                path: "/srv/repo".into()
            }
        );
        assert_eq!(
            Location::parse("sftp://me@host:2222//srv/repo").unwrap(),
            Location::Sftp {
                user: Some("me".into()),
                host: "host".into(),
                port: Some(2222),
                path: "/srv/repo".into()
            }
        );
        assert_eq!(
            Location::parse("local:/tmp/r").unwrap(),
            Location::Local("/tmp/r".into())
        );
        for s in [
            "s3:",
            "s3:http://host",
            "s3:ftp://h/b",
            "gs::/x",
            "sftp:host",
            "rest:http://x/",
        ] {
            assert!(Location::parse(s).is_err(), "{s} should be refused");
        }
    }

    /// Found by the location fuzz target: `sftp://u@[::1]:22/p` was shown as
    /// `sftp://u@::1:22/p`, which reads back as host `::1:22` without a port.
    #[test]
    fn an_ipv6_sftp_host_keeps_its_brackets_when_shown() {
        for text in ["sftp://u@[::1]:22/p", "sftp://[fe80::1]/srv/x"] {
            let l = Location::parse(text).unwrap();
            assert_eq!(l.to_string(), text);
            assert_eq!(Location::parse(&l.to_string()).unwrap(), l);
        }
        // A host or user holding the syntax's separators would read back as another.
        for text in [
            "sftp://u@[::1@22/p",
            "sftp:a@b@h:/p",
            "sftp://h]/p",
            "sftp:@h:/p",
        ] {
            assert!(Location::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "s3:http://127.0.0.1:3900/bunker/a/b",
            "gs:bkt:/p",
            "azure:ctr:/p/q",
            "sftp:me@host:/srv/repo",
            "sftp://me@host:2222//srv/repo",
        ] {
            let l = Location::parse(s).unwrap();
            assert_eq!(Location::parse(&l.to_string()).unwrap(), l, "{s}");
        }
    }
}
