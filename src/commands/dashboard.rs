//! `dashboard hash-password`: the argon2 hash to put in `[daemon.dashboard]
//! password_hash`, so that the password itself never sits in the configuration.

use std::io::BufRead;

use anyhow::{bail, Context, Result};

use super::Globals;
use crate::cli::DashboardCommand;

pub fn run(_g: &Globals, c: DashboardCommand) -> Result<()> {
    match c {
        DashboardCommand::HashPassword => hash_password(),
    }
}

fn hash_password() -> Result<()> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        bail!("no password on standard input: echo the password into the command");
    }
    let hash = bunker_daemon::hash_password(password).map_err(anyhow::Error::msg)?;
    println!("{hash}");
    Ok(())
}
