//! Planning a recovery: which system, which base backup, and whether the archive can
//! reach the target; and what the target means to PostgreSQL.

use bunker_repo::Repository;

use super::Target;
use crate::error::{Error, Result};
use crate::postgres::wal_archive;
use crate::postgres::window::{BaseBackup, Reach};

impl Target {
    pub(super) fn describe(&self) -> String {
        match self {
            Target::Time(t) => format!("time {}", t.to_rfc3339()),
            Target::Lsn(l) => format!("LSN {l}"),
            Target::Xid(x) => format!("transaction {x}"),
            Target::Name(n) => format!("restore point {n:?}"),
            Target::Immediate => "the end of the base backup".into(),
            Target::Latest => "the end of the archive".into(),
        }
    }

    pub(super) fn settings(&self) -> Vec<(&'static str, String)> {
        let one = |k: &'static str, v: String| vec![(k, v)];
        let mut s = match self {
            Target::Time(t) => one(
                "recovery_target_time",
                t.format("%Y-%m-%d %H:%M:%S%.6f%:z").to_string(),
            ),
            Target::Lsn(l) => one("recovery_target_lsn", l.to_string()),
            Target::Xid(x) => one("recovery_target_xid", x.clone()),
            Target::Name(n) => one("recovery_target_name", n.clone()),
            Target::Immediate => one("recovery_target", "immediate".into()),
            Target::Latest => Vec::new(),
        };
        if !matches!(self, Target::Latest) {
            s.push(("recovery_target_action", "promote".into()));
        }
        s
    }
}

pub(super) fn window_text(base: &BaseBackup, r: &Reach) -> String {
    let end_time = r
        .end_time
        .map(|t| format!(" ({})", t.format("%Y-%m-%d %H:%M:%S%:z")))
        .unwrap_or_default();
    format!(
        "from {} ({}) to {}{}",
        base.meta.stop_lsn,
        base.meta.finished.format("%Y-%m-%d %H:%M:%S%:z"),
        r.end_lsn,
        end_time
    )
}

pub(super) fn pick_system(
    repo: &Repository,
    bases: &[BaseBackup],
    given: Option<&str>,
) -> Result<String> {
    if let Some(s) = given {
        return Ok(s.to_string());
    }
    let mut systems: Vec<String> = bases
        .iter()
        .map(|b| b.meta.system_identifier.clone())
        .collect();
    systems.extend(wal_archive::systems(repo)?);
    systems.sort();
    systems.dedup();
    match systems.len() {
        0 => Err(Error::NoBaseBackup),
        1 => Ok(systems.remove(0)),
        _ => Err(Error::SeveralSystems(systems)),
    }
}

/// The newest usable base backup that ends before the target.
pub(super) fn choose<'a>(
    candidates: &'a [(&'a BaseBackup, Reach)],
    target: &Target,
    tli: Option<u32>,
) -> Result<(&'a BaseBackup, Reach)> {
    let along = match tli {
        Some(t) => format!("along timeline {t}"),
        None => "along the base backups' timelines".to_string(),
    };
    let fits = |b: &BaseBackup| match target {
        Target::Time(t) => b.meta.finished <= *t,
        Target::Lsn(l) => b.meta.stop_lsn <= *l,
        _ => true,
    };
    if let Some((b, r)) = candidates.iter().rev().find(|(b, _)| fits(b)) {
        return Ok((b, r.clone()));
    }
    match candidates.first() {
        Some((oldest, r)) => Err(Error::BeforeWindow {
            target: target.describe(),
            window: window_text(oldest, r),
            along,
        }),
        None => Err(Error::NoRecoverableBase { along }),
    }
}

/// Refuses targets past the archive's end, naming the window and any gap.
pub(super) fn check_target(base: &BaseBackup, r: &Reach, target: &Target) -> Result<()> {
    let beyond = match target {
        Target::Lsn(l) => *l > r.end_lsn && r.streaming.is_none(),
        Target::Time(t) => r.streaming.is_none() && r.end_time.is_some_and(|end| *t > end),
        _ => false,
    };
    if !beyond {
        return Ok(());
    }
    let why = match &r.gap {
        Some(g) => format!(
            "segments {} to {} are missing from the archive",
            g.first, g.last
        ),
        None => "the archive ends there".to_string(),
    };
    Err(Error::PastWindow {
        target: target.describe(),
        window: window_text(base, r),
        why,
    })
}
