//! One module per command; each turns parsed arguments into engine calls and output.

pub mod audit;
pub mod backup;
pub mod cat;
pub mod catalog;
pub mod check;
pub mod config;
pub mod copy;
pub mod daemon;
pub mod dashboard;
pub mod diff;
pub mod drill;
pub mod dump;
pub mod forget;
pub mod init;
pub mod key;
pub mod ls;
pub mod notify;
pub mod pg;
pub mod pg_physical;
pub mod prune;
pub mod quickstart;
pub mod repair;
pub mod restore;
pub mod run;
pub mod schedule;
pub mod snapshots;
pub mod stats;
pub mod status;
pub mod tag;
pub mod unlock;
pub mod wal;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use bunker_repo::{Repository, SnapshotFilter, Storage, StorageOptions};

use crate::cli::{Cli, FilterArgs};

/// Settings every command shares, resolved from the command line and environment.
#[derive(Clone)]
pub struct Globals {
    pub repo: Option<String>,
    pub config: Option<PathBuf>,
    pub password_file: Option<PathBuf>,
    pub password_command: Option<String>,
    pub password_timeout: std::time::Duration,
    pub json: bool,
    pub quiet: bool,
    pub threads: usize,
    pub retry_lock: std::time::Duration,
    pub no_lock: bool,
    pub options: Vec<String>,
    pub s3_storage_class: Option<String>,
    pub append_only: bool,
    pub no_cache: bool,
}

impl From<&Cli> for Globals {
    fn from(c: &Cli) -> Self {
        Globals {
            repo: c.repo.clone(),
            config: c.config.clone(),
            password_file: c.password_file.clone(),
            password_command: c.password_command.clone(),
            password_timeout: c.password_timeout,
            json: c.json,
            quiet: c.quiet,
            threads: c.threads,
            retry_lock: c.retry_lock.unwrap_or_default(),
            no_lock: c.no_lock,
            options: c.options.clone(),
            s3_storage_class: c.s3_storage_class.clone(),
            append_only: c.append_only,
            no_cache: c.no_cache,
        }
    }
}

/// The command finished but not everything was done (unreadable files, damaged blobs).
#[derive(Debug)]
pub struct Partial(pub String);

impl std::fmt::Display for Partial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Partial {}

/// A job-level command failed with its own exit code (see the README's table).
#[derive(Debug)]
pub struct ExitWith(pub u8, pub String);

impl std::fmt::Display for ExitWith {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}

impl std::error::Error for ExitWith {}

impl Globals {
    pub fn location(&self) -> Result<String> {
        self.repo
            .clone()
            .context("no repository given: use -r/--repo or set BUNKER_REPOSITORY")
    }

    /// The storage options from `-o`, `--s3-storage-class` and `--append-only`.
    pub fn storage_options(&self) -> Result<StorageOptions> {
        let mut opts = StorageOptions::parse(self.options.iter().map(String::as_str))?
            .with_append_only(self.append_only);
        if let Some(class) = &self.s3_storage_class {
            opts.set("s3.storage-class", class);
        }
        Ok(opts)
    }

    /// Opens the storage of a repository location with these options.
    pub fn storage(&self, location: &str) -> Result<Storage> {
        Ok(Storage::open(location, &self.storage_options()?)?)
    }

    pub fn password(&self) -> Result<String> {
        crate::password::resolve(
            self.password_file.as_deref(),
            self.password_command.as_deref(),
            self.password_timeout,
        )
    }

    /// Opens the repository (index not loaded), with the local copy of a remote
    /// repository's index and snapshots unless `--no-cache`.
    pub fn open(&self) -> Result<Arc<Repository>> {
        self.open_locking(!self.no_cache)
    }

    /// Opens the repository reading every file from storage: for `check`, which must
    /// see what is stored, not a local copy.
    pub fn open_uncached(&self) -> Result<Arc<Repository>> {
        self.open_locking(false)
    }

    fn open_locking(&self, cached: bool) -> Result<Arc<Repository>> {
        let mut repo = self
            .open_with(None)?
            .with_lock_wait(self.retry_lock)
            .with_no_lock(self.no_lock);
        if cached {
            repo = repo.with_cache(&cache_dir().join("repos"));
        }
        Ok(Arc::new(repo))
    }

    /// Opens the repository with the master key cached on this machine (see the engine's
    /// key cache): for commands PostgreSQL runs once per WAL file.
    pub fn open_cached(&self) -> Result<Repository> {
        self.open_with(Some(&cache_dir().join("keys")))
    }

    fn open_with(&self, key_cache: Option<&std::path::Path>) -> Result<Repository> {
        let location = self.location()?;
        let storage = self.storage(&location)?;
        // Without a config there is no repository: say so before asking for a password.
        if !storage.config_exists()? {
            return Err(bunker_repo::Error::NoRepository { location }.into());
        }
        let password = self.password()?;
        Ok(Repository::open_with(storage, &password, key_cache)?)
    }

    /// The configuration file: `--config`, `BUNKER_CONFIG`, or the default path.
    pub fn config_path(&self) -> PathBuf {
        self.config
            .clone()
            .unwrap_or_else(bunker_jobs::config::default_config_path)
    }

    /// Reads and checks the configuration file.
    pub fn load_config(&self) -> Result<bunker_jobs::config::Config> {
        Ok(bunker_jobs::config::Config::load(&self.config_path())?)
    }

    /// The catalog in the configuration's state directory.
    pub fn catalog(&self, config: &bunker_jobs::config::Config) -> Result<bunker_catalog::Catalog> {
        let path = config.state_dir().join("catalog.sqlite");
        Ok(bunker_catalog::Catalog::open(&path)?)
    }

    pub fn say(&self, msg: impl AsRef<str>) {
        if !self.quiet && !self.json {
            println!("{}", msg.as_ref());
        }
    }
}

/// bunker's cache directory (see the jobs crate's rules).
pub fn cache_dir() -> PathBuf {
    bunker_jobs::config::default_cache_dir()
}

impl FilterArgs {
    pub fn to_filter(&self) -> SnapshotFilter {
        SnapshotFilter {
            hosts: self.hosts.clone(),
            tags: self.tags.clone(),
            paths: self.paths.clone(),
        }
    }
}
