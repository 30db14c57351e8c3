//! `bunker.toml`: repositories, jobs and notification targets in one file.
//!
//! The file is read with serde; each value type checks itself (the `value` module, cron
//! expressions, time zones), so a bad value is reported at its line and column. What
//! one part says about another (a job naming a repository that is not declared) is
//! checked afterwards, still with the position of the offending value.

mod dashboard;
mod http;
mod lookup;
mod model;
mod notify;
mod paths;
mod when;

use std::path::{Path, PathBuf};

pub use crate::source::SourceConfig;
pub use crate::value::{
    expand_env, parse_duration, referenced_variables, DaemonSecret, Secret, Span, Text,
};
pub use dashboard::{DashboardConfig, Quota, ReportConfig, QUOTA_CRITICAL, QUOTA_WARNING};
pub use http::HttpLimits;
pub use lookup::{may_be_repository_name, PgConnection};
pub use model::{
    AlertSettings, Config, DaemonConfig, Hook, Hooks, JobConfig, Objectives, RepositoryConfig,
    Retention, Verify, LOCK_WAIT,
};
pub use notify::NotifyConfig;
pub use paths::{default_cache_dir, default_config_path, default_state_dir};
pub use when::When;

/// A configuration problem, with the place in the file it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: PathBuf,
    /// 1-based line and column; 0 when the problem has no position (unreadable file).
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.path.display(), self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.path.display(),
                self.line,
                self.column,
                self.message
            )
        }
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    fn at(path: &Path, text: &str, offset: Option<usize>, message: impl Into<String>) -> Self {
        let (line, column) = match offset {
            Some(o) => line_column(text, o),
            None => (0, 0),
        };
        ConfigError {
            path: path.to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::at(
                path,
                "",
                None,
                format!("cannot read the configuration: {e}"),
            )
        })?;
        Config::parse(&text, path)
    }

    /// Parses and checks configuration text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| {
            let message = e.message().trim_end().to_string();
            ConfigError::at(path, text, e.span().map(|s| s.start), message)
        })?;
        config.path = path.to_path_buf();
        config
            .validate()
            .map_err(|(offset, message)| ConfigError::at(path, text, Some(offset), message))?;
        Ok(config)
    }

    /// The configuration as TOML with every secret shown as `<redacted>`.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot show: {e}\n"))
    }
}

#[cfg(test)]
mod tests;
