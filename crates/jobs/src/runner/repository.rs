//! Opening a configured repository: storage options, password source, local cache.

use std::sync::Arc;

use bunker_repo::{Repository, Storage, StorageOptions};

use crate::config::{default_cache_dir, RepositoryConfig};

/// Why a repository could not be opened; `unreachable` when its storage did not answer
/// (the repository-unreachable alert), as opposed to a wrong password or no repository.
#[derive(Debug)]
pub struct OpenError {
    pub error: bunker_repo::Error,
    pub unreachable: bool,
}

/// The password of a repository from its one configured source.
pub fn password(cfg: &RepositoryConfig) -> Result<String, String> {
    if let Some(p) = &cfg.password {
        return Ok(p.expose().to_string());
    }
    if let Some(f) = &cfg.password_file {
        let s = std::fs::read_to_string(&f.0)
            .map_err(|e| format!("reading password file {}: {e}", f.0))?;
        return Ok(s.lines().next().unwrap_or("").to_string());
    }
    if let Some(c) = &cfg.password_command {
        return crate::password_command::run(&c.0, crate::password_command::DEFAULT_TIMEOUT)
            .map_err(|e| e.to_string());
    }
    Err("no password source".into())
}

/// The storage options of a repository (`options` and `append_only`).
pub fn storage_options(cfg: &RepositoryConfig) -> bunker_repo::Result<StorageOptions> {
    let pairs: Vec<String> = cfg
        .options
        .iter()
        .map(|(k, v)| format!("{k}={}", v.0))
        .collect();
    Ok(StorageOptions::parse(pairs.iter().map(String::as_str))?.with_append_only(cfg.append_only))
}

/// Opens a repository with the local cache of remote index and snapshot files.
pub fn open(cfg: &RepositoryConfig) -> Result<Arc<Repository>, OpenError> {
    open_waiting(cfg, std::time::Duration::ZERO)
}

/// [`open`], for a job run: its locks wait up to `lock_wait` for a conflicting lock
/// of another process to go away.
pub fn open_waiting(
    cfg: &RepositoryConfig,
    lock_wait: std::time::Duration,
) -> Result<Arc<Repository>, OpenError> {
    let plain = |error: bunker_repo::Error| OpenError {
        error,
        unreachable: false,
    };
    let storage_error = |error: bunker_repo::Error| {
        let unreachable = matches!(error, bunker_repo::Error::Storage { .. });
        OpenError { error, unreachable }
    };
    let opts = storage_options(cfg).map_err(plain)?;
    let storage = Storage::open(&cfg.url, &opts).map_err(storage_error)?;
    if !storage.config_exists().map_err(storage_error)? {
        return Err(plain(bunker_repo::Error::NoRepository {
            location: cfg.url.0.clone(),
        }));
    }
    let pw = password(cfg).map_err(|e| plain(bunker_repo::Error::Invalid(e)))?;
    let repo = Repository::open_with(storage, &pw, None).map_err(storage_error)?;
    Ok(Arc::new(
        repo.with_cache(&default_cache_dir().join("repos"))
            .with_lock_wait(lock_wait),
    ))
}
