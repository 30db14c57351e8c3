//! The shape of `bunker.toml`, and the checks that span more than one value.

use std::collections::BTreeMap;

use bunker_repo::{ReadData, RetentionDuration, RetentionPolicy};
use bunker_schedule::Zone;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::dashboard::{DashboardConfig, Quota, ReportConfig};
use super::http::HttpLimits;
use super::notify::NotifyConfig;
use super::when::When;
use crate::source::SourceConfig;
use crate::value::{argv, DaemonSecret, Secret, Span, Text};

/// A whole configuration file.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub daemon: DaemonConfig,
    #[serde(default)]
    pub repositories: BTreeMap<String, Spanned<RepositoryConfig>>,
    #[serde(default)]
    pub jobs: BTreeMap<String, Spanned<JobConfig>>,
    #[serde(default)]
    pub notify: BTreeMap<String, Spanned<NotifyConfig>>,
    /// Summaries the daemon sends on a schedule.
    #[serde(default)]
    pub reports: BTreeMap<String, Spanned<ReportConfig>>,
    /// Where the configuration was read from.
    #[serde(skip)]
    pub path: std::path::PathBuf,
}

/// `[daemon]`: where the daemon listens and keeps its state.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// Address of the HTTP endpoint (health, metrics, API): `HOST:PORT`.
    #[serde(default = "default_listen", deserialize_with = "listen_address")]
    pub listen: Text,
    /// Bearer token that `POST /api/v1/jobs/{name}/run` requires; without one, the
    /// endpoint is refused. Only the daemon resolves it (see [`DaemonSecret`]).
    pub api_token: Option<DaemonSecret>,
    /// Where the catalog lives (default: `$XDG_STATE_HOME/bunker`).
    pub state_dir: Option<Text>,
    /// Time zone of job schedules that do not name their own.
    #[serde(default)]
    pub timezone: Zone,
    /// Notification targets that hear about every job (besides each job's own).
    #[serde(default)]
    pub notify: Vec<Spanned<String>>,
    /// Bounds on the HTTP server's connections.
    #[serde(default)]
    pub http: HttpLimits,
    /// Who may see the web pages and act from them.
    #[serde(default)]
    pub dashboard: DashboardConfig,
}

fn default_listen() -> Text {
    Text::new("127.0.0.1:9477")
}

fn listen_address<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
    let listen = Text::deserialize(d)?;
    let port = listen
        .rsplit_once(':')
        .map(|(host, port)| (host, port.parse::<u16>()));
    match port {
        Some((host, Ok(_))) if !host.is_empty() => Ok(listen),
        _ => Err(serde::de::Error::custom(format!(
            "listen = {:?}: write HOST:PORT, e.g. 127.0.0.1:9477 or [::1]:9477",
            listen.0
        ))),
    }
}

impl DaemonConfig {
    /// The daemon's own secrets that could not be resolved (a variable missing from
    /// this environment), one line each: the daemon does not start with any.
    pub fn unresolved_secrets(&self) -> Vec<String> {
        [
            ("[daemon] api_token", self.api_token.as_ref()),
            (
                "[daemon.dashboard] password_hash",
                self.dashboard.password_hash.as_ref(),
            ),
        ]
        .into_iter()
        .filter_map(|(what, s)| Some(format!("{what}: {}", s?.resolve().err()?)))
        .collect()
    }
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            listen: default_listen(),
            api_token: None,
            state_dir: None,
            timezone: Zone::default(),
            notify: Vec::new(),
            http: HttpLimits::default(),
            dashboard: DashboardConfig::default(),
        }
    }
}

/// `[repositories.NAME]`: a repository location and how to open it.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryConfig {
    /// A location in restic's syntax (path, `s3:`, `gs:`, `azure:`, `sftp:`).
    pub url: Text,
    /// The password itself, `env:NAME`, or `${NAME}` inside a string.
    pub password: Option<Secret>,
    pub password_file: Option<Text>,
    pub password_command: Option<Text>,
    /// Storage options (`-o KEY=VALUE` on the command line), e.g. `s3.region`.
    #[serde(default)]
    pub options: BTreeMap<String, Text>,
    /// This machine may only add to the repository (see docs/storage.md).
    #[serde(default)]
    pub append_only: bool,
    /// The most the repository should hold; an incident opens at `quota_warning` and
    /// `quota_critical` percent of it (default 80 and 90).
    pub quota: Option<Quota>,
    pub quota_warning: Option<u8>,
    pub quota_critical: Option<u8>,
    /// How long a job run waits for another process's conflicting lock on the
    /// repository before its step fails (restic's `--retry-lock`; default
    /// [`LOCK_WAIT`]).
    pub lock_wait: Option<Span>,
}

/// How long a job run waits for a conflicting lock held by another process.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

impl RepositoryConfig {
    /// `lock_wait`, or [`LOCK_WAIT`].
    pub fn lock_wait(&self) -> std::time::Duration {
        self.lock_wait.map_or(LOCK_WAIT, |s| s.0)
    }
}

/// `[jobs.NAME]`: what to back up, where, when, how long to keep it and whom to tell.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobConfig {
    pub source: SourceConfig,
    pub repository: Spanned<String>,
    /// A cron expression (`0 2 * * *`), a macro (`@daily`) or `@every 30s`; without
    /// one the job runs only when asked.
    pub schedule: Option<When>,
    /// Time zone of `schedule`, `prune` and the verification schedules.
    pub timezone: Option<Zone>,
    /// Repositories each new snapshot is copied to.
    #[serde(default)]
    pub copies: Vec<Spanned<String>>,
    pub retention: Option<Retention>,
    /// When to prune the job's repositories after retention (default: never).
    pub prune: Option<When>,
    #[serde(default)]
    pub hooks: Hooks,
    pub verify: Option<Verify>,
    #[serde(default)]
    pub notify: Vec<Spanned<String>>,
    #[serde(default)]
    pub objectives: Objectives,
    #[serde(default)]
    pub alerts: AlertSettings,
    /// Tags on every snapshot of the job (besides `job=NAME`).
    #[serde(default)]
    pub tags: Vec<Text>,
    /// Free-form labels, carried into metrics and notifications.
    #[serde(default)]
    pub labels: BTreeMap<String, Text>,
    /// Host name recorded in snapshots (default: this machine's).
    pub host: Option<Text>,
}

/// The forget policy: restic's `--keep-*` options.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    pub keep_last: Option<u32>,
    pub keep_hourly: Option<u32>,
    pub keep_daily: Option<u32>,
    pub keep_weekly: Option<u32>,
    pub keep_monthly: Option<u32>,
    pub keep_yearly: Option<u32>,
    pub keep_within: Option<Spanned<String>>,
    pub keep_within_daily: Option<Spanned<String>>,
    pub keep_within_weekly: Option<Spanned<String>>,
    pub keep_within_monthly: Option<Spanned<String>>,
    pub keep_within_yearly: Option<Spanned<String>>,
    /// Snapshots with any of these tags are kept (besides the `forever` label).
    #[serde(default)]
    pub keep_tags: Vec<String>,
}

impl Retention {
    /// The engine's policy; the durations were checked by [`Config::validate`].
    pub fn policy(&self) -> RetentionPolicy {
        let within = |s: &Option<Spanned<String>>| -> RetentionDuration {
            s.as_ref()
                .and_then(|s| s.get_ref().parse().ok())
                .unwrap_or_default()
        };
        RetentionPolicy {
            keep_last: self.keep_last.unwrap_or(0),
            keep_hourly: self.keep_hourly.unwrap_or(0),
            keep_daily: self.keep_daily.unwrap_or(0),
            keep_weekly: self.keep_weekly.unwrap_or(0),
            keep_monthly: self.keep_monthly.unwrap_or(0),
            keep_yearly: self.keep_yearly.unwrap_or(0),
            keep_within: within(&self.keep_within),
            keep_within_hourly: RetentionDuration::default(),
            keep_within_daily: within(&self.keep_within_daily),
            keep_within_weekly: within(&self.keep_within_weekly),
            keep_within_monthly: within(&self.keep_within_monthly),
            keep_within_yearly: within(&self.keep_within_yearly),
            keep_tags: self.keep_tags.clone(),
        }
    }
}

/// Commands around a run. A failing `before` hook aborts the run.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Hooks {
    #[serde(default)]
    pub before: Vec<Hook>,
    #[serde(default)]
    pub after: Vec<Hook>,
    #[serde(default)]
    pub on_failure: Vec<Hook>,
}

/// One hook: a shell command line, or `{ command = [...], timeout = "5m" }`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Hook {
    Shell(Text),
    Full {
        command: Vec<Text>,
        #[serde(default = "default_hook_timeout")]
        timeout: Span,
    },
}

fn default_hook_timeout() -> Span {
    Span(std::time::Duration::from_secs(300))
}

/// Read by hand rather than `untagged`, which would replace every error inside a hook
/// (an empty command, a bad timeout) with "did not match any variant".
impl<'de> Deserialize<'de> for Hook {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Hook, D::Error> {
        use serde::de::{self, IntoDeserializer};

        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            #[serde(deserialize_with = "argv")]
            command: Vec<Text>,
            #[serde(default = "default_hook_timeout")]
            timeout: Span,
        }

        struct HookVisitor;
        impl<'de> de::Visitor<'de> for HookVisitor {
            type Value = Hook;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a shell command line or { command = [...], timeout = \"5m\" }")
            }

            fn visit_str<E: de::Error>(self, line: &str) -> Result<Hook, E> {
                Text::deserialize(line.into_deserializer()).map(Hook::Shell)
            }

            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Hook, A::Error> {
                let full = Full::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Hook::Full {
                    command: full.command,
                    timeout: full.timeout,
                })
            }
        }
        d.deserialize_any(HookVisitor)
    }
}

impl Hook {
    /// The program and its arguments (`sh -c LINE` for a shell line).
    pub fn argv(&self) -> Vec<String> {
        match self {
            Hook::Shell(line) => vec!["sh".into(), "-c".into(), line.0.clone()],
            Hook::Full { command, .. } => command.iter().map(|t| t.0.clone()).collect(),
        }
    }

    pub fn timeout(&self) -> std::time::Duration {
        match self {
            Hook::Shell(_) => default_hook_timeout().0,
            Hook::Full { timeout, .. } => timeout.0,
        }
    }
}

/// `[jobs.NAME.verify]`: scheduled checks and restore drills.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    /// When to run `check` on the job's repository.
    pub check: Option<When>,
    /// Which packs the check reads in full: `10%` or `n/m` (default: none).
    pub read_data_subset: Option<Spanned<String>>,
    /// When to restore the newest snapshot into a scratch target and check it.
    pub drill: Option<When>,
    /// Tables that must exist and have rows after a PostgreSQL drill.
    #[serde(default)]
    pub expect_tables: Vec<String>,
    /// `TABLE = N`: tables that must hold at least N rows.
    #[serde(default)]
    pub min_rows: BTreeMap<String, u64>,
    /// Queries that must return true in every drilled database.
    #[serde(default)]
    pub sql: Vec<String>,
}

impl Verify {
    pub fn read_data(&self) -> ReadData {
        self.read_data_subset
            .as_ref()
            .and_then(|s| s.get_ref().parse().ok())
            .unwrap_or_default()
    }
}

/// Recovery objectives the job must meet.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Objectives {
    /// Largest acceptable age of the newest restorable point.
    pub rpo: Option<Span>,
    /// Longest acceptable restore, as measured by the last drill.
    pub rto: Option<Span>,
}

/// When a run that did not fail is still worth an alert.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    /// How long after a scheduled time a successful run may still arrive before the
    /// job counts as late (default: a tenth of the schedule's interval, at least 10m).
    pub grace: Option<Span>,
    /// Allowed deviation of bytes added and total size from the median of recent
    /// runs, as a fraction (0.5 = ±50%).
    #[serde(default = "default_band")]
    pub size_band: f64,
    /// How many recent successful runs the median is taken over (at least 3).
    #[serde(default = "default_history", deserialize_with = "size_history")]
    pub size_history: usize,
    /// A successful run that took longer than this raises an alert.
    pub duration_max: Option<Span>,
}

fn default_band() -> f64 {
    0.5
}

fn default_history() -> usize {
    7
}

fn size_history<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let n = usize::deserialize(d)?;
    if n < 3 {
        return Err(serde::de::Error::custom(format!(
            "size_history = {n}: the median needs at least 3 runs"
        )));
    }
    Ok(n)
}

/// A name that is safe as a file name, in a URL path, as a metric label and on the
/// command line: letters, digits, `-`, `_` and `.`, starting with a letter or digit
/// (so never `.`, `..`, a hidden file or an option), at most 100 characters.
fn check_name(kind: &str, name: &str) -> Result<(), String> {
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if first_ok && rest_ok && name.len() <= 100 {
        return Ok(());
    }
    Err(format!(
        "{kind} name {name:?}: use up to 100 letters, digits, '-', '_' and '.', \
         starting with a letter or digit"
    ))
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            grace: None,
            size_band: default_band(),
            size_history: default_history(),
            duration_max: None,
        }
    }
}

impl JobConfig {
    /// The time zone of this job's schedules.
    pub fn zone(&self, daemon: &DaemonConfig) -> bunker_schedule::Tz {
        self.timezone.unwrap_or(daemon.timezone).0
    }

    /// Every repository the job writes to: its own first, then its copies.
    pub fn repositories(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.repository.get_ref().as_str())
            .chain(self.copies.iter().map(|c| c.get_ref().as_str()))
    }
}

impl Config {
    /// Cross-references and values whose meaning depends on others; errors carry the
    /// byte offset of the value at fault.
    pub(super) fn validate(&self) -> Result<(), (usize, String)> {
        let known = |names: Vec<&String>| {
            names
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let repo_exists = |r: &Spanned<String>| -> Result<(), (usize, String)> {
            if self.repositories.contains_key(r.get_ref()) {
                return Ok(());
            }
            Err((
                r.span().start,
                format!(
                    "no repository named {:?} (declared: {})",
                    r.get_ref(),
                    known(self.repositories.keys().collect())
                ),
            ))
        };
        let notify_exists = |n: &Spanned<String>| -> Result<(), (usize, String)> {
            if self.notify.contains_key(n.get_ref()) {
                return Ok(());
            }
            Err((
                n.span().start,
                format!(
                    "no notification target named {:?} (declared: {})",
                    n.get_ref(),
                    known(self.notify.keys().collect())
                ),
            ))
        };
        for (name, r) in &self.repositories {
            check_name("repository", name).map_err(|e| (r.span().start, e))?;
            let sources = [
                r.get_ref().password.is_some(),
                r.get_ref().password_file.is_some(),
                r.get_ref().password_command.is_some(),
            ];
            if sources.iter().filter(|b| **b).count() != 1 {
                return Err((
                    r.span().start,
                    format!(
                        "repository {name:?} needs exactly one of password, password_file \
                         or password_command"
                    ),
                ));
            }
        }
        for n in &self.daemon.notify {
            notify_exists(n)?;
        }
        for (name, spanned) in &self.repositories {
            let (at, r) = (spanned.span().start, spanned.get_ref());
            let warning = r.quota_warning.unwrap_or(super::dashboard::QUOTA_WARNING);
            let critical = r.quota_critical.unwrap_or(super::dashboard::QUOTA_CRITICAL);
            if r.quota.is_none() && (r.quota_warning.is_some() || r.quota_critical.is_some()) {
                return Err((
                    at,
                    format!("repository {name:?}: quota thresholds without a quota"),
                ));
            }
            if !(1..=100).contains(&warning) || !(1..=100).contains(&critical) || warning > critical
            {
                return Err((
                    at,
                    format!(
                        "repository {name:?}: quota_warning ({warning}) and quota_critical \
                         ({critical}) are percentages, the warning not above the critical"
                    ),
                ));
            }
        }
        for (name, r) in &self.reports {
            check_name("report", name).map_err(|e| (r.span().start, e))?;
            if r.get_ref().notify.is_empty() {
                return Err((
                    r.span().start,
                    format!("report {name:?}: notify names no target"),
                ));
            }
            for n in &r.get_ref().notify {
                notify_exists(n)?;
            }
        }
        if let Some(Ok(h)) = self
            .daemon
            .dashboard
            .password_hash
            .as_ref()
            .map(|h| h.resolve())
        {
            if !h.starts_with("$argon2") {
                return Err((
                    0,
                    "[daemon.dashboard] password_hash: not an argon2 hash; make one with \
                     `bunker dashboard hash-password`"
                        .into(),
                ));
            }
        }
        for (name, n) in &self.notify {
            check_name("notification target", name).map_err(|e| (n.span().start, e))?;
            n.get_ref()
                .check()
                .map_err(|e| (n.span().start, format!("notify {name:?}: {e}")))?;
        }
        for (name, j) in &self.jobs {
            let job = j.get_ref();
            check_name("job", name).map_err(|e| (j.span().start, e))?;
            repo_exists(&job.repository)?;
            for (i, c) in job.copies.iter().enumerate() {
                repo_exists(c)?;
                if c.get_ref() == job.repository.get_ref() {
                    return Err((
                        c.span().start,
                        "a job cannot copy to its own repository".into(),
                    ));
                }
                if job.copies[..i].iter().any(|o| o.get_ref() == c.get_ref()) {
                    return Err((c.span().start, format!("{:?} is listed twice", c.get_ref())));
                }
            }
            // Labels become Prometheus label names (`label_KEY`).
            if let Some(key) = job
                .labels
                .keys()
                .find(|k| k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            {
                return Err((
                    j.span().start,
                    format!("job {name:?}: label {key:?}: use letters, digits and '_'"),
                ));
            }
            for n in &job.notify {
                notify_exists(n)?;
            }
            if let Some(r) = &job.retention {
                for s in [
                    &r.keep_within,
                    &r.keep_within_daily,
                    &r.keep_within_weekly,
                    &r.keep_within_monthly,
                    &r.keep_within_yearly,
                ]
                .into_iter()
                .flatten()
                {
                    s.get_ref()
                        .parse::<RetentionDuration>()
                        .map_err(|e| (s.span().start, e))?;
                }
                if r.policy().is_empty() {
                    return Err((
                        j.span().start,
                        format!("job {name:?}: retention keeps nothing; give keep_* values"),
                    ));
                }
            }
            if let Some(v) = &job.verify {
                if let Some(s) = &v.read_data_subset {
                    s.get_ref()
                        .parse::<ReadData>()
                        .map_err(|e| (s.span().start, e))?;
                }
            }
            let band = job.alerts.size_band;
            if !(band > 0.0 && band.is_finite()) {
                return Err((
                    j.span().start,
                    format!("job {name:?}: alerts.size_band must be a positive fraction"),
                ));
            }
            job.source
                .source()
                .check()
                .map_err(|e| (j.span().start, format!("job {name:?}: {e}")))?;
        }
        Ok(())
    }
}

impl Config {
    /// The state directory: `[daemon] state_dir`, else the XDG default.
    pub fn state_dir(&self) -> std::path::PathBuf {
        match &self.daemon.state_dir {
            Some(d) => std::path::PathBuf::from(&d.0),
            None => super::paths::default_state_dir(),
        }
    }

    /// A job by name, with the names of the declared jobs when there is none.
    pub fn job(&self, name: &str) -> Result<&JobConfig, String> {
        self.jobs.get(name).map(|j| j.get_ref()).ok_or_else(|| {
            format!(
                "no job named {name:?} in {} (jobs: {})",
                self.path.display(),
                self.jobs.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    }

    /// The notification targets a job's events go to: the daemon-wide ones and its own.
    pub fn notifiers_of(&self, job: &JobConfig) -> Vec<bunker_notify::Notifier> {
        let mut names: Vec<&str> = self
            .daemon
            .notify
            .iter()
            .map(|n| n.get_ref().as_str())
            .collect();
        for n in &job.notify {
            if !names.contains(&n.get_ref().as_str()) {
                names.push(n.get_ref());
            }
        }
        names
            .into_iter()
            .filter_map(|n| self.notify.get(n).map(|c| c.get_ref().notifier(n)))
            .collect()
    }
}
