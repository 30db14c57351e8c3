//! What the scheduler loop, the run threads and the HTTP endpoint share.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, RwLock};

use bunker_catalog::{Catalog, Trigger};
use bunker_jobs::config::Config;
use bunker_jobs::status::{self, JobStatus};
use chrono::Utc;

/// A request to the scheduler loop.
#[derive(Debug)]
pub enum Command {
    /// Run a job; `true` forces its check and drill (the dashboard's "drill now").
    Run(String, Trigger, bool),
    Finished(String),
    Reload,
    Stop,
}

pub struct Shared {
    config: RwLock<Arc<Config>>,
    pub catalog: Arc<Catalog>,
    running: Mutex<BTreeSet<String>>,
    reachable: Mutex<BTreeMap<String, bool>>,
    /// What each repository stores (and its WAL archive), as last measured.
    stored: Mutex<BTreeMap<String, bunker_jobs::quota::Stored>>,
    tx: Mutex<Sender<Command>>,
    /// A pass over the outbox is going.
    outbox_busy: AtomicBool,
    /// The web pages' sessions and open repositories.
    pub dashboard: crate::dashboard::Dashboard,
}

impl Shared {
    pub fn new(config: Config, catalog: Arc<Catalog>, tx: Sender<Command>) -> Shared {
        Shared {
            config: RwLock::new(Arc::new(config)),
            catalog,
            running: Mutex::default(),
            reachable: Mutex::default(),
            stored: Mutex::default(),
            tx: Mutex::new(tx),
            outbox_busy: AtomicBool::new(false),
            dashboard: crate::dashboard::Dashboard::default(),
        }
    }

    /// The configuration in force (a reload swaps it; runs keep the one they began with).
    pub fn config(&self) -> Arc<Config> {
        self.config.read().expect("config lock").clone()
    }

    pub fn set_config(&self, c: Config) {
        *self.config.write().expect("config lock") = Arc::new(c);
    }

    pub fn running_jobs(&self) -> Vec<String> {
        self.running
            .lock()
            .expect("running")
            .iter()
            .cloned()
            .collect()
    }

    pub fn is_running(&self, job: &str) -> bool {
        self.running.lock().expect("running").contains(job)
    }

    /// Marks a job running; false when it already was.
    pub fn claim(&self, job: &str) -> bool {
        self.running
            .lock()
            .expect("running")
            .insert(job.to_string())
    }

    pub fn release(&self, job: &str) {
        self.running.lock().expect("running").remove(job);
    }

    /// Starts a pass over the outbox; false when one is going already.
    pub fn start_outbox_pass(&self) -> bool {
        !self.outbox_busy.swap(true, Ordering::AcqRel)
    }

    pub fn end_outbox_pass(&self) {
        self.outbox_busy.store(false, Ordering::Release);
    }

    pub fn set_reachable(&self, repo: &str, up: bool) {
        self.reachable
            .lock()
            .expect("reachable")
            .insert(repo.to_string(), up);
    }

    pub fn set_stored(&self, repo: &str, stored: bunker_jobs::quota::Stored) {
        self.stored
            .lock()
            .expect("stored")
            .insert(repo.to_string(), stored);
    }

    /// Each measured repository's stored bytes.
    fn sizes(&self) -> BTreeMap<String, u64> {
        self.stored
            .lock()
            .expect("stored")
            .iter()
            .map(|(k, v)| (k.clone(), v.bytes))
            .collect()
    }

    pub fn send(&self, c: Command) {
        let _ = self.tx.lock().expect("tx").send(c);
    }

    pub fn request_run(&self, job: &str) {
        self.request(job, false);
    }

    /// Asks the scheduler for a run of `job` now, with its check and drill if `verify`.
    pub fn request(&self, job: &str, verify: bool) {
        self.send(Command::Run(job.to_string(), Trigger::Api, verify));
    }

    pub fn status(&self) -> Vec<JobStatus> {
        let running = self.running_jobs();
        let sizes = self.sizes();
        let mut jobs = status::jobs(&self.config(), &self.catalog, Utc::now(), &sizes);
        for j in &mut jobs {
            if running.contains(&j.job) {
                j.labels
                    .entry("running".into())
                    .or_insert_with(|| "true".into());
            }
        }
        jobs
    }

    pub fn metrics(&self) -> String {
        let stored = self.stored.lock().expect("stored").clone();
        let sizes = self.sizes();
        let jobs = status::jobs(&self.config(), &self.catalog, Utc::now(), &sizes);
        let running = self.running_jobs();
        let reachable = self.reachable.lock().expect("reachable").clone();
        let config = self.config();
        let quotas = config
            .repositories
            .iter()
            .filter_map(|(name, r)| Some((name.clone(), r.get_ref().quota?.0)))
            .collect();
        crate::metrics::render(
            &jobs,
            &crate::metrics::Live {
                running: &running,
                reachable: &reachable,
                stored: &stored,
                quotas: &quotas,
            },
        )
    }
}
