//! `notify test [NAME...]`: sends a test message so that a target is known to work
//! before the first real alert needs it.

use anyhow::{bail, Result};
use bunker_notify::{Event, EventKind};

use super::{ExitWith, Globals};
use crate::cli::{NotifyCommand, NotifyTestArgs};

pub fn run(g: &Globals, c: NotifyCommand) -> Result<()> {
    match c {
        NotifyCommand::Test(a) => test(g, a),
    }
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
            return Err(ExitWith(2, format!("no notification target named {name:?}")).into());
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
        bail!("{failed} of {} notification targets failed", names.len());
    }
    Ok(())
}
