//! One run of a job: hooks → backup → copies → retention (and prune when due) →
//! verification when due → record. Every step is recorded in the catalog and the audit
//! log; what failed decides the exit code.

mod backup;
mod gate;
mod hooks;
mod lock;
mod repository;
mod upkeep;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bunker_catalog::{AuditEvent, Catalog, DrillRecord, Outcome, RunResult, Trigger};
use bunker_repo::{BackupProgress, Repository};
use chrono::{DateTime, Utc};
use serde::Serialize;

pub use backup::job_tag;
pub use lock::JobLock;
pub use repository::{open as open_repository, password, storage_options, OpenError};
pub use upkeep::{job_filter, run_drill};

use crate::choice::Choice;
use crate::config::{Config, JobConfig, When};
use crate::drill::DrillReport;
use crate::exit;

/// The step a run failed in; each has its own exit code (documented in the README).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    BeforeHook,
    Repository,
    Backup,
    Copy,
    Retention,
    Prune,
    Check,
    Drill,
    AfterHook,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::BeforeHook => "before hook",
            Step::Repository => "repository",
            Step::Backup => "backup",
            Step::Copy => "copy",
            Step::Retention => "retention",
            Step::Prune => "prune",
            Step::Check => "check",
            Step::Drill => "drill",
            Step::AfterHook => "after hook",
        }
    }

    /// 20 hook, 21 backup, 22 copy, 23 retention or prune, 24 check or drill; a
    /// repository that cannot be opened keeps the repository codes (10, 11, 12) and
    /// otherwise counts as a backup failure.
    pub fn exit_code(self) -> u8 {
        match self {
            Step::BeforeHook | Step::AfterHook => exit::HOOK,
            Step::Repository | Step::Backup => exit::BACKUP,
            Step::Copy => exit::COPY,
            Step::Retention | Step::Prune => exit::RETENTION,
            Step::Check | Step::Drill => exit::VERIFICATION,
        }
    }
}

/// Where a run stands: the step it is in and the backup's counters, for a progress
/// display.
#[derive(Debug, Default)]
pub struct RunProgress {
    step: std::sync::Mutex<Option<Step>>,
    pub backup: BackupProgress,
}

impl RunProgress {
    pub fn step(&self) -> Option<Step> {
        *self.step.lock().expect("step")
    }

    fn enter(&self, step: Step) {
        *self.step.lock().expect("step") = Some(step);
    }
}

/// How a run was asked for.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub trigger: Trigger,
    /// Check and drill now, whatever their schedules say.
    pub verify_now: bool,
    /// Prune now, whatever the prune schedule says.
    pub prune_now: bool,
    /// Tags for this run's snapshot besides the job's (`run --label NAME` gives
    /// `NAME` and `forever`).
    pub extra_tags: Vec<String>,
    /// Filled in as the run goes (one run at a time shares it).
    pub progress: Arc<RunProgress>,
}

/// A repository the run tried to reach, and whether it could.
#[derive(Clone, Debug, Serialize)]
pub struct Reach {
    pub repository: String,
    pub error: Option<String>,
}

/// Everything a run did, for the record, the notifications and the command's output.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub job: String,
    pub run_id: i64,
    pub repository: String,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    pub outcome: Outcome,
    pub failed_step: Option<Step>,
    pub error: Option<String>,
    pub snapshot: Option<String>,
    pub bytes_read: u64,
    pub bytes_added: u64,
    pub files: u64,
    pub total_size: Option<u64>,
    pub snapshot_count: Option<u64>,
    pub copies: Vec<(String, String)>,
    pub forgotten: usize,
    pub pruned_packs: Option<usize>,
    pub check: Option<String>,
    pub drill: Option<DrillRecord>,
    pub reach: Vec<Reach>,
    pub warnings: Vec<String>,
    /// An exit code of 10–12 from opening the repository, if that is what failed.
    #[serde(skip)]
    pub(crate) repo_code: Option<u8>,
}

impl RunReport {
    pub fn duration_seconds(&self) -> f64 {
        (self.finished - self.started).num_milliseconds() as f64 / 1000.0
    }

    /// 0 when the run succeeded, 3 when files were unreadable, else the failed step's.
    pub fn exit_code(&self) -> u8 {
        match (self.outcome, self.failed_step) {
            (Outcome::Success, _) => exit::SUCCESS,
            (Outcome::Partial, _) => exit::PARTIAL,
            (_, Some(Step::Repository)) => self.repo_code.unwrap_or(exit::BACKUP),
            (_, Some(step)) => step.exit_code(),
            _ => exit::FAILURE,
        }
    }
}

/// Why a run did not start.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{0}")]
    NoSuchJob(String),
    #[error("job {0} is already running (another run holds its lock)")]
    AlreadyRunning(String),
    #[error("{0}")]
    State(String),
}

impl Refused {
    /// 2 for an unknown job, 25 when the job is already running, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Refused::NoSuchJob(_) => exit::USAGE,
            Refused::AlreadyRunning(_) => exit::ALREADY_RUNNING,
            Refused::State(_) => exit::FAILURE,
        }
    }
}

/// The catalog's record of a drill of job `name` whose report is stored as `report_id`.
pub fn drill_record(name: &str, report_id: String, report: &DrillReport) -> DrillRecord {
    DrillRecord {
        job: name.to_string(),
        report_id,
        snapshot: report.snapshot.clone(),
        started: report.started.with_timezone(&Utc),
        finished: report.finished.with_timezone(&Utc),
        passed: report.passed,
        restore_seconds: report.restore_seconds,
        data_age_seconds: report.data_age_seconds,
        detail: report.failures().join("; "),
    }
}

/// Whether something scheduled by `when` is due: a scheduled time has passed since it
/// was last done (or, never done, since the job was first seen).
pub fn due(
    when: &When,
    zone: bunker_schedule::Tz,
    last_done: Option<DateTime<Utc>>,
    first_seen: DateTime<Utc>,
    now: DateTime<Utc>,
) -> bool {
    let since = last_done.unwrap_or(first_seen);
    when.last_at_or_before(now, zone).is_some_and(|t| t > since)
}

/// Runs a job once. `started` is called once the run holds its lock (notifications of
/// a run's start go there).
pub fn run_job(
    config: &Config,
    catalog: &Catalog,
    name: &str,
    opts: &RunOptions,
    started: &dyn Fn(&str),
) -> Result<RunReport, Refused> {
    let job = config.job(name).map_err(Refused::NoSuchJob)?;
    let state_dir = config.state_dir();
    let _lock = JobLock::try_acquire(&state_dir, name)
        .map_err(|e| Refused::State(format!("job lock in {}: {e}", state_dir.display())))?
        .ok_or_else(|| Refused::AlreadyRunning(name.to_string()))?;
    let now = Utc::now();
    let state = |e: bunker_catalog::Error| Refused::State(e.to_string());
    let first_seen = catalog.first_seen(name, now).map_err(state)?;
    let run_id = catalog
        .start_run(name, opts.trigger, job.repository.get_ref(), now)
        .map_err(state)?;
    started(name);
    let mut run = Run {
        config,
        catalog,
        name,
        job,
        first_seen,
        report: RunReport {
            job: name.to_string(),
            run_id,
            repository: job.repository.get_ref().clone(),
            started: now,
            finished: now,
            outcome: Outcome::Success,
            failed_step: None,
            error: None,
            snapshot: None,
            bytes_read: 0,
            bytes_added: 0,
            files: 0,
            total_size: None,
            snapshot_count: None,
            copies: Vec::new(),
            forgotten: 0,
            pruned_packs: None,
            check: None,
            drill: None,
            reach: Vec::new(),
            warnings: Vec::new(),
            repo_code: None,
        },
    };
    if let Err((step, e)) = run.steps(opts) {
        run.fail(step, e);
    }
    let mut report = run.report;
    report.finished = Utc::now();
    let result = RunResult {
        outcome: report.outcome,
        finished: report.finished,
        failed_step: report.failed_step.map(|s| s.as_str().to_string()),
        error: report.error.clone(),
        snapshot: report.snapshot.clone(),
        bytes_read: report.bytes_read,
        bytes_added: report.bytes_added,
        files: report.files,
        total_size: report.total_size,
        snapshot_count: report.snapshot_count,
    };
    if let Err(e) = catalog.finish_run(run_id, &result) {
        report.warnings.push(format!("recording the run: {e}"));
    }
    Ok(report)
}

/// What identifies a repository to this process's gates (two names for one location
/// share a gate).
fn location(repo: &Repository) -> &str {
    repo.storage().location()
}

struct Run<'a> {
    config: &'a Config,
    catalog: &'a Catalog,
    name: &'a str,
    job: &'a JobConfig,
    first_seen: DateTime<Utc>,
    report: RunReport,
}

type StepResult<T> = Result<T, (Step, String)>;

impl Run<'_> {
    fn hook_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("BUNKER_JOB", self.name.to_string()),
            ("BUNKER_RUN_ID", self.report.run_id.to_string()),
        ];
        if let Some(s) = &self.report.snapshot {
            env.push(("BUNKER_SNAPSHOT", s.clone()));
        }
        if let Some(e) = &self.report.error {
            env.push(("BUNKER_ERROR", e.clone()));
        }
        if let Some(s) = self.report.failed_step {
            env.push(("BUNKER_FAILED_STEP", s.as_str().to_string()));
        }
        env
    }

    fn fail(&mut self, step: Step, error: String) {
        if self.report.failed_step.is_none() {
            self.report.failed_step = Some(step);
            self.report.error = Some(error);
        } else {
            self.report
                .warnings
                .push(format!("{}: {error}", step.as_str()));
        }
        self.report.outcome = Outcome::Failure;
        let env = self.hook_env();
        if let Err(e) = hooks::run_hooks(&self.job.hooks.on_failure, "on_failure hook", &env) {
            self.report.warnings.push(e);
        }
    }

    fn audit(
        &mut self,
        repo: &Repository,
        repo_name: &str,
        action: &str,
        detail: serde_json::Value,
    ) {
        let e = AuditEvent::new(action, repo_name, Some(self.name), detail);
        if let Err(err) = self.catalog.record_audit(&e) {
            self.report.warnings.push(format!("audit log: {err}"));
        }
        if let Err(err) = bunker_catalog::audit::append_to_repository(repo, &e) {
            self.report
                .warnings
                .push(format!("audit log in {repo_name}: {err}"));
        }
    }

    fn open(&mut self, repo_name: &str) -> Result<Arc<Repository>, String> {
        let cfg = self.config.repositories[repo_name].get_ref();
        match repository::open_waiting(cfg, cfg.lock_wait()) {
            Ok(r) => {
                self.report.reach.push(Reach {
                    repository: repo_name.to_string(),
                    error: None,
                });
                Ok(r)
            }
            Err(e) => {
                let msg = format!("repository {repo_name}: {}", e.error);
                if e.unreachable {
                    self.report.reach.push(Reach {
                        repository: repo_name.to_string(),
                        error: Some(msg.clone()),
                    });
                }
                if repo_name == self.job.repository.get_ref() {
                    let code = exit::of_repo(&e.error);
                    self.report.repo_code = (code != exit::FAILURE).then_some(code);
                }
                Err(msg)
            }
        }
    }

    fn mark_due(&self, what: &str, when: Option<&When>, forced: bool) -> bool {
        if forced {
            return true;
        }
        let Some(when) = when else { return false };
        let key = format!("{what}:{}", self.name);
        let last = self.catalog.mark(&key).ok().flatten();
        due(
            when,
            self.job.zone(&self.config.daemon),
            last,
            self.first_seen,
            Utc::now(),
        )
    }

    fn set_mark(&mut self, what: &str) {
        let key = format!("{what}:{}", self.name);
        if let Err(e) = self.catalog.set_mark(&key, Utc::now()) {
            self.report.warnings.push(format!("recording {what}: {e}"));
        }
    }

    fn steps(&mut self, opts: &RunOptions) -> StepResult<()> {
        let live = &opts.progress;
        let env = self.hook_env();
        live.enter(Step::BeforeHook);
        hooks::run_hooks(&self.job.hooks.before, "before hook", &env)
            .map_err(|e| (Step::BeforeHook, e))?;
        let primary_name = self.job.repository.get_ref().clone();
        live.enter(Step::Repository);
        let primary = self
            .open(&primary_name)
            .map_err(|e| (Step::Repository, e))?;

        let progress = &live.backup;
        let turn = gate::shared(&[location(&primary)]);
        live.enter(Step::Backup);
        let made = backup::run(
            self.name,
            self.job,
            &opts.extra_tags,
            primary.clone(),
            progress,
        )
        .map_err(|e| (Step::Backup, e))?;
        drop(turn);
        let snap = made.result.snapshot.clone();
        let summary = snap.summary.clone().unwrap_or_default();
        self.report.snapshot = Some(snap.id.to_hex());
        self.report.bytes_read = progress
            .bytes
            .load(Ordering::Relaxed)
            .max(summary.total_bytes_processed);
        self.report.bytes_added = summary.data_added;
        self.report.files = summary.total_files_processed;
        self.report.total_size = Some(summary.total_bytes_processed);
        if !made.warnings.is_empty() {
            self.report.outcome = Outcome::Partial;
            self.report.warnings.extend(made.warnings.iter().cloned());
        }
        self.audit(
            &primary,
            &primary_name,
            "backup",
            serde_json::json!({"snapshot": snap.id.to_hex(), "data_added": summary.data_added, "files": summary.total_files_processed}),
        );

        let mut opened = vec![(primary_name.clone(), primary.clone())];
        let mut copy_error = None;
        for c in &self.job.copies {
            live.enter(Step::Copy);
            let c = c.get_ref().clone();
            let dst = match self.open(&c) {
                Ok(d) => d,
                Err(e) => {
                    copy_error.get_or_insert(e);
                    continue;
                }
            };
            let turn = gate::shared(&[location(&primary), location(&dst)]);
            let copied = upkeep::copy_snapshot(&primary, dst.clone(), &snap);
            drop(turn);
            match copied {
                Ok(id) => {
                    let id = id.unwrap_or_else(|| "already there".into());
                    self.audit(
                        &dst,
                        &c,
                        "copy",
                        serde_json::json!({"snapshot": snap.id.to_hex(), "copy": id}),
                    );
                    self.report.copies.push((c.clone(), id));
                    opened.push((c, dst));
                }
                Err(e) => {
                    copy_error.get_or_insert(format!("copy to {c}: {e}"));
                }
            }
        }

        if self.job.retention.is_some() {
            live.enter(Step::Retention);
            for (repo_name, repo) in &opened {
                let turn = gate::exclusive(location(repo));
                let removed = upkeep::apply_retention(self.name, self.job, repo)
                    .map_err(|e| (Step::Retention, format!("{repo_name}: {e}")))?;
                drop(turn);
                self.report.forgotten += removed;
                if removed > 0 {
                    self.audit(
                        repo,
                        repo_name,
                        "forget",
                        serde_json::json!({"removed": removed}),
                    );
                }
            }
        }
        self.report.snapshot_count = upkeep::count_snapshots(self.name, &primary).ok();

        if self.mark_due("prune", self.job.prune.as_ref(), opts.prune_now) {
            live.enter(Step::Prune);
            let mut packs = 0;
            for (repo_name, repo) in &opened {
                let turn = gate::exclusive(location(repo));
                packs += upkeep::run_prune(repo)
                    .map_err(|e| (Step::Prune, format!("{repo_name}: {e}")))?;
                drop(turn);
                self.audit(
                    repo,
                    repo_name,
                    "prune",
                    serde_json::json!({"packs_deleted": packs}),
                );
            }
            self.report.pruned_packs = Some(packs);
            self.set_mark("prune");
        }

        if let Some(e) = copy_error {
            return Err((Step::Copy, e));
        }
        self.verify(opts, &primary_name, &primary)?;

        let env = self.hook_env();
        live.enter(Step::AfterHook);
        hooks::run_hooks(&self.job.hooks.after, "after hook", &env)
            .map_err(|e| (Step::AfterHook, e))?;
        Ok(())
    }

    fn verify(
        &mut self,
        opts: &RunOptions,
        repo_name: &str,
        repo: &Arc<Repository>,
    ) -> StepResult<()> {
        let Some(verify) = &self.job.verify else {
            return Ok(());
        };
        if self.mark_due("check", verify.check.as_ref(), opts.verify_now) {
            opts.progress.enter(Step::Check);
            let turn = gate::shared(&[location(repo)]);
            let result = upkeep::run_check(repo, verify);
            drop(turn);
            self.set_mark("check");
            self.audit(
                repo,
                repo_name,
                "check",
                serde_json::json!({"ok": result.is_ok()}),
            );
            self.report.check = Some(match &result {
                Ok(s) => s.clone(),
                Err(e) => e.clone(),
            });
            result.map_err(|e| (Step::Check, e))?;
        }
        if self.mark_due("drill", verify.drill.as_ref(), opts.verify_now) {
            opts.progress.enter(Step::Drill);
            let scratch = self.config.state_dir().join("drills");
            let turn = gate::shared(&[location(repo)]);
            let report = upkeep::run_drill(self.name, self.job, repo, &scratch, &Choice::Latest);
            drop(turn);
            self.set_mark("drill");
            let (report_id, report) = report.map_err(|e| (Step::Drill, e))?;
            let record = drill_record(self.name, report_id, &report);
            if let Err(e) = self.catalog.record_drill(&record) {
                self.report
                    .warnings
                    .push(format!("recording the drill: {e}"));
            }
            self.audit(repo, repo_name, "drill", serde_json::json!({"snapshot": report.snapshot, "passed": report.passed, "restore_seconds": report.restore_seconds}));
            self.report.drill = Some(record);
            if !report.passed {
                return Err((
                    Step::Drill,
                    format!("drill failed: {}", report.failures().join("; ")),
                ));
            }
        }
        Ok(())
    }
}
