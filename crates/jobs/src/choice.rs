//! Which snapshot a restore or a drill takes: an id, the newest, or a random one of a
//! recent window, always among the snapshots a filter selects (a job's, or every
//! PostgreSQL backup) and never a safety snapshot.

use bunker_repo::{Repository, Snapshot, SnapshotFilter};
use chrono::Local;

use crate::error::{Error, Result};

/// The tag of the safety snapshot `pg restore --replace` takes of the database it
/// replaces. Such a snapshot holds what was there before the restore (possibly the
/// damaged data the restore is meant to undo), so it is never "latest" and never drilled
/// at random; name it by id to use it.
pub const SAFETY_TAG: &str = "pre-restore";

/// How to choose the snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    /// An id or a unique prefix of one.
    Id(String),
    /// The newest one.
    Latest,
    /// Any one, at random, of those younger than `within` (all of them without).
    Random { within: Option<std::time::Duration> },
}

impl Choice {
    /// `latest` or an id, as the commands take it.
    pub fn from_spec(spec: &str) -> Choice {
        if spec == "latest" {
            Choice::Latest
        } else {
            Choice::Id(spec.to_string())
        }
    }
}

/// Chooses one snapshot among those `filter` selects. `Latest` and `Random` skip safety
/// snapshots, and refuse while any snapshot file is unreadable (a damaged one may be the
/// newest: see [`Repository::find_snapshot`]). `what` names the selection in the error
/// when it is empty ("snapshot of job db", "PostgreSQL backup").
pub fn choose(
    repo: &Repository,
    choice: &Choice,
    filter: &SnapshotFilter,
    what: &str,
) -> Result<Snapshot> {
    let within = match choice {
        Choice::Id(id) => return Ok(repo.find_snapshot(id, filter)?),
        Choice::Latest => None,
        Choice::Random { within } => *within,
    };
    let (all, damaged) = repo.load_snapshots()?;
    if !damaged.is_empty() {
        return Err(bunker_repo::Error::LatestUnknown {
            damaged: damaged.iter().map(ToString::to_string).collect(),
        }
        .into());
    }
    let mut candidates: Vec<Snapshot> = all
        .into_iter()
        .filter(|s| filter.matches(s) && !s.tags.iter().any(|t| t == SAFETY_TAG))
        .collect();
    if candidates.is_empty() {
        return Err(Error::NoSnapshot {
            what: what.to_string(),
        });
    }
    if *choice == Choice::Latest {
        return Ok(candidates.pop().expect("not empty"));
    }
    if let Some(window) = within {
        let since = chrono::Duration::from_std(window)
            .ok()
            .and_then(|w| Local::now().fixed_offset().checked_sub_signed(w));
        if let Some(since) = since {
            candidates.retain(|s| s.time >= since);
        }
        if candidates.is_empty() {
            return Err(Error::NoneWithin {
                what: what.to_string(),
                within: humanize(window),
            });
        }
    }
    let i = rand::random::<usize>() % candidates.len();
    Ok(candidates.swap_remove(i))
}

fn humanize(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    match ms {
        ms if ms % 86_400_000 == 0 && ms > 0 => format!("{}d", ms / 86_400_000),
        ms if ms % 3_600_000 == 0 && ms > 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 && ms > 0 => format!("{}m", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_and_windows() {
        assert_eq!(Choice::from_spec("latest"), Choice::Latest);
        assert_eq!(Choice::from_spec("ab12"), Choice::Id("ab12".into()));
        assert_eq!(humanize(std::time::Duration::from_secs(30 * 86_400)), "30d");
        assert_eq!(humanize(std::time::Duration::from_secs(90)), "90s");
        assert_eq!(humanize(std::time::Duration::from_millis(1500)), "1500ms");
    }
}
