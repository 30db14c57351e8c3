//! The first run: a local repository with a generated password, one backup, the list.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Arc;

use anyhow::{Context, Result};
use bunker_repo::{backup_paths, BackupProgress, Repository, Storage};
use rand::RngCore;

use super::Globals;
use crate::cli::QuickstartArgs;

pub fn run(g: &Globals, a: QuickstartArgs) -> Result<()> {
    let location = a.at.to_string_lossy().into_owned();
    let storage = Storage::create(&location, &Default::default())?;
    let repo = if storage.config_exists()? {
        let pw = crate::password::from_file(&a.password_out).with_context(|| {
            format!(
                "{location} exists: its password should be in {}",
                a.password_out.display()
            )
        })?;
        Repository::open(storage, &pw)?
    } else {
        let mut raw = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut raw);
        let pw: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&a.password_out)
            .with_context(|| format!("creating password file {}", a.password_out.display()))?;
        writeln!(f, "{pw}")?;
        f.sync_all()?;
        let repo = Repository::init(storage, &pw)?;
        println!(
            "created repository {} at {location}",
            repo.config().id.short()
        );
        println!(
            "its password is in {} (mode 0600): keep a copy somewhere safe",
            std::fs::canonicalize(&a.password_out)?.display()
        );
        repo
    };
    let repo = Arc::new(repo);
    let opts = super::backup::options(
        g,
        &crate::cli::BackupArgs {
            paths: vec![a.path.clone()],
            tags: vec![],
            host: None,
            excludes: vec![
                location.clone(),
                a.password_out.to_string_lossy().into_owned(),
                "target/".into(),
            ],
            exclude_files: vec![],
            exclude_caches: true,
            one_file_system: false,
            exclude_larger_than: None,
            parent: None,
            force: false,
            stdin: false,
            stdin_filename: "stdin".into(),
            stdin_from_command: false,
            time: None,
            label: None,
        },
    )?;
    let r = backup_paths(
        repo.clone(),
        std::slice::from_ref(&a.path),
        &opts,
        &BackupProgress::default(),
    )?;
    let s = r.snapshot.summary.clone().unwrap_or_default();
    println!(
        "backed up {} ({} files, {}) as snapshot {}, {} new data stored",
        a.path.display(),
        s.total_files_processed,
        crate::output::bytes(s.total_bytes_processed),
        r.snapshot.short_id(),
        crate::output::bytes(s.data_added_packed)
    );
    println!();
    let globals = Globals {
        repo: Some(location.clone()),
        configured: None,
        password_file: Some(a.password_out.clone()),
        password_command: None,
        password_read: Default::default(),
        ..g.clone()
    };
    super::snapshots::run(
        &globals,
        crate::cli::SnapshotsArgs {
            filter: Default::default(),
            latest: None,
        },
    )?;
    println!();
    println!(
        "next: BUNKER_PASSWORD_FILE={} bunker -r {location} restore latest --target /tmp/restored",
        a.password_out.display()
    );
    Ok(())
}
