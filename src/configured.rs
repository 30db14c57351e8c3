//! `-r NAME` and `--job NAME`: a repository or a job of the configuration file named on
//! the command line, so that its location, password, options and server are never
//! typed twice.
//!
//! The rule: a `-r` value without `/` or `:` that the configuration declares under
//! `[repositories]` is that repository; anything else is a location (write `./NAME` for
//! a directory that has a configured name). The configuration is `--config`,
//! `BUNKER_CONFIG`, or the default file when it exists; `--job` needs one.

use std::path::Path;

use anyhow::{Context, Result};
use bunker_jobs::config::{may_be_repository_name, Config, JobConfig, RepositoryConfig};
use bunker_jobs::exit;

use crate::commands::ExitWith;

/// What the command line named in the configuration.
pub struct Configured {
    pub config: Config,
    /// The repository to open: the one `-r` named, else the job's (None: `-r` gave a
    /// location).
    pub repository: Option<String>,
    pub job: Option<String>,
}

impl Configured {
    /// Resolves `-r` and `--job`; None when neither names anything of a configuration.
    /// `explicit` is the `--config`/`BUNKER_CONFIG` file, `default` the default path.
    pub fn resolve(
        repo: Option<&str>,
        job: Option<&str>,
        explicit: Option<&Path>,
        default: &Path,
    ) -> Result<Option<Configured>> {
        let named = repo.filter(|r| may_be_repository_name(r));
        if job.is_none() && named.is_none() {
            return Ok(None);
        }
        let path = match explicit {
            Some(p) => p,
            None if default.exists() => default,
            None if job.is_some() => {
                return Err(ExitWith(
                    exit::USAGE,
                    format!(
                        "--job needs the configuration file: none at {} (use --config)",
                        default.display()
                    ),
                )
                .into())
            }
            None => return Ok(None),
        };
        let config = Config::load(path)?;
        let repository = named
            .filter(|n| config.repositories.contains_key(*n))
            .map(String::from);
        if let Some(j) = job {
            let job_config = config.job(j).map_err(|e| ExitWith(exit::USAGE, e))?;
            let repository = match (repo, repository) {
                (_, Some(r)) => Some(r),
                (Some(_), None) => None,
                (None, None) => Some(job_config.repository.get_ref().clone()),
            };
            return Ok(Some(Configured {
                config,
                repository,
                job: Some(j.to_string()),
            }));
        }
        Ok(repository.map(|r| Configured {
            config,
            repository: Some(r),
            job: None,
        }))
    }

    /// The repository's settings, when the configuration names the one to open.
    pub fn repository(&self) -> Option<(&str, &RepositoryConfig)> {
        let name = self.repository.as_deref()?;
        let cfg = self.config.repository(name).ok()?;
        Some((name, cfg))
    }

    /// The job named by `--job`.
    pub fn job(&self) -> Option<(&str, &JobConfig)> {
        let name = self.job.as_deref()?;
        Some((name, self.config.job(name).ok()?))
    }

    /// The password of the configured repository.
    pub fn password(cfg: &RepositoryConfig, name: &str) -> Result<String> {
        bunker_jobs::runner::password(cfg)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("repository {name}"))
    }
}
