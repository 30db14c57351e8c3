//! The WAL archive of physical PostgreSQL jobs, watched: `pg_stat_archiver` reporting a
//! failure newer than its last success, and the server's current WAL file running ahead
//! of the last archived one. Each is an incident, alerted once and cleared when it ends.

use bunker_notify::EventKind;
use bunker_sources::postgres::wal::WalFile;
use serde_json::{json, Map};

use super::{Alerter, Condition, Delivery};
use crate::source::SourceConfig;

impl Alerter<'_> {
    /// Asks the server of every `postgres-physical` job how its archiving goes. A server
    /// that cannot be asked decides nothing (its backups will fail and say so).
    pub fn evaluate_archive(&self) -> Vec<Delivery> {
        let mut out = Vec::new();
        for (name, j) in &self.config.jobs {
            let SourceConfig::PostgresPhysical(src) = &j.get_ref().source else {
                continue;
            };
            let Ok(st) = src.server().archiver_status() else {
                continue;
            };
            let (failing, lag) = (
                format!("archive-failing:{name}"),
                format!("archive-lag:{name}"),
            );
            let mut found = Vec::new();
            if st.failing {
                found.push(Condition {
                    key: failing.clone(),
                    kind: EventKind::Archive,
                    title: format!(
                        "{name}: WAL archiving fails: {} could not be archived (at {}; {} failures so far)",
                        st.last_failed_wal.as_deref().unwrap_or("a segment"),
                        st.last_failed_time.as_deref().unwrap_or("?"),
                        st.failed_count
                    ),
                    detail: format!(
                        "last archived: {} at {}; see the server's log for archive_command's error",
                        st.last_archived_wal.as_deref().unwrap_or("none"),
                        st.last_archived_time.as_deref().unwrap_or("never")
                    ),
                    fields: Map::from_iter([(
                        "last_failed_wal".to_string(),
                        json!(st.last_failed_wal),
                    )]),
                });
            }
            let seg = src.wal_segment_size();
            let behind = match (&st.last_archived_wal, &st.current_wal_file) {
                (Some(last), Some(cur)) => {
                    match (WalFile::parse(last, seg), WalFile::parse(cur, seg)) {
                        (
                            Some(WalFile::Segment { tli: a, segno: x }),
                            Some(WalFile::Segment { tli: b, segno: y }),
                        ) if a == b => Some(y.saturating_sub(x).saturating_sub(1)),
                        _ => None,
                    }
                }
                _ => None,
            };
            let max = src.max_archive_lag();
            if let Some(n) = behind.filter(|n| *n > max) {
                found.push(Condition {
                    key: lag.clone(),
                    kind: EventKind::Archive,
                    title: format!(
                        "{name}: WAL archiving is {n} segments behind the server (more than {max})"
                    ),
                    detail: format!(
                        "server at {}, last archived {}",
                        st.current_wal_file.as_deref().unwrap_or("?"),
                        st.last_archived_wal.as_deref().unwrap_or("none")
                    ),
                    fields: Map::from_iter([("segments_behind".to_string(), json!(n))]),
                });
            }
            out.extend(self.reconcile(name, &[failing, lag], found));
        }
        out
    }
}
