//! The configuration as the front door of the repository commands: `-r NAME` names a
//! repository of the file, `--job NAME` a job (its repository, its server, its
//! snapshots).

use super::model::{Config, JobConfig, RepositoryConfig};
use crate::source::SourceConfig;

/// Whether `-r VALUE` may name a configured repository rather than a location: a
/// repository name never holds `/` or `:`, and every location other than a bare
/// relative directory does (`/srv/repo`, `./repo`, `s3:…`, `sftp:…`). Such a value is a
/// name when the configuration declares it, else a directory (write `./NAME` for the
/// directory when both exist).
pub fn may_be_repository_name(value: &str) -> bool {
    !value.is_empty() && !value.contains(['/', ':'])
}

/// How to reach the PostgreSQL server of a job.
#[derive(Clone, Copy, Debug)]
pub struct PgConnection<'a> {
    pub dsn: &'a str,
    pub pg_bin: Option<&'a str>,
}

impl Config {
    /// A repository by name, with the names of the declared ones when there is none.
    pub fn repository(&self, name: &str) -> Result<&RepositoryConfig, String> {
        self.repositories
            .get(name)
            .map(|r| r.get_ref())
            .ok_or_else(|| {
                format!(
                    "no repository named {name:?} in {} (repositories: {})",
                    self.path.display(),
                    self.repositories
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
    }
}

impl JobConfig {
    /// The job's PostgreSQL server, when its source is one.
    pub fn postgres(&self) -> Option<PgConnection<'_>> {
        match &self.source {
            SourceConfig::Postgres(p) => Some(PgConnection {
                dsn: p.dsn.expose(),
                pg_bin: p.pg_bin.as_deref(),
            }),
            SourceConfig::PostgresPhysical(p) => Some(PgConnection {
                dsn: p.dsn.expose(),
                pg_bin: p.pg_bin.as_deref(),
            }),
            _ => None,
        }
    }

    /// The drill assertions of `[jobs.NAME.verify]` as the command line writes them:
    /// tables that must have rows, `TABLE=N` minimums, and queries.
    pub fn drill_assertions(&self) -> (Vec<String>, Vec<String>, Vec<String>) {
        match &self.verify {
            None => Default::default(),
            Some(v) => (
                v.expect_tables.clone(),
                v.min_rows.iter().map(|(t, n)| format!("{t}={n}")).collect(),
                v.sql.clone(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_hold_no_slash_or_colon() {
        assert!(may_be_repository_name("offsite"));
        assert!(may_be_repository_name("backups.2"));
        for location in ["/srv/repo", "./offsite", "s3:https://h/b", "local:x", ""] {
            assert!(!may_be_repository_name(location), "{location}");
        }
    }
}
