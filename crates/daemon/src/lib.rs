//! bunker's scheduler daemon: runs each job on its schedule (never two runs of one job
//! at once), catches up runs missed while it was down, watches for late backups and
//! breached objectives, and serves health, metrics and the job API over HTTP.

mod dashboard;
mod http;
mod metrics;
mod plan;
pub mod report;
mod state;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use bunker_catalog::{Catalog, Trigger};
use bunker_jobs::alerts::Alerter;
use bunker_jobs::config::Config;
use bunker_jobs::runner::{self, RunOptions};
use chrono::{DateTime, TimeDelta, Utc};
use tracing::{error, info, warn};

pub use dashboard::hash_password;
pub use plan::{due_now, missed, next_runs};
use state::{Command, Shared};

/// How often lateness and objectives are evaluated and the heartbeat written.
const EVALUATE_EVERY: Duration = Duration::from_secs(5);
/// How often every repository's storage is probed for the reachability metric.
const PROBE_EVERY: Duration = Duration::from_secs(300);

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] bunker_jobs::config::ConfigError),
    #[error("catalog: {0}")]
    Catalog(#[from] bunker_catalog::Error),
    #[error("cannot listen on {listen}: {reason}")]
    Listen { listen: String, reason: String },
    #[error("signal handling: {0}")]
    Signals(std::io::Error),
    #[error("{0}")]
    Secrets(String),
}

/// Fails when a secret only the daemon uses could not be resolved.
fn require_secrets(config: &Config) -> Result<(), Error> {
    let missing = config.daemon.unresolved_secrets();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::Secrets(missing.join("; ")))
    }
}

/// Runs the daemon until SIGTERM or SIGINT; SIGHUP reloads the configuration.
pub fn run(config_path: &Path) -> Result<(), Error> {
    let config = Config::load(config_path)?;
    require_secrets(&config)?;
    let catalog = Arc::new(Catalog::open(&config.state_dir().join("catalog.sqlite"))?);
    let now = Utc::now();
    let interrupted = catalog.mark_interrupted(now)?;
    if interrupted > 0 {
        warn!(
            runs = interrupted,
            "runs left unfinished by a previous process marked interrupted"
        );
    }
    let (tx, rx) = channel();
    let listen = config.daemon.listen.0.clone();
    let shared = Arc::new(Shared::new(config, catalog.clone(), tx.clone()));

    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])
    .map_err(Error::Signals)?;
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for sig in signals.forever() {
                let c = if sig == signal_hook::consts::SIGHUP {
                    Command::Reload
                } else {
                    Command::Stop
                };
                if tx.send(c).is_err() {
                    break;
                }
            }
        });
    }

    let limits = shared.config().daemon.http.clone();
    let server = http::HttpServer::start(&listen, &limits, http::router(shared.clone(), &limits))
        .map_err(|e| Error::Listen {
        listen: listen.clone(),
        reason: e.to_string(),
    })?;
    info!(listen = %server.local_addr(), config = %config_path.display(), "bunker daemon started");

    let heartbeat = catalog.daemon_heartbeat()?;
    let down = heartbeat
        .filter(|h| now - *h > TimeDelta::from_std(EVALUATE_EVERY * 3).unwrap_or_default())
        .map(|h| (h, now));
    if let Some((from, to)) = down {
        warn!(from = %from.to_rfc3339(), to = %to.to_rfc3339(), "the daemon was not running");
    }
    evaluate(&shared, now, down);
    catalog.set_daemon_heartbeat(now)?;
    for job in missed(&shared.config(), &catalog, now) {
        info!(job = %job, "catching up a run missed while the daemon was down");
        start(&shared, &job, Trigger::CatchUp, false);
    }
    spawn_probe(&shared);
    spawn_outbox(&shared);

    let mut next = next_runs(&shared.config(), now);
    let mut reports = report::next_reports(&shared.config(), now);
    let mut last_eval = std::time::Instant::now();
    let mut last_probe = std::time::Instant::now();
    let mut stopping = false;
    loop {
        let now = Utc::now();
        let wait = next
            .values()
            .min()
            .map(|t| (*t - now).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(EVALUATE_EVERY)
            .min(EVALUATE_EVERY.saturating_sub(last_eval.elapsed()))
            .max(Duration::from_millis(10));
        match rx.recv_timeout(wait) {
            Ok(Command::Run(job, trigger, verify)) if !stopping => {
                start(&shared, &job, trigger, verify)
            }
            Ok(Command::Run(..)) => {}
            Ok(Command::Finished(job)) => {
                shared.release(&job);
                if stopping && shared.running_jobs().is_empty() {
                    break;
                }
            }
            Ok(Command::Reload) => match Config::load(config_path)
                .map_err(Error::from)
                .and_then(|c| require_secrets(&c).map(|()| c))
            {
                Ok(c) => {
                    info!(jobs = c.jobs.len(), "configuration reloaded");
                    shared.set_config(c);
                    next = next_runs(&shared.config(), Utc::now());
                    reports = report::next_reports(&shared.config(), Utc::now());
                }
                Err(e) => {
                    error!(error = %e, "configuration not reloaded; keeping the previous one")
                }
            },
            Ok(Command::Stop) if stopping => {
                warn!(running = %shared.running_jobs().join(", "), "second stop signal: exiting without waiting");
                break;
            }
            Ok(Command::Stop) => {
                stopping = true;
                let running = shared.running_jobs();
                if running.is_empty() {
                    break;
                }
                info!(running = %running.join(", "), "stopping: waiting for running jobs to finish");
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if stopping {
            continue;
        }
        let now = Utc::now();
        for job in due_now(&next, now) {
            if shared.is_running(&job) {
                warn!(job = %job, "scheduled run skipped: the previous run is still going");
            } else {
                start(&shared, &job, Trigger::Schedule, false);
            }
        }
        let config = shared.config();
        for (job, t) in next_runs(&config, now) {
            let entry = next.entry(job).or_insert(t);
            if *entry <= now {
                *entry = t;
            }
        }
        next.retain(|j, _| config.jobs.contains_key(j));
        for (name, at) in reports.iter_mut() {
            if *at <= now {
                spawn_report(&shared, name, *at);
                *at = report::next_report(&config, name, now).unwrap_or(DateTime::<Utc>::MAX_UTC);
            }
        }
        if last_eval.elapsed() >= EVALUATE_EVERY {
            last_eval = std::time::Instant::now();
            evaluate(&shared, now, None);
            spawn_archive_watch(&shared);
            spawn_outbox(&shared);
            if let Err(e) = catalog.set_daemon_heartbeat(now) {
                warn!(error = %e, "heartbeat not recorded");
            }
        }
        if last_probe.elapsed() >= PROBE_EVERY {
            last_probe = std::time::Instant::now();
            spawn_probe(&shared);
        }
    }
    server.stop();
    let _ = catalog.set_daemon_heartbeat(Utc::now());
    info!("bunker daemon stopped");
    Ok(())
}

fn evaluate(shared: &Shared, now: DateTime<Utc>, down: Option<(DateTime<Utc>, DateTime<Utc>)>) {
    let config = shared.config();
    let alerter = Alerter {
        config: &config,
        catalog: &shared.catalog,
    };
    alerter.evaluate(now, down);
}

/// Asks the servers of physical PostgreSQL jobs how their WAL archiving goes, on a
/// thread of its own (a server that does not answer must not hold up the schedule),
/// one watch at a time; failing or lagging archiving is an incident.
fn spawn_archive_watch(shared: &Arc<Shared>) {
    static WATCHING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if WATCHING.swap(true, std::sync::atomic::Ordering::AcqRel) {
        return;
    }
    let shared = shared.clone();
    std::thread::spawn(move || {
        let config = shared.config();
        Alerter {
            config: &config,
            catalog: &shared.catalog,
        }
        .evaluate_archive();
        WATCHING.store(false, std::sync::atomic::Ordering::Release);
    });
}

/// Starts a run on its own thread unless the job is already running.
fn start(shared: &Arc<Shared>, job: &str, trigger: Trigger, verify_now: bool) {
    if !shared.config().jobs.contains_key(job) {
        warn!(job = %job, "no such job");
        return;
    }
    if !shared.claim(job) {
        warn!(job = %job, "run not started: the job is already running");
        return;
    }
    let shared = shared.clone();
    let job = job.to_string();
    std::thread::spawn(move || {
        let config = shared.config();
        let alerter = Alerter {
            config: &config,
            catalog: &shared.catalog,
        };
        info!(job = %job, trigger = trigger.as_str(), "run started");
        let opts = RunOptions {
            trigger,
            verify_now,
            prune_now: false,
            extra_tags: Vec::new(),
            progress: Default::default(),
        };
        match runner::run_job(&config, &shared.catalog, &job, &opts, &|j| {
            alerter.started(j);
        }) {
            Ok(report) => {
                for r in &report.reach {
                    shared.set_reachable(&r.repository, r.error.is_none());
                }
                if let Some(r) = config.repositories.get(&report.repository) {
                    measure(&shared, &report.repository, r.get_ref());
                }
                if let Some(e) = &report.error {
                    error!(job = %job, run = report.run_id, step = report.failed_step.map_or("-", |s| s.as_str()), error = %e, "run failed");
                } else {
                    info!(job = %job, run = report.run_id, snapshot = report.snapshot.as_deref().unwrap_or("-"), seconds = report.duration_seconds(), bytes_added = report.bytes_added, "run succeeded");
                }
                alerter.finished(&report);
            }
            Err(e) => warn!(job = %job, error = %e, "run refused"),
        }
        shared.send(Command::Finished(job));
    });
}

/// Sends the notifications that are due for another try, on a thread of its own (a
/// receiver that times out must not hold up the schedule); one pass at a time.
fn spawn_outbox(shared: &Arc<Shared>) {
    if !shared.start_outbox_pass() {
        return;
    }
    let shared = shared.clone();
    std::thread::spawn(move || {
        let config = shared.config();
        Alerter {
            config: &config,
            catalog: &shared.catalog,
        }
        .deliver_pending(Utc::now());
        shared.end_outbox_pass();
    });
}

/// Builds report `name` (due at `due`) and hands it to its targets through the outbox,
/// on a thread of its own: reading every repository's size can take a while.
fn spawn_report(shared: &Arc<Shared>, name: &str, due: DateTime<Utc>) {
    let shared = shared.clone();
    let name = name.to_string();
    std::thread::spawn(move || {
        let config = shared.config();
        let Some(cfg) = config.reports.get(&name).map(|r| r.get_ref()) else {
            return;
        };
        let (event, targets) = report::event(&config, &shared.catalog, &name, cfg, due);
        let sent = Alerter {
            config: &config,
            catalog: &shared.catalog,
        }
        .notify_named(&targets, &event);
        info!(report = %name, targets = sent.len(), "report sent");
    });
}

/// Probes every repository's storage on a thread of its own (a slow store must not
/// hold up the schedule), measuring what each stores, and raises or clears the quota
/// incidents of those with a quota.
fn spawn_probe(shared: &Arc<Shared>) {
    let shared = shared.clone();
    std::thread::spawn(move || {
        let config = shared.config();
        let mut sizes = std::collections::BTreeMap::new();
        for (name, r) in &config.repositories {
            if let (Some(size), Some(_)) = (measure(&shared, name, r.get_ref()), r.get_ref().quota)
            {
                sizes.insert(name.clone(), size);
            }
        }
        Alerter {
            config: &config,
            catalog: &shared.catalog,
        }
        .evaluate_quota(&sizes);
    });
}

/// Whether repository `name` answers and what it stores (the sum of its objects' sizes),
/// recorded for the metrics; `None` when it could not be measured.
fn measure(shared: &Shared, name: &str, r: &bunker_jobs::config::RepositoryConfig) -> Option<u64> {
    let up = runner::storage_options(r)
        .and_then(|o| bunker_repo::Storage::open(&r.url, &o))
        .is_ok_and(|s| s.config_exists().unwrap_or(false));
    shared.set_reachable(name, up);
    if !up {
        return None;
    }
    match bunker_jobs::quota::stored(r) {
        Ok(stored) => {
            let size = stored.bytes;
            shared.set_stored(name, stored);
            Some(size)
        }
        Err(e) => {
            warn!(repository = %name, error = %e, "size not measured");
            None
        }
    }
}

/// The default configuration path, for the command line.
pub fn default_config() -> PathBuf {
    bunker_jobs::config::default_config_path()
}
