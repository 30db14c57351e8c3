//! The audit log of commands run by hand: after a backup, restore, forget, prune, copy,
//! tag or key change succeeds, who ran what is appended to the repository (encrypted,
//! under `audit/`) and to the local catalog, as job runs do.

use anyhow::Result;
use bunker_catalog::{audit, AuditEvent, Catalog};

use super::Globals;

/// Command-line words without the values of password options.
fn redacted_args() -> Vec<String> {
    let mut out = Vec::new();
    let mut hide_next = false;
    for a in std::env::args().skip(1) {
        if hide_next {
            out.push("<redacted>".into());
            hide_next = false;
            continue;
        }
        let secret = [
            "--password-command",
            "--password-file",
            "--new-password-file",
        ];
        if secret.contains(&a.as_str()) {
            hide_next = true;
        } else if secret.iter().any(|s| a.starts_with(&format!("{s}="))) {
            out.push(format!("{}=<redacted>", a.split('=').next().unwrap_or("")));
            continue;
        }
        out.push(a);
    }
    out
}

/// An audit event prepared before the command runs: the repository is opened first, as
/// `key passwd` removes the key it was opened with.
pub struct Pending {
    event: AuditEvent,
    repo: Option<bunker_repo::Repository>,
}

/// Prepares the record of `action` (opening the repository with the cached key).
pub fn prepare(g: &Globals, action: &str) -> Option<Pending> {
    let location = g.location().ok()?;
    let event = AuditEvent::new(
        action,
        &location,
        None,
        serde_json::json!({ "command": redacted_args() }),
    );
    Some(Pending {
        event,
        repo: g.open_cached().ok(),
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
            None => g.open_cached()?,
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
