//! Where the repository password comes from: BUNKER_PASSWORD, a file, or a command.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").to_string()
}

pub fn from_file(path: &Path) -> Result<String> {
    let s = std::fs::read_to_string(path)
        .with_context(|| format!("reading password file {}", path.display()))?;
    Ok(first_line(&s))
}

/// Resolves the password in restic's order: command, file, environment, then a prompt.
/// The command runs for at most `timeout`.
pub fn resolve(file: Option<&Path>, command: Option<&str>, timeout: Duration) -> Result<String> {
    if let Some(cmd) = command {
        return Ok(bunker_jobs::password_command::run(cmd, timeout)?);
    }
    if let Some(f) = file {
        return from_file(f);
    }
    if let Ok(p) = std::env::var("BUNKER_PASSWORD") {
        return Ok(p);
    }
    prompt("enter password for repository: ")
}

/// Reads a password from the terminal (echo is not suppressed; prefer a file or env).
pub fn prompt(label: &str) -> Result<String> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        bail!("no password given: set BUNKER_PASSWORD, --password-file or --password-command");
    }
    eprint!("{label}");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
