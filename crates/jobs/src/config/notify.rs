//! `[notify.NAME]`: where alerts go. One table shape for every kind; `type` says which
//! fields are needed.

use std::collections::BTreeMap;
use std::time::Duration;

use bunker_notify::{Channel, Email, EventKind, Healthchecks, Notifier, Slack, Tls, Webhook};
use serde::{Deserialize, Serialize};

use crate::value::{Secret, Span, Text};

/// A notification target as written in the file.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// `webhook`, `slack`, `email` or `healthchecks`.
    #[serde(rename = "type")]
    pub kind: NotifyKind,
    /// Webhook, Slack incoming-webhook or healthchecks ping URL (a secret: it carries
    /// the key).
    pub url: Option<Secret>,
    /// Extra HTTP headers of a webhook (values are secrets, e.g. an Authorization).
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    /// SMTP server.
    pub host: Option<Text>,
    pub port: Option<std::num::NonZeroU16>,
    /// `starttls` (default), `tls` or `none`.
    pub tls: Option<String>,
    pub username: Option<Text>,
    pub password: Option<Secret>,
    pub from: Option<Text>,
    #[serde(default)]
    pub to: Vec<Text>,
    /// Trust any certificate of the SMTP server (a self-signed test server only).
    #[serde(default)]
    pub accept_invalid_certs: bool,
    /// Which events this target hears about (default: every alert and recovery;
    /// healthchecks also start and success).
    pub events: Option<Vec<EventKind>>,
    /// Longest a delivery may take.
    pub timeout: Option<Span>,
    /// How long an undelivered message is retried before it is given up and the other
    /// targets hear of it (default 24h).
    pub expire_after: Option<Span>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotifyKind {
    Webhook,
    Slack,
    Email,
    Healthchecks,
}

impl NotifyConfig {
    /// The fields the kind needs are there and the others are not.
    pub(super) fn check(&self) -> Result<(), String> {
        let needs_url = !matches!(self.kind, NotifyKind::Email);
        if needs_url && self.url.is_none() {
            return Err("needs url".into());
        }
        if !needs_url && self.url.is_some() {
            return Err("e-mail takes host, port, from and to, not url".into());
        }
        if let Some(url) = &self.url {
            check_http_url(url.expose())?;
        }
        if self.kind == NotifyKind::Email {
            if self.host.is_none() || self.from.is_none() || self.to.is_empty() {
                return Err("e-mail needs host, from and to".into());
            }
            self.tls_mode()?;
        } else if self.host.is_some() || !self.to.is_empty() || self.from.is_some() {
            return Err("host, from and to are for type = \"email\"".into());
        }
        if !self.headers.is_empty() && self.kind != NotifyKind::Webhook {
            return Err("headers are for type = \"webhook\"".into());
        }
        Ok(())
    }

    fn tls_mode(&self) -> Result<Tls, String> {
        match self.tls.as_deref().unwrap_or("starttls") {
            "starttls" => Ok(Tls::StartTls),
            "tls" => Ok(Tls::Tls),
            "none" => Ok(Tls::None),
            other => Err(format!("tls = {other:?}: use starttls, tls or none")),
        }
    }

    /// How long a message to this target is retried.
    pub fn expire_after(&self) -> Duration {
        self.expire_after
            .map_or(Duration::from_secs(24 * 3600), |s| s.0)
    }

    /// The sender for this target.
    pub fn notifier(&self, name: &str) -> Notifier {
        let url = || {
            self.url
                .as_ref()
                .map(|u| u.expose().to_string())
                .unwrap_or_default()
        };
        let channel = match self.kind {
            NotifyKind::Webhook => Channel::Webhook(Webhook {
                url: url(),
                headers: self
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.expose().to_string()))
                    .collect(),
            }),
            NotifyKind::Slack => Channel::Slack(Slack { url: url() }),
            NotifyKind::Healthchecks => Channel::Healthchecks(Healthchecks { url: url() }),
            NotifyKind::Email => Channel::Email(Email {
                host: self.host.as_ref().map(|h| h.0.clone()).unwrap_or_default(),
                port: self.port.map(std::num::NonZeroU16::get),
                tls: self.tls_mode().unwrap_or(Tls::StartTls),
                username: self.username.as_ref().map(|u| u.0.clone()),
                password: self.password.as_ref().map(|p| p.expose().to_string()),
                from: self.from.as_ref().map(|f| f.0.clone()).unwrap_or_default(),
                to: self.to.iter().map(|t| t.0.clone()).collect(),
                accept_invalid_certs: self.accept_invalid_certs,
            }),
        };
        let events = self
            .events
            .clone()
            .unwrap_or_else(|| Notifier::default_events(&channel));
        Notifier {
            name: name.to_string(),
            channel,
            events,
            timeout: self.timeout.map_or(Duration::from_secs(15), |t| t.0),
        }
    }
}

/// A target's URL is `http://HOST…` or `https://HOST…`. The error names the scheme at
/// most: the rest of a webhook URL is often its key.
fn check_http_url(url: &str) -> Result<(), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| "url is not an http:// or https:// URL (no \"://\" in it)".to_string())?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        let shown: String = scheme.chars().take(20).collect();
        return Err(format!(
            "url: scheme {shown:?} is not http or https (a typo? e.g. https://hooks.example.com/...)"
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') {
        return Err("url names no host".into());
    }
    Ok(())
}

#[cfg(test)]
mod url_tests {
    use super::check_http_url;

    #[test]
    fn only_http_urls_with_a_host_pass() {
        for good in [
            "https://hooks.example.com/T0/B1",
            "http://127.0.0.1:9/hook",
            "HTTPS://h",
        ] {
            assert_eq!(check_http_url(good), Ok(()), "{good}");
        }
        let e = check_http_url("htp://x/secret-key").unwrap_err();
        assert!(e.contains("\"htp\"") && !e.contains("secret-key"), "{e}");
        assert!(check_http_url("hooks.example.com/x").is_err());
        assert!(check_http_url("https:///path").is_err());
        assert!(check_http_url("https://:443/").is_err());
    }
}
