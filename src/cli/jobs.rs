//! Arguments of the job-level commands that read `bunker.toml`.

use clap::{Args, Subcommand};

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Read and check the configuration; errors name file, line and column (exit 2)
    Check,
    /// Print the configuration as bunker understands it, secrets redacted
    Show,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Jobs to run, one after the other
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub jobs: Vec<String>,
    /// Run every job of the configuration
    #[arg(long)]
    pub all: bool,
    /// Check the repository and drill now, whatever the verify schedules say
    #[arg(long)]
    pub verify: bool,
    /// Prune now, whatever the prune schedule says
    #[arg(long)]
    pub prune: bool,
    /// Do not send notifications
    #[arg(long)]
    pub no_notify: bool,
    /// Tag the run's snapshot NAME and "forever": no retention policy ever removes it
    /// (e.g. --label pre-migration before a risky change)
    #[arg(long, value_name = "NAME")]
    pub label: Option<String>,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Only these jobs
    pub jobs: Vec<String>,
    /// Monitoring-plugin mode: one line per problem (late, RPO, failing, quota, open
    /// alerts); exit 0 ok, 1 warning, 2 critical, 3 unknown (the configuration or the
    /// catalog could not be read)
    #[arg(long)]
    pub check: bool,
}

#[derive(Subcommand, Debug)]
pub enum ScheduleCommand {
    /// Print a job's schedule for another scheduler: a systemd service and timer, a
    /// crontab line, or a Kubernetes CronJob that runs `bunker run JOB`
    Export(ScheduleExportArgs),
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("format").required(true).args(["systemd", "cron", "kubernetes"])))]
pub struct ScheduleExportArgs {
    pub job: String,
    #[arg(long)]
    pub systemd: bool,
    #[arg(long)]
    pub cron: bool,
    #[arg(long)]
    pub kubernetes: bool,
    /// Container image of the Kubernetes CronJob
    #[arg(long, default_value = "bunker:latest")]
    pub image: String,
    /// Path of the bunker binary in the units (default: this one)
    #[arg(long)]
    pub program: Option<String>,
    /// The systemd service's EnvironmentFile= (NAME=value lines for the variables the
    /// configuration refers to; the service runs without the file)
    #[arg(long, default_value = "/etc/bunker/bunker.env")]
    pub environment_file: String,
}

#[derive(Subcommand, Debug)]
pub enum CatalogCommand {
    /// Reconstruct the catalog (runs, drills, audit log) from the repositories
    Rebuild,
    /// Recent runs, newest first
    Runs(CatalogRunsArgs),
    /// The audit log: backups, restores, forgets, prunes and key changes
    Audit(CatalogAuditArgs),
}

#[derive(Args, Debug)]
pub struct CatalogRunsArgs {
    /// Only this job
    #[arg(long)]
    pub job: Option<String>,
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

#[derive(Args, Debug)]
pub struct CatalogAuditArgs {
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

#[derive(Subcommand, Debug)]
pub enum NotifyCommand {
    /// Send a test message to notification targets (all when none is named)
    Test(NotifyTestArgs),
    /// Notifications not delivered yet: their target, tries, next try and last error
    Pending,
}

#[derive(Args, Debug)]
pub struct NotifyTestArgs {
    pub targets: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum DashboardCommand {
    /// Print the argon2 hash of a password (read from standard input) for
    /// `[daemon.dashboard] password_hash`
    HashPassword,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The period the report covers, back from now
    #[arg(long, value_parser = super::parse_duration, default_value = "7d")]
    pub since: std::time::Duration,
    /// text, html or json (--json is the same as --format json)
    #[arg(long, value_enum, default_value = "text")]
    pub format: ReportFormat,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    Text,
    Html,
    Json,
}
