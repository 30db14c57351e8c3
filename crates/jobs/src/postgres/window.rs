//! What the archive can recover: base backups, the timelines' histories, and the walk
//! over the segments a restore would replay, which finds the recoverable window's end
//! and the gaps in it.

use std::collections::BTreeMap;
use std::time::SystemTime;

use bunker_repo::{Repository, Snapshot, SnapshotFilter};
use bunker_sources::postgres::wal::{parse_history, segment_name, Lsn};
use chrono::{DateTime, FixedOffset, Local};
use serde::Serialize;

use super::basebackup::{BaseMeta, BASE_META_KEY, BASE_TAG};
use super::wal_archive::{self, segment_end, Listing};
use crate::error::{Error, Result};

/// A base backup snapshot with its record.
#[derive(Clone, Debug)]
pub struct BaseBackup {
    pub snapshot: Snapshot,
    pub meta: BaseMeta,
}

/// Every base backup in the repository, oldest first.
pub fn base_backups(repo: &Repository) -> Result<Vec<BaseBackup>> {
    let filter = SnapshotFilter {
        tags: vec![BASE_TAG.to_string()],
        ..Default::default()
    };
    let mut out = Vec::new();
    for s in repo.snapshots()? {
        if !filter.matches(&s) {
            continue;
        }
        let Some(m) = s.extra.get(BASE_META_KEY) else {
            continue;
        };
        let meta: BaseMeta =
            serde_json::from_value(m.clone()).map_err(|e| Error::UnreadableRecord {
                snapshot: s.short_id(),
                what: "base backup",
                reason: e.to_string(),
            })?;
        out.push(BaseBackup { snapshot: s, meta });
    }
    out.sort_by_key(|b| b.meta.finished);
    Ok(out)
}

/// One timeline of a chain: it holds positions from `begin` up to `end` (exclusive;
/// `None` for the newest).
#[derive(Clone, Debug, Serialize)]
pub struct ChainLink {
    pub tli: u32,
    pub begin: Lsn,
    pub end: Option<Lsn>,
}

/// The timelines leading to `tli`, oldest first, from its history file.
pub fn chain(
    repo: &Repository,
    system_id: &str,
    tli: u32,
    seg_size: u64,
) -> Result<Vec<ChainLink>> {
    if tli == 1 {
        return Ok(vec![ChainLink {
            tli: 1,
            begin: Lsn(0),
            end: None,
        }]);
    }
    let name = format!("{tli:08X}.history");
    let text =
        wal_archive::fetch(repo, system_id, &name, seg_size)?.ok_or_else(|| Error::NoHistory {
            tli,
            name: name.clone(),
        })?;
    let history = parse_history(&String::from_utf8_lossy(&text))?;
    let mut links = Vec::new();
    let mut begin = Lsn(0);
    for h in history {
        links.push(ChainLink {
            tli: h.tli,
            begin,
            end: Some(h.end),
        });
        begin = h.end;
    }
    links.push(ChainLink {
        tli,
        begin,
        end: None,
    });
    Ok(links)
}

/// The newest timeline the archive knows for a system (PostgreSQL's "latest").
pub fn latest_timeline(listing: &Listing) -> u32 {
    listing.timelines().into_iter().max().unwrap_or(1)
}

/// A run of missing segments.
#[derive(Clone, Debug, Serialize)]
pub struct Gap {
    pub first: String,
    pub last: String,
}

/// How far a base backup can be rolled forward on a timeline chain.
#[derive(Clone, Debug, Serialize)]
pub struct Reach {
    /// The last segment present without a gap from the backup's start.
    pub last_segment: Option<String>,
    /// The end of the WAL that can be replayed from complete segments.
    pub end_lsn: Lsn,
    /// When that last segment was archived (no commit in it is later).
    pub end_time: Option<DateTime<FixedOffset>>,
    /// The in-progress segment `wal-receive` keeps, when it continues the walk.
    pub streaming: Option<String>,
    /// The first gap, when segments exist beyond it.
    pub gap: Option<Gap>,
    /// The backup's own WAL (start to stop) is complete.
    pub consistent: bool,
}

fn time_of(t: Option<SystemTime>) -> Option<DateTime<FixedOffset>> {
    t.map(|t| DateTime::<Local>::from(t).fixed_offset())
}

/// The timeline PostgreSQL reads segment `segno` from: the newest of the chain that
/// begins at or before it and is in the archive.
fn segment_at<'a>(
    by_tli: &'a BTreeMap<u32, BTreeMap<u64, &'a wal_archive::Archived>>,
    links: &[ChainLink],
    segno: u64,
    seg_size: u64,
) -> Option<(u32, &'a wal_archive::Archived)> {
    links
        .iter()
        .rev()
        .filter(|l| l.begin.segment(seg_size) <= segno)
        .find_map(|l| by_tli.get(&l.tli)?.get(&segno).map(|a| (l.tli, *a)))
}

/// Walks the segments from the backup's start along `links`.
pub fn reach(listing: &Listing, base: &BaseMeta, links: &[ChainLink]) -> Reach {
    let seg = base.wal_segment_size;
    let by_tli: BTreeMap<u32, BTreeMap<u64, &wal_archive::Archived>> = links
        .iter()
        .map(|l| (l.tli, listing.segments(l.tli)))
        .collect();
    let start = base.start_lsn.segment(seg);
    let stop = Lsn(base.stop_lsn.0.saturating_sub(1)).segment(seg);
    let mut s = start;
    let mut last: Option<(u32, &wal_archive::Archived, u64)> = None;
    while let Some((tli, a)) = segment_at(&by_tli, links, s, seg) {
        last = Some((tli, a, s));
        s += 1;
    }
    let newest = links.last().map(|l| l.tli).unwrap_or(base.timeline);
    let streaming = listing
        .streaming(newest)
        .filter(|(segno, _)| *segno == s)
        .map(|(_, a)| a.name.clone());
    let beyond = by_tli
        .values()
        .flat_map(|m| m.keys())
        .filter(|&&n| n > s)
        .min()
        .copied();
    let gap = beyond.map(|next| {
        let tli_at = |n: u64| {
            links
                .iter()
                .rev()
                .find(|l| l.begin.segment(seg) <= n)
                .map(|l| l.tli)
                .unwrap_or(newest)
        };
        Gap {
            first: segment_name(tli_at(s), s, seg),
            last: segment_name(tli_at(next - 1), next - 1, seg),
        }
    });
    Reach {
        last_segment: last.map(|(tli, _, n)| segment_name(tli, n, seg)),
        end_lsn: last
            .map(|(_, _, n)| segment_end(n, seg))
            .unwrap_or(base.start_lsn),
        end_time: last.and_then(|(_, a, _)| time_of(a.archived)),
        streaming,
        gap,
        consistent: last.is_some_and(|(_, _, n)| n >= stop),
    }
}
