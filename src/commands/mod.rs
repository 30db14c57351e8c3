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
pub mod report;
pub mod restore;
pub mod run;
pub mod schedule;
pub mod snapshots;
pub mod stats;
pub mod status;
pub mod tag;
pub mod unlock;
pub mod wal;
pub mod watch;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use bunker_repo::{Repository, SnapshotFilter, Storage, StorageOptions};

use crate::cli::{Cli, FilterArgs, PgConnArgs};
use crate::configured::Configured;

/// Settings every command shares, resolved from the command line and environment.
#[derive(Clone)]
pub struct Globals {
    pub repo: Option<String>,
    /// What `-r NAME` or `--job NAME` named in the configuration file.
    pub configured: Option<Arc<Configured>>,
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
    /// The password once read: a prompt or a password command runs once per process.
    pub password_read: Arc<std::sync::OnceLock<String>>,
}

impl From<&Cli> for Globals {
    fn from(c: &Cli) -> Self {
        Globals {
            repo: c.repo.clone(),
            configured: None,
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
            password_read: Default::default(),
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
    /// Resolves `-r NAME` and `--job NAME` through the configuration file (see
    /// [`Configured`]).
    pub fn resolve(mut self, job: Option<&str>) -> Result<Globals> {
        let default = bunker_jobs::config::default_config_path();
        let explicit = self.config.clone();
        self.configured =
            Configured::resolve(self.repo.as_deref(), job, explicit.as_deref(), &default)?
                .map(Arc::new);
        Ok(self)
    }

    /// The repository of the configuration to open, if `-r` or `--job` named one.
    fn configured_repository(&self) -> Option<(&str, &bunker_jobs::config::RepositoryConfig)> {
        self.configured.as_deref().and_then(Configured::repository)
    }

    /// The job named by `--job`.
    pub fn job(&self) -> Option<(&str, &bunker_jobs::config::JobConfig)> {
        self.configured.as_deref().and_then(Configured::job)
    }

    pub fn location(&self) -> Result<String> {
        if let Some((_, cfg)) = self.configured_repository() {
            return Ok(cfg.url.0.clone());
        }
        self.repo.clone().context(
            "no repository given: use -r/--repo (a location or a repository of the \
             configuration), --job or BUNKER_REPOSITORY",
        )
    }

    /// The storage options: the configured repository's, then `-o`,
    /// `--s3-storage-class` and `--append-only`.
    pub fn storage_options(&self) -> Result<StorageOptions> {
        let mut pairs: Vec<String> = Vec::new();
        let mut append_only = self.append_only;
        if let Some((_, cfg)) = self.configured_repository() {
            pairs.extend(cfg.options.iter().map(|(k, v)| format!("{k}={}", v.0)));
            append_only |= cfg.append_only;
        }
        pairs.extend(self.options.iter().cloned());
        let mut opts =
            StorageOptions::parse(pairs.iter().map(String::as_str))?.with_append_only(append_only);
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
        if let Some(p) = self.password_read.get() {
            return Ok(p.clone());
        }
        let p = match self.configured_repository() {
            Some((name, cfg)) => Configured::password(cfg, name)?,
            None => crate::password::resolve(
                self.password_file.as_deref(),
                self.password_command.as_deref(),
                self.password_timeout,
            )?,
        };
        Ok(self.password_read.get_or_init(|| p).clone())
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

impl Globals {
    /// The snapshots a command selects: the filters given, and with `--job` only the
    /// job's (so that `latest` is the job's newest).
    pub fn filter(&self, f: &FilterArgs) -> SnapshotFilter {
        let mut filter = f.to_filter();
        if let Some((name, _)) = self.job() {
            filter.tags = with_job_tag(&filter.tags, name);
        }
        filter
    }

    /// The PostgreSQL server: `--dsn`/`--pg-bin` (or their variables), else the job's.
    pub fn pg_server(&self, c: &PgConnArgs) -> bunker_sources::postgres::Server {
        let job = self.job().and_then(|(_, j)| j.postgres());
        let dsn = match (&c.dsn, job) {
            (Some(d), _) => d.as_str(),
            (None, Some(j)) => j.dsn,
            (None, None) => "",
        };
        let pg_bin = match (&c.pg_bin, job.and_then(|j| j.pg_bin)) {
            (Some(b), _) => Some(b.clone()),
            (None, Some(b)) => Some(PathBuf::from(b)),
            (None, None) => None,
        };
        bunker_sources::postgres::Server::new(dsn, pg_bin.as_deref())
    }
}

/// Tag sets with the job's tag added to each (a snapshot must match the job and the
/// set).
pub fn with_job_tag(sets: &[String], job: &str) -> Vec<String> {
    let tag = bunker_jobs::runner::job_tag(job);
    if sets.is_empty() {
        return vec![tag];
    }
    sets.iter().map(|s| format!("{s},{tag}")).collect()
}
