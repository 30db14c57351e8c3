//! The audit log of commands run by hand: after a backup, restore, forget, prune, copy,
//! tag or key change succeeds, who ran what is appended to the repository (encrypted,
//! under `audit/`) and to the local catalog, as job runs do.

use anyhow::Result;
use bunker_catalog::{audit, AuditEvent, Catalog};

use super::Globals;

/// Whether a long option's value is a secret or produces one: every password option
/// (`--password-command`, `--to-password-command`, `--new-password-file`, ...), and
/// the options that carry tokens, keys or connection strings with a password inside.
fn is_secret_option(name: &str) -> bool {
    let name = name.trim_start_matches('-');
    [
        "password",
        "secret",
        "token",
        "credential",
        "dsn",
        "conninfo",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// Command-line words without the values of secret options.
fn redacted(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut hide_next = false;
    for a in args {
        if hide_next {
            out.push("<redacted>".into());
            hide_next = false;
            continue;
        }
        if !a.starts_with("--") || a == "--" {
            out.push(a);
            continue;
        }
        match a.split_once('=') {
            Some((name, _)) if is_secret_option(name) => out.push(format!("{name}=<redacted>")),
            None if is_secret_option(&a) => {
                hide_next = true;
                out.push(a);
            }
            _ => out.push(a),
        }
    }
    out
}

/// An audit event prepared before the command runs: the repository is opened first, as
/// `key passwd` removes the key it was opened with.
pub struct Pending {
    event: AuditEvent,
    repo: Option<std::sync::Arc<bunker_repo::Repository>>,
}

/// Prepares the record of `action`. The repository is opened with the password, not
/// from the key cache: only the WAL commands cache the master key (docs/security.md).
pub fn prepare(g: &Globals, action: &str) -> Option<Pending> {
    let location = g.location().ok()?;
    let event = AuditEvent::new(
        action,
        &location,
        None,
        serde_json::json!({ "command": redacted(std::env::args().skip(1)) }),
    );
    Some(Pending {
        event,
        repo: g.open().ok(),
    })
}

impl Pending {
    /// Records the event once the command succeeded; a failure to record is a warning,
    /// never the command's failure.
    pub fn record(self, g: &Globals) {
        if let Err(e) = self.try_record(g) {
            eprintln!("warning: audit log not written: {e:#}");
        }
    }

    fn try_record(self, g: &Globals) -> Result<()> {
        let repo = match self.repo {
            Some(r) => r,
            None => g.open()?,
        };
        audit::append_to_repository(&repo, &self.event)?;
        let state_dir = match g.config.as_ref().map(|_| g.load_config()) {
            Some(Ok(c)) => c.state_dir(),
            _ => bunker_jobs::config::default_state_dir(),
        };
        Catalog::open(&state_dir.join("catalog.sqlite"))?.record_audit(&self.event)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    /// Regression (issue 14, item 11): `--to-password-command "echo <password>"` was
    /// stored verbatim in the audit log.
    #[test]
    fn every_password_option_is_redacted() {
        let words = |s: &[&str]| s.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        let got = redacted(words(&[
            "--password-command",
            "echo hunter2",
            "copy",
            "--to",
            "/r2",
            "--to-password-command=echo hunter3",
            "--to-password-file",
            "/p",
            "--new-password-command",
            "echo hunter4",
            "--from-password-file=/q",
            "--dsn",
            "host=db password=hunter5",
            "--tag",
            "nightly",
            "--",
            "--password-command",
        ]));
        let line = got.join(" ");
        for secret in ["hunter", "/p", "/q"] {
            assert!(!line.contains(secret), "{line}");
        }
        assert!(
            line.contains("--to /r2") && line.contains("--tag nightly"),
            "{line}"
        );
        assert!(line.contains("--to-password-command=<redacted>"), "{line}");
    }
}
