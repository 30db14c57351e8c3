//! One opendal operator per location: the service, its credentials from the usual
//! places of its ecosystem, the options given with `-o`, and the layers every remote
//! service gets (timeouts, retries with backoff, a bound on requests in flight).

use std::collections::BTreeMap;
use std::time::Duration;

use opendal::layers::{ConcurrentLimitLayer, RetryLayer, TimeoutLayer};
use opendal::Operator;

use super::faults::FaultLayer;
use super::location::Location;
use crate::error::{Error, Result};

/// How to reach a repository beyond its location: restic-style `-o key=value` options.
#[derive(Clone, Debug, Default)]
pub struct StorageOptions {
    options: BTreeMap<String, String>,
    append_only: bool,
}

/// The options each service understands (after its `s3.`/`gs.`/`azure.`/`sftp.` prefix),
/// and the ones every remote service takes.
const KNOWN: &[(&str, &[&str])] = &[
    (
        "s3",
        &[
            "region",
            "bucket-lookup",
            "storage-class",
            "sse",
            "sse-kms-key-id",
            "checksum",
        ],
    ),
    ("gs", &["endpoint", "storage-class"]),
    ("azure", &["endpoint", "endpoint-suffix"]),
    ("sftp", &["key", "known-hosts"]),
];
const COMMON: &[&str] = &["connections", "timeout", "retries"];

impl StorageOptions {
    /// Parses `key=value` pairs; an unknown key is an error, not a silent no-op.
    pub fn parse<'a>(pairs: impl IntoIterator<Item = &'a str>) -> Result<StorageOptions> {
        let mut options = BTreeMap::new();
        for pair in pairs {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| Error::Invalid(format!("option {pair:?}: expected key=value")))?;
            let known = match key.split_once('.') {
                Some((service, name)) => KNOWN.iter().any(|(s, names)| {
                    *s == service && (names.contains(&name) || COMMON.contains(&name))
                }),
                None => COMMON.contains(&key),
            };
            if !known {
                return Err(Error::Invalid(format!(
                    "unknown option {key:?}; known: {}",
                    known_list()
                )));
            }
            options.insert(key.to_string(), value.to_string());
        }
        Ok(StorageOptions {
            options,
            append_only: false,
        })
    }

    /// This client only adds: it never deletes or overwrites, so it works with
    /// credentials that may not delete (see docs/storage.md).
    pub fn with_append_only(mut self, on: bool) -> Self {
        self.append_only = on;
        self
    }

    pub fn append_only(&self) -> bool {
        self.append_only
    }

    /// Whether packs are written in a storage class of their own.
    pub(super) fn has_pack_class(&self, service: &str) -> bool {
        self.get(service, "storage-class").is_some()
    }

    /// Sets one option, as if given with `-o` (for the flags that name one, such as
    /// `--s3-storage-class`).
    pub fn set(&mut self, key: &str, value: &str) {
        self.options.insert(key.to_string(), value.to_string());
    }

    /// An option for `service`: `service.key`, else the bare `key` for common ones.
    fn get(&self, service: &str, key: &str) -> Option<&str> {
        self.options
            .get(&format!("{service}.{key}"))
            .or_else(|| {
                COMMON
                    .contains(&key)
                    .then(|| self.options.get(key))
                    .flatten()
            })
            .map(String::as_str)
    }

    /// Requests in flight at once against a remote service (restic's default is 5).
    pub fn connections(&self, service: &str) -> Result<usize> {
        match self.get(service, "connections") {
            None => Ok(5),
            Some(v) => v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                Error::Invalid(format!("connections={v}: expected a number above 0"))
            }),
        }
    }
}

fn known_list() -> String {
    let mut names: Vec<String> = COMMON.iter().map(|s| s.to_string()).collect();
    for (service, keys) in KNOWN {
        names.extend(keys.iter().map(|k| format!("{service}.{k}")));
    }
    names.join(", ")
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn invalid(e: opendal::Error, location: &Location) -> Error {
    Error::Invalid(format!("cannot use {location}: {e}"))
}

/// Builds the operator for a remote location. Credentials are left to each service's
/// own loaders (environment variables, profile and credential files), so none passes
/// through bunker's arguments or output.
///
/// With `packs`, the operator writes with the storage class given for data packs; the
/// metadata (index, snapshots, keys, locks) stays in the default class, where it is
/// read often and rewritten by prune.
pub(super) fn remote_operator(
    location: &Location,
    opts: &StorageOptions,
    packs: bool,
) -> Result<Operator> {
    opendal::install_default();
    let service = location.service();
    let op = match location {
        Location::S3 {
            endpoint,
            bucket,
            prefix,
        } => {
            let region = opts
                .get(service, "region")
                .map(str::to_string)
                .or_else(|| env("AWS_REGION"))
                .or_else(|| env("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| "us-east-1".to_string());
            let mut b = opendal::services::S3::default()
                .endpoint(endpoint)
                .bucket(bucket)
                .root(&format!("/{prefix}"))
                .region(&region);
            match opts.get(service, "bucket-lookup").unwrap_or("auto") {
                "path" => {}
                "dns" => b = b.enable_virtual_host_style(),
                "auto" if endpoint.ends_with(".amazonaws.com") => b = b.enable_virtual_host_style(),
                "auto" => {}
                other => {
                    return Err(Error::Invalid(format!(
                        "s3.bucket-lookup={other}: expected auto, dns or path"
                    )))
                }
            }
            if let Some(class) = opts.get(service, "storage-class").filter(|_| packs) {
                b = b.default_storage_class(class);
            }
            if let Some(sse) = opts.get(service, "sse") {
                b = b.server_side_encryption(sse);
            }
            if let Some(key) = opts.get(service, "sse-kms-key-id") {
                b = b.server_side_encryption_aws_kms_key_id(key);
            }
            // Content-MD5 on every upload: the service refuses a body that arrived
            // different from what was sent, so what the index refers to is what we wrote.
            match opts.get(service, "checksum").unwrap_or("md5") {
                "none" => {}
                algo @ ("md5" | "crc32c") => b = b.checksum_algorithm(algo),
                other => {
                    return Err(Error::Invalid(format!(
                        "s3.checksum={other}: expected md5, crc32c or none"
                    )))
                }
            }
            Operator::new(b).map_err(|e| invalid(e, location))?
        }
        Location::Gcs { bucket, prefix } => {
            let mut b = opendal::services::Gcs::default()
                .bucket(bucket)
                .root(&format!("/{prefix}"));
            if let Some(path) = env("GOOGLE_APPLICATION_CREDENTIALS") {
                b = b.credential_path(&path);
            }
            // STORAGE_EMULATOR_HOST is how Google's own libraries are pointed at an
            // emulator; they send no credentials to it, and neither do we.
            let emulator = env("STORAGE_EMULATOR_HOST").map(|h| {
                if h.contains("://") {
                    h
                } else {
                    format!("http://{h}")
                }
            });
            if let Some(endpoint) = opts
                .get(service, "endpoint")
                .map(str::to_string)
                .or(emulator.clone())
            {
                b = b.endpoint(&endpoint);
            }
            if emulator.is_some() {
                b = b.skip_signature().disable_vm_metadata();
            }
            if let Some(class) = opts.get(service, "storage-class").filter(|_| packs) {
                b = b.default_storage_class(class);
            }
            Operator::new(b).map_err(|e| invalid(e, location))?
        }
        Location::Azure { container, prefix } => {
            let account = env("AZURE_ACCOUNT_NAME").ok_or_else(|| {
                Error::Invalid(format!(
                    "{location}: set AZURE_ACCOUNT_NAME (and AZURE_ACCOUNT_KEY or AZURE_ACCOUNT_SAS)"
                ))
            })?;
            let endpoint = match opts.get(service, "endpoint") {
                Some(e) => e.to_string(),
                None => {
                    let suffix = opts
                        .get(service, "endpoint-suffix")
                        .map(str::to_string)
                        .or_else(|| env("AZURE_ENDPOINT_SUFFIX"))
                        .unwrap_or_else(|| "core.windows.net".to_string());
                    format!("https://{account}.blob.{suffix}")
                }
            };
            let mut b = opendal::services::Azblob::default()
                .container(container)
                .root(&format!("/{prefix}"))
                .endpoint(&endpoint)
                .account_name(&account);
            if let Some(key) = env("AZURE_ACCOUNT_KEY") {
                b = b.account_key(&key);
            } else if let Some(sas) = env("AZURE_ACCOUNT_SAS") {
                b = b.sas_token(sas.trim_start_matches('?'));
            }
            Operator::new(b).map_err(|e| invalid(e, location))?
        }
        Location::Sftp {
            user,
            host,
            port,
            path,
        } => {
            let endpoint = match port {
                Some(p) => format!("ssh://{host}:{p}"),
                None => format!("ssh://{host}"),
            };
            let mut b = opendal::services::Sftp::default()
                .endpoint(&endpoint)
                .root(path)
                .known_hosts_strategy(match opts.get(service, "known-hosts") {
                    Some("accept-new") => "add",
                    other => other.unwrap_or("strict"),
                });
            if let Some(user) = user {
                b = b.user(user);
            }
            if let Some(key) = opts.get(service, "key") {
                b = b.key(key);
            }
            Operator::new(b).map_err(|e| invalid(e, location))?
        }
        Location::Local(_) => unreachable!("local storage has no remote operator"),
    };
    let timeout = match opts.get(service, "timeout") {
        None => Duration::from_secs(120),
        Some(v) => parse_timeout(v)?,
    };
    let retries = match opts.get(service, "retries") {
        None => 6,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| Error::Invalid(format!("retries={v}: expected a number")))?,
    };
    let mut op = op
        .layer(
            TimeoutLayer::new()
                .with_timeout(timeout)
                .with_io_timeout(timeout),
        )
        .layer(
            RetryLayer::new()
                .with_jitter()
                .with_min_delay(Duration::from_millis(200))
                .with_max_delay(Duration::from_secs(10))
                .with_max_times(retries),
        )
        .layer(ConcurrentLimitLayer::new(opts.connections(service)?));
    if let Some(spec) = env("BUNKER_INJECT_FAULTS") {
        op = op.layer(FaultLayer::parse(&spec)?);
    }
    Ok(op)
}

/// `90`, `90s`, `2m` or `500ms`.
fn parse_timeout(v: &str) -> Result<Duration> {
    let bad = || {
        Error::Invalid(format!(
            "timeout={v}: expected a duration such as 90s, 2m or 500ms"
        ))
    };
    let (num, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
    let n: u64 = num.parse().map_err(|_| bad())?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(n)),
        "ms" => Ok(Duration::from_millis(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(bad()),
    }
}
