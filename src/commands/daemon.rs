//! `daemon`: runs the configuration's schedules until SIGTERM.

use anyhow::Result;
use bunker_jobs::exit;

use super::{ExitWith, Globals};

pub fn run(g: &Globals) -> Result<()> {
    // Read the configuration first, so that a mistake is the usual one-line error with
    // its position and exit code 2; the daemon's own secrets must resolve here too.
    let config = g.load_config()?;
    let missing = config.daemon.unresolved_secrets();
    if !missing.is_empty() {
        return Err(ExitWith(exit::USAGE, missing.join("; ")).into());
    }
    bunker_daemon::run(&g.config_path())?;
    Ok(())
}
