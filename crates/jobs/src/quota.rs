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
    let storage = crate::runner::storage_options(repo)
        .and_then(|o| bunker_repo::Storage::open(&repo.url, &o))
        .map_err(|e| e.to_string())?;
    let objects = storage.list_objects("").map_err(|e| e.to_string())?;
    Ok(objects.iter().map(|o| o.size).sum())
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
    fn a_bad_quota_is_refused() {
        let e = toml::from_str::<RepositoryConfig>("url = \"/r\"\nquota = \"lots\"").unwrap_err();
        assert!(e.to_string().contains("quota"), "{e}");
        let e = toml::from_str::<RepositoryConfig>("url = \"/r\"\nquota = \"0\"").unwrap_err();
        assert!(e.to_string().contains("zero"), "{e}");
    }
}
