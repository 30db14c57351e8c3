//! `daemon`: runs the configuration's schedules until SIGTERM.

use anyhow::Result;

use super::Globals;

pub fn run(g: &Globals) -> Result<()> {
    // Read the configuration first, so that a mistake is the usual one-line error with
    // its position and exit code 2.
    g.load_config()?;
    bunker_daemon::run(&g.config_path())?;
    Ok(())
}
