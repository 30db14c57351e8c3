//! `[daemon.dashboard]`, `[reports.NAME]` and a repository's `quota`: what the daemon's
//! pages, its scheduled reports and its storage alerts are told.

use serde::{Deserialize, Deserializer, Serialize};

use toml::Spanned;

use super::when::When;
use crate::value::{DaemonSecret, Span};

/// `[daemon.dashboard]`: who may see the pages and act from them.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardConfig {
    /// An argon2 hash (PHC string) of the login password, as printed by
    /// `bunker dashboard hash-password`. Without it, only `api_token` logs in.
    pub password_hash: Option<DaemonSecret>,
    /// Read-only pages are open to clients on the loopback interface without a login.
    /// Actions always need one. Leave it off behind a reverse proxy on the same host
    /// (every client would then come from loopback).
    #[serde(default)]
    pub loopback_read: bool,
    /// How long a login lasts without use (default 12h).
    pub session_idle: Option<Span>,
}

/// `[reports.NAME]`: a summary of every job sent on a schedule.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// When to send it (`0 8 * * 1`: Mondays at 8, in `[daemon] timezone`).
    pub schedule: When,
    /// The period it covers, back from when it is sent (default 7d).
    pub since: Option<Span>,
    /// Notification targets it goes to (e-mail gets text and HTML parts).
    pub notify: Vec<Spanned<String>>,
}

/// `quota = "500GiB"` on a repository, with the shares of it that raise an incident.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Quota(pub u64);

impl<'de> Deserialize<'de> for Quota {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Quota, D::Error> {
        let raw = String::deserialize(d)?;
        match bunker_repo::parse_bytes(&raw) {
            Ok(0) => Err(serde::de::Error::custom(format!(
                "quota = {raw:?}: a quota of zero is always exceeded"
            ))),
            Ok(n) => Ok(Quota(n)),
            Err(e) => Err(serde::de::Error::custom(format!(
                "quota = {raw:?}: {e} (write e.g. \"500GiB\")"
            ))),
        }
    }
}

/// The default warning and critical shares of a quota, in percent (seed 003's).
pub const QUOTA_WARNING: u8 = 80;
pub const QUOTA_CRITICAL: u8 = 90;
