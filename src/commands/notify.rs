//! `notify test [NAME...]`: sends a test message so that a target is known to work
//! before the first real alert needs it. `notify pending`: what the outbox still holds.

use anyhow::{bail, Result};
use bunker_jobs::exit;
use bunker_notify::{Event, EventKind};

use super::{ExitWith, Globals};
use crate::cli::{NotifyCommand, NotifyTestArgs};

pub fn run(g: &Globals, c: NotifyCommand) -> Result<()> {
    match c {
        NotifyCommand::Test(a) => test(g, a),
        NotifyCommand::Pending => pending(g),
    }
}

fn pending(g: &Globals) -> Result<()> {
    let config = g.load_config()?;
    let waiting = g.catalog(&config)?.pending_notifications()?;
    if g.json {
        println!("{}", serde_json::to_string(&waiting)?);
        return Ok(());
    }
    if waiting.is_empty() {
        g.say("no notifications waiting");
        return Ok(());
    }
    let time = |t: chrono::DateTime<chrono::Utc>| {
        t.with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    let rows: Vec<Vec<String>> = waiting
        .iter()
        .map(|o| {
            vec![
                o.id.to_string(),
                o.notifier.clone(),
                o.job.clone(),
                o.kind.clone(),
                time(o.created),
                o.attempts.to_string(),
                time(o.next_attempt),
                o.last_error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    crate::output::table(
        &[
            "Id",
            "Target",
            "Job",
            "Event",
            "Created",
            "Tries",
            "Next try",
            "Last error",
        ],
        &rows,
    );
    Ok(())
}

fn test(g: &Globals, a: NotifyTestArgs) -> Result<()> {
    let config = g.load_config()?;
    let names: Vec<String> = if a.targets.is_empty() {
        config.notify.keys().cloned().collect()
    } else {
        a.targets.clone()
    };
    if names.is_empty() {
        bail!("no notification targets in {}", config.path.display());
    }
    let mut failed = 0;
    for name in &names {
        let Some(target) = config.notify.get(name) else {
            return Err(ExitWith(
                exit::USAGE,
                format!("no notification target named {name:?}"),
            )
            .into());
        };
        let notifier = target.get_ref().notifier(name);
        let event = Event {
            kind: EventKind::Test,
            job: "-".into(),
            title: format!("test message from bunker on {}", bunker_repo::hostname()),
            detail: format!("Sent by `bunker notify test` to target {name}."),
            time: chrono::Utc::now(),
            host: bunker_repo::hostname(),
            incident: None,
            fields: Default::default(),
            html: None,
        };
        match notifier.send(&event) {
            Ok(()) => g.say(format!("{name}: sent")),
            Err(e) => {
                eprintln!("bunker: {name}: {e}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        let targets = if names.len() == 1 {
            "target"
        } else {
            "targets"
        };
        bail!("{failed} of {} notification {targets} failed", names.len());
    }
    Ok(())
}
