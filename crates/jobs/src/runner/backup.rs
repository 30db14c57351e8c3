//! The backup step of a run: one snapshot from the job's source, tagged `job=NAME`.

use std::sync::Arc;

use bunker_repo::{BackupOptions, BackupProgress, Repository};

use crate::config::JobConfig;
use crate::source::Backup;

/// The tag that marks a job's snapshots: retention, status and `catalog rebuild` find
/// them by it.
pub fn job_tag(job: &str) -> String {
    format!("job={job}")
}

/// The snapshot options of a job's backups, with `extra_tags` of this run (the source
/// adds its own, such as a file tree's excludes).
pub fn options(name: &str, job: &JobConfig, extra_tags: &[String]) -> BackupOptions {
    let mut tags = vec![job_tag(name)];
    tags.extend(job.tags.iter().map(|t| t.0.clone()));
    for t in extra_tags {
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    BackupOptions {
        host: job
            .host
            .as_ref()
            .map(|h| h.0.clone())
            .unwrap_or_else(bunker_repo::hostname),
        tags,
        ..Default::default()
    }
}

/// Backs up the job's source into `repo`.
pub fn run(
    name: &str,
    job: &JobConfig,
    extra_tags: &[String],
    repo: Arc<Repository>,
    progress: &BackupProgress,
) -> Result<Backup, String> {
    let opts = options(name, job, extra_tags);
    job.source
        .source()
        .backup(repo, opts, progress)
        .map_err(|e| e.to_string())
}
