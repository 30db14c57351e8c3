//! The repositories as the pages see them: opened from the configuration, with their
//! index loaded, kept for a little while so that browsing a tree does not reopen the
//! repository at every click; and their statistics, which read every tree, kept longer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bunker_jobs::config::Config;
use bunker_jobs::runner;
use bunker_repo::{RepoStats, Repository, Snapshot, StatsMode};

/// How long an opened repository is reused (new snapshots show after at most this).
const OPEN_FOR: Duration = Duration::from_secs(20);
/// How long statistics are reused.
const STATS_FOR: Duration = Duration::from_secs(300);

#[derive(Default)]
pub struct Repositories {
    open: Mutex<HashMap<String, (Instant, Arc<Repository>)>>,
    stats: Mutex<HashMap<String, (Instant, Arc<RepoStats>)>>,
}

impl Repositories {
    /// Repository `name` of the configuration, opened with its index loaded.
    pub fn open(&self, config: &Config, name: &str) -> Result<Arc<Repository>, String> {
        if let Some((at, r)) = self.open.lock().expect("open").get(name) {
            if at.elapsed() < OPEN_FOR {
                return Ok(r.clone());
            }
        }
        let cfg = config
            .repositories
            .get(name)
            .ok_or_else(|| format!("no repository named {name:?}"))?;
        let repo =
            runner::open_repository(cfg.get_ref()).map_err(|e| format!("{name}: {}", e.error))?;
        repo.load_index().map_err(|e| format!("{name}: {e}"))?;
        self.open
            .lock()
            .expect("open")
            .insert(name.to_string(), (Instant::now(), repo.clone()));
        Ok(repo)
    }

    /// The repository's snapshots, newest first.
    pub fn snapshots(&self, config: &Config, name: &str) -> Result<Vec<Snapshot>, String> {
        let repo = self.open(config, name)?;
        let mut snaps = repo.snapshots().map_err(|e| format!("{name}: {e}"))?;
        snaps.reverse();
        Ok(snaps)
    }

    /// Sizes, deduplication and compression of every snapshot of the repository.
    pub fn stats(&self, config: &Config, name: &str) -> Result<Arc<RepoStats>, String> {
        if let Some((at, s)) = self.stats.lock().expect("stats").get(name) {
            if at.elapsed() < STATS_FOR {
                return Ok(s.clone());
            }
        }
        let repo = self.open(config, name)?;
        let snaps = repo.snapshots().map_err(|e| format!("{name}: {e}"))?;
        let s = Arc::new(
            bunker_repo::stats(&repo, &snaps, StatsMode::RawData)
                .map_err(|e| format!("{name}: {e}"))?,
        );
        self.stats
            .lock()
            .expect("stats")
            .insert(name.to_string(), (Instant::now(), s.clone()));
        Ok(s)
    }
}
