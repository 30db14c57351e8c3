//! `schedule export JOB --systemd | --cron | --kubernetes`.

use anyhow::{bail, Context, Result};
use bunker_jobs::config::{referenced_variables, When};
use bunker_jobs::exit;
use bunker_schedule::export::{self, Unit};
use bunker_schedule::Schedule;

use super::{ExitWith, Globals};
use crate::cli::{ScheduleCommand, ScheduleExportArgs};

/// Where the CronJob's container sees the configuration (its ConfigMap).
const K8S_CONFIG_DIR: &str = "/etc/bunker";
const K8S_CONFIG_FILE: &str = "bunker.toml";

pub fn run(g: &Globals, c: ScheduleCommand) -> Result<()> {
    match c {
        ScheduleCommand::Export(a) => export_job(g, a),
    }
}

fn export_job(g: &Globals, a: ScheduleExportArgs) -> Result<()> {
    let config = g.load_config()?;
    let job = config.job(&a.job).map_err(|e| ExitWith(exit::USAGE, e))?;
    let cron = match &job.schedule {
        Some(When::Cron(c)) => c.clone(),
        Some(When::Every(_)) => bail!(
            "job {}: @every schedules run only in bunker's daemon; give a cron expression to export",
            a.job
        ),
        None => bail!("job {} has no schedule", a.job),
    };
    let schedule = Schedule::new(cron, job.zone(&config.daemon));
    let program = match a.program {
        Some(p) => p,
        // In the image, bunker is on the PATH; elsewhere, this very binary.
        None if a.kubernetes => "bunker".to_string(),
        None => std::env::current_exe()
            .context("finding this program's path")?
            .display()
            .to_string(),
    };
    let config_path = if a.kubernetes {
        format!("{K8S_CONFIG_DIR}/{K8S_CONFIG_FILE}")
    } else {
        std::fs::canonicalize(&config.path)
            .unwrap_or(config.path.clone())
            .display()
            .to_string()
    };
    let args = vec![
        "--config".to_string(),
        config_path,
        "run".to_string(),
        a.job.clone(),
    ];
    let unit = Unit {
        job: &a.job,
        schedule: &schedule,
        program: &program,
        args: &args,
        image: &a.image,
        environment_file: Some(&a.environment_file),
    };
    if a.systemd {
        let (service, timer) = export::systemd(&unit).map_err(anyhow::Error::msg)?;
        println!(
            "# bunker-{}.service\n{service}\n# bunker-{}.timer\n{timer}",
            a.job, a.job
        );
    } else if a.cron {
        print!("{}", export::crontab(&unit));
    } else {
        let text = std::fs::read_to_string(&config.path)
            .with_context(|| format!("reading {}", config.path.display()))?;
        let variables = referenced_variables(&text);
        let mounts = export::Mounts {
            file: K8S_CONFIG_FILE,
            text: &text,
            dir: K8S_CONFIG_DIR,
            variables: &variables,
        };
        print!("{}", export::kubernetes_bundle(&unit, &mounts));
    }
    Ok(())
}
