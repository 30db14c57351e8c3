//! What `pg info` reports for each PostgreSQL system in a repository: its base backups,
//! its WAL timelines with the window each can recover, the files that did not read back
//! (with `read_data`), and how far the live server's archiving lags behind.

use bunker_repo::Repository;
use bunker_sources::postgres::wal::{WalFile, DEFAULT_SEGMENT_SIZE};
use bunker_sources::postgres::Server;
use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use super::wal_archive::{self, Damaged};
use super::window::{base_backups, chain, latest_timeline, reach, BaseBackup, Gap};
use crate::error::Result;

/// One system: everything the repository holds of it.
#[derive(Clone, Debug, Serialize)]
pub struct SystemReport {
    pub system_identifier: String,
    pub wal_segment_size: u64,
    pub newest_timeline: u32,
    pub base_backups: Vec<BaseReport>,
    pub timelines: Vec<TimelineReport>,
    /// The live server's archiving, when the server given is this system.
    pub archive: Option<ArchiveLag>,
    /// Every archived file was read back (`read_data`).
    pub verified: bool,
    pub damaged: Vec<Damaged>,
}

/// One base backup.
#[derive(Clone, Debug, Serialize)]
pub struct BaseReport {
    pub snapshot: String,
    pub time: DateTime<FixedOffset>,
    pub timeline: u32,
    pub start_lsn: String,
    pub stop_lsn: String,
    pub start_wal: String,
    pub stop_wal: String,
    pub finished: DateTime<FixedOffset>,
    pub method: String,
    pub size: Option<u64>,
}

/// One timeline of the archive.
#[derive(Clone, Debug, Serialize)]
pub struct TimelineReport {
    pub timeline: u32,
    pub segments: usize,
    pub first_segment: Option<String>,
    pub last_segment: Option<String>,
    pub bytes_stored: u64,
    pub history: bool,
    /// What can be recovered along it; none when no base backup reaches a consistent
    /// state on it.
    pub window: Option<Window>,
}

/// The recoverable window of a timeline: from the end of its oldest usable base backup
/// to the end of the WAL its newest can replay without a gap.
#[derive(Clone, Debug, Serialize)]
pub struct Window {
    pub earliest_lsn: String,
    pub earliest_time: DateTime<FixedOffset>,
    pub latest_lsn: String,
    pub latest_time: Option<DateTime<FixedOffset>>,
    pub latest_segment: Option<String>,
    pub streaming: Option<String>,
    pub gap: Option<Gap>,
}

/// How the live server's archiving stands against the archive.
#[derive(Clone, Debug, Serialize)]
pub struct ArchiveLag {
    pub current_lsn: Option<String>,
    pub current_wal_file: Option<String>,
    pub last_in_archive: Option<String>,
    pub segments_behind: Option<i64>,
    pub archived_count: i64,
    pub last_archived_time: Option<String>,
    pub failed_count: i64,
    pub last_failed_wal: Option<String>,
    pub last_failed_time: Option<String>,
}

/// Reports every system with base backups or WAL in `repo` (only `system`, when
/// given). With `server`, the archiving of the system it runs is compared with the
/// archive; with `read_data`, every archived file is read back and the damaged ones
/// count as missing.
pub fn systems(
    repo: &Repository,
    system: Option<&str>,
    server: Option<&Server>,
    read_data: bool,
) -> Result<Vec<SystemReport>> {
    let bases = base_backups(repo)?;
    let mut systems: Vec<String> = bases
        .iter()
        .map(|b| b.meta.system_identifier.clone())
        .collect();
    systems.extend(wal_archive::systems(repo)?);
    systems.sort();
    systems.dedup();
    if let Some(s) = system {
        systems.retain(|x| x == s);
    }
    let archiver = match server {
        Some(server) => Some((server.cluster_facts()?, server.archiver_status()?)),
        None => None,
    };
    let mut out = Vec::new();
    for system in &systems {
        let mine: Vec<&BaseBackup> = bases
            .iter()
            .filter(|b| &b.meta.system_identifier == system)
            .collect();
        let seg = mine
            .first()
            .map(|b| b.meta.wal_segment_size)
            .unwrap_or(DEFAULT_SEGMENT_SIZE);
        let mut listing = wal_archive::list(repo, system, seg)?;
        let damaged = if read_data {
            wal_archive::verify(repo, system, &mut listing)
        } else {
            Vec::new()
        };
        let newest = latest_timeline(&listing);
        let mut timelines = Vec::new();
        for tli in listing.timelines() {
            let segs = listing.segments(tli);
            let links = chain(repo, system, tli, seg).ok();
            let window = links.as_ref().and_then(|links| {
                let usable: Vec<_> = mine
                    .iter()
                    .filter(|b| {
                        links.iter().any(|l| {
                            l.tli == b.meta.timeline && l.end.is_none_or(|e| b.meta.stop_lsn <= e)
                        })
                    })
                    .map(|b| (b, reach(&listing, &b.meta, links)))
                    .filter(|(_, r)| r.consistent)
                    .collect();
                let (oldest, _) = usable.first()?;
                let (_, newest_reach) = usable.last()?;
                Some(Window {
                    earliest_lsn: oldest.meta.stop_lsn.to_string(),
                    earliest_time: oldest.meta.finished,
                    latest_lsn: newest_reach.end_lsn.to_string(),
                    latest_time: newest_reach.end_time,
                    latest_segment: newest_reach.last_segment.clone(),
                    streaming: newest_reach.streaming.clone(),
                    gap: newest_reach.gap.clone(),
                })
            });
            timelines.push(TimelineReport {
                timeline: tli,
                segments: segs.len(),
                first_segment: segs.values().next().map(|a| a.name.clone()),
                last_segment: segs.values().last().map(|a| a.name.clone()),
                bytes_stored: listing
                    .files
                    .iter()
                    .filter(|f| f.file.timeline() == tli)
                    .map(|f| f.size)
                    .sum(),
                history: listing.has_history(tli),
                window,
            });
        }
        let archive = archiver
            .as_ref()
            .filter(|(f, _)| &f.system_identifier == system)
            .map(|(_, st)| {
                let last = listing
                    .segments(newest)
                    .values()
                    .last()
                    .map(|a| a.name.clone());
                let behind = match (&st.current_wal_file, &last) {
                    (Some(cur), Some(last)) => segment_distance(last, cur, seg),
                    _ => None,
                };
                ArchiveLag {
                    current_lsn: st.current_lsn.map(|l| l.to_string()),
                    current_wal_file: st.current_wal_file.clone(),
                    last_in_archive: last,
                    segments_behind: behind,
                    archived_count: st.archived_count,
                    last_archived_time: st.last_archived_time.clone(),
                    failed_count: st.failed_count,
                    last_failed_wal: st.last_failed_wal.clone(),
                    last_failed_time: st.last_failed_time.clone(),
                }
            });
        out.push(SystemReport {
            system_identifier: system.clone(),
            wal_segment_size: seg,
            newest_timeline: newest,
            base_backups: mine
                .iter()
                .map(|b| BaseReport {
                    snapshot: b.snapshot.id.to_hex(),
                    time: b.snapshot.time,
                    timeline: b.meta.timeline,
                    start_lsn: b.meta.start_lsn.to_string(),
                    stop_lsn: b.meta.stop_lsn.to_string(),
                    start_wal: b.meta.start_wal.clone(),
                    stop_wal: b.meta.stop_wal.clone(),
                    finished: b.meta.finished,
                    method: b.meta.method.clone(),
                    size: b.snapshot.summary.as_ref().map(|s| s.total_bytes_processed),
                })
                .collect(),
            timelines,
            archive,
            verified: read_data,
            damaged,
        });
    }
    Ok(out)
}

/// How many segments `last` is behind `current` (same timeline assumed).
fn segment_distance(last: &str, current: &str, seg: u64) -> Option<i64> {
    match (WalFile::parse(last, seg)?, WalFile::parse(current, seg)?) {
        // The server's current file is the one it writes; the archive can already hold
        // it when a switch just happened: never fewer than 0 behind.
        (WalFile::Segment { segno: a, .. }, WalFile::Segment { segno: b, .. }) => {
            Some((b as i64 - a as i64 - 1).max(0))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::segment_distance;

    const SEG: u64 = 16 << 20;

    #[test]
    fn the_archive_is_never_less_than_zero_segments_behind() {
        let (a, b) = ("000000010000000000000003", "000000010000000000000005");
        assert_eq!(segment_distance(a, b, SEG), Some(1));
        assert_eq!(segment_distance(b, a, SEG), Some(0));
        assert_eq!(segment_distance(a, "00000001.history", SEG), None);
    }
}
