//! `wal-push`, `wal-fetch`, `wal-receive`: the WAL archive as PostgreSQL's
//! archive_command and restore_command see it, and streaming into it.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use bunker_jobs::postgres::wal_archive::{self, Pushed};
use bunker_jobs::postgres::wal_receive::Spool;
use bunker_sources::postgres::wal::{header_segment_size, system_identifier};

use super::Globals;
use crate::cli::{WalFetchArgs, WalPushArgs, WalReceiveArgs};

fn data_dir(given: &Option<PathBuf>) -> Result<PathBuf> {
    match given {
        Some(d) => Ok(d.clone()),
        None => std::env::current_dir().context("current directory"),
    }
}

pub fn push(g: &Globals, a: WalPushArgs) -> Result<()> {
    let pgdata = data_dir(&a.pgdata)?;
    let system = system_identifier(&pgdata)?.to_string();
    let path = if a.path.is_absolute() {
        a.path.clone()
    } else {
        pgdata.join(&a.path)
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{}: not a WAL file", a.path.display()))?
        .to_string();
    let data = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let seg =
        header_segment_size(&data).unwrap_or(bunker_sources::postgres::wal::DEFAULT_SEGMENT_SIZE);
    let repo = g.open_cached()?;
    match wal_archive::push(&repo, &system, &name, &data, seg)? {
        Pushed::Stored => {}
        Pushed::AlreadyThere => {
            eprintln!("bunker: {name} was already archived with the same contents")
        }
    }
    Ok(())
}

/// restore_command's exit codes: 1 tells PostgreSQL the file does not exist (the normal
/// end of recovery); above 125 makes it stop instead of ending recovery early.
pub const FETCH_NOT_FOUND: u8 = 1;
pub const FETCH_ERROR: u8 = 128;

/// Returns the exit code; errors are printed here (one line) because any of them must
/// become [`FETCH_ERROR`].
pub fn fetch(g: &Globals, a: WalFetchArgs) -> u8 {
    match try_fetch(g, &a) {
        Ok(true) => 0,
        Ok(false) => FETCH_NOT_FOUND,
        Err(e) => {
            eprintln!("bunker: wal-fetch {}: {}", a.name, crate::one_line(&e));
            FETCH_ERROR
        }
    }
}

fn try_fetch(g: &Globals, a: &WalFetchArgs) -> Result<bool> {
    let pgdata = data_dir(&a.pgdata)?;
    let system = system_identifier(&pgdata)?.to_string();
    let dest = if a.dest.is_absolute() {
        a.dest.clone()
    } else {
        pgdata.join(&a.dest)
    };
    let spool = pgdata.join("pg_wal/bunker-prefetch");
    // A prefetched segment needs no repository at all.
    if spool.join(&a.name).is_file() {
        std::fs::rename(spool.join(&a.name), &dest)
            .with_context(|| format!("moving the prefetched {} into place", a.name))?;
        return Ok(true);
    }
    let repo = g.open_cached()?;
    let seg = bunker_sources::postgres::wal::DEFAULT_SEGMENT_SIZE;
    Ok(wal_archive::fetch_to(
        &repo, &system, &a.name, &dest, &spool, a.prefetch, seg,
    )?)
}

/// Streams WAL with pg_receivewal and stores what it writes: complete segments as
/// archived files, the segment in progress as `NAME.streaming` every interval.
pub fn receive(g: &Globals, a: WalReceiveArgs) -> Result<()> {
    // Runs for hours: one scrypt at the start, no key cache.
    let repo = g.open()?;
    let server = g.pg_server(&a.conn);
    let facts = server.cluster_facts()?;
    let system = facts.system_identifier.clone();
    let seg = facts.wal_segment_size;
    let spool = match &a.spool {
        Some(d) => d.clone(),
        None => super::cache_dir().join("wal-receive").join(&system),
    };
    std::fs::create_dir_all(&spool).with_context(|| format!("creating {}", spool.display()))?;
    let mut receiver = server.receive_wal(&spool, &a.slot)?;
    eprintln!(
        "bunker: streaming WAL of system {system} into {} (slot {}, spool {})",
        repo.storage().location(),
        a.slot,
        spool.display()
    );
    let mut spool = Spool::new(spool, system, seg);
    loop {
        let exited = receiver.exited();
        for name in spool.store(&repo)? {
            eprintln!("bunker: archived {name}");
        }
        if let Some(e) = exited {
            bail!("pg_receivewal stopped: {e}");
        }
        std::thread::sleep(a.interval);
    }
}
