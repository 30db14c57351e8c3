//! A repository's quota: how much of it the repository uses, and whether that is over
//! the warning or the critical share (`quota_warning`, `quota_critical`; 80 % and 90 %
//! unless the configuration says otherwise). The alerts raise an incident from it.

use serde::Serialize;

use crate::config::{RepositoryConfig, QUOTA_CRITICAL, QUOTA_WARNING};

/// How full a repository with a quota is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    Ok,
    Warning,
    Critical,
}

/// A repository's use of its quota.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QuotaUse {
    pub quota: u64,
    pub used: u64,
    pub percent: f64,
    pub level: Level,
}

/// What a repository stores now, in bytes: the sum of its objects' sizes, as listed by
/// its storage (one listing; the quota, the metrics and the report count the same way).
pub fn stored_bytes(repo: &RepositoryConfig) -> Result<u64, String> {
    Ok(stored(repo)?.bytes)
}

/// What one listing of a repository tells: everything it stores, and its WAL archive.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stored {
    pub bytes: u64,
    /// The WAL archived under `wal/SYSTEM/`, by PostgreSQL system identifier.
    pub wal: std::collections::BTreeMap<String, WalStored>,
}

/// One cluster's archived WAL: objects, bytes, and when the newest was written.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WalStored {
    pub objects: u64,
    pub bytes: u64,
    pub newest: Option<std::time::SystemTime>,
}

/// Lists the repository once: see [`Stored`].
pub fn stored(repo: &RepositoryConfig) -> Result<Stored, String> {
    let storage = crate::runner::storage_options(repo)
        .and_then(|o| bunker_repo::Storage::open(&repo.url, &o))
        .map_err(|e| e.to_string())?;
    let objects = storage.list_objects("").map_err(|e| e.to_string())?;
    let mut out = Stored::default();
    for o in &objects {
        out.bytes += o.size;
        let Some((system, _)) = o.path.strip_prefix("wal/").and_then(|p| p.split_once('/')) else {
            continue;
        };
        let w = out.wal.entry(system.to_string()).or_default();
        w.objects += 1;
        w.bytes += o.size;
        w.newest = w.newest.max(o.modified);
    }
    Ok(out)
}

/// The use of `repo`'s quota when it holds `used` bytes; `None` without a quota.
pub fn quota_use(repo: &RepositoryConfig, used: u64) -> Option<QuotaUse> {
    let quota = repo.quota?.0;
    let percent = used as f64 / quota as f64 * 100.0;
    let warning = f64::from(repo.quota_warning.unwrap_or(QUOTA_WARNING));
    let critical = f64::from(repo.quota_critical.unwrap_or(QUOTA_CRITICAL));
    let level = if percent >= critical {
        Level::Critical
    } else if percent >= warning {
        Level::Warning
    } else {
        Level::Ok
    };
    Some(QuotaUse {
        quota,
        used,
        percent,
        level,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(extra: &str) -> RepositoryConfig {
        toml::from_str(&format!("url = \"/r\"\npassword = \"p\"\n{extra}")).unwrap()
    }

    #[test]
    fn levels_follow_the_thresholds() {
        let r = repo("quota = \"100MiB\"");
        let mib = 1 << 20;
        assert_eq!(quota_use(&r, 79 * mib).unwrap().level, Level::Ok);
        assert_eq!(quota_use(&r, 80 * mib).unwrap().level, Level::Warning);
        assert_eq!(quota_use(&r, 95 * mib).unwrap().level, Level::Critical);
        assert_eq!(quota_use(&r, 50 * mib).unwrap().percent, 50.0);
        let strict = repo("quota = \"100MiB\"\nquota_warning = 50\nquota_critical = 60");
        assert_eq!(quota_use(&strict, 55 * mib).unwrap().level, Level::Warning);
        assert!(quota_use(&repo(""), 1).is_none());
    }

    #[test]
    fn one_listing_gives_the_size_and_each_clusters_wal_archive() {
        let dir = tempfile::tempdir().unwrap();
        let put = |rel: &str, n: usize| {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, vec![7u8; n]).unwrap();
        };
        put("config", 10);
        put("data/ab/ab12", 100);
        put("wal/7301/00000001/000000010000000000000001", 16);
        put("wal/7301/00000001/000000010000000000000002", 16);
        put("wal/9902/00000002.history", 5);
        let r = RepositoryConfig {
            url: crate::config::Text::new(dir.path().display().to_string()),
            ..repo("")
        };
        let s = stored(&r).unwrap();
        assert_eq!(s.bytes, 147);
        assert_eq!(s.wal.len(), 2);
        assert_eq!((s.wal["7301"].objects, s.wal["7301"].bytes), (2, 32));
        assert_eq!((s.wal["9902"].objects, s.wal["9902"].bytes), (1, 5));
        assert!(s.wal["7301"].newest.is_some());
        assert_eq!(stored_bytes(&r).unwrap(), 147);
    }

    #[test]
    fn a_bad_quota_is_refused() {
        let e = toml::from_str::<RepositoryConfig>("url = \"/r\"\nquota = \"lots\"").unwrap_err();
        assert!(e.to_string().contains("quota"), "{e}");
        let e = toml::from_str::<RepositoryConfig>("url = \"/r\"\nquota = \"0\"").unwrap_err();
        assert!(e.to_string().contains("zero"), "{e}");
    }
}
