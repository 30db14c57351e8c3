//! The size scan that gives a backup's progress its total: a walk of the same paths
//! with the same exclusions that only reads metadata, run beside the backup.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::Ordering;

use ignore::gitignore::Gitignore;

use super::{BackupOptions, BackupProgress};
use crate::fsnode::is_cache_dir;

/// Counts the files and bytes under `paths` into `progress.total_*` as it goes, and sets
/// `progress.scanned` at the end. Unreadable entries are skipped: the backup itself
/// reports them.
pub(super) fn scan(
    paths: &[&Path],
    opts: &BackupOptions,
    excludes: &Gitignore,
    progress: &BackupProgress,
) {
    for p in paths {
        if let Ok(m) = std::fs::symlink_metadata(p) {
            visit(p, &m, m.dev(), opts, excludes, progress);
        }
    }
    progress.scanned.store(true, Ordering::Relaxed);
}

fn visit(
    path: &Path,
    meta: &std::fs::Metadata,
    root_dev: u64,
    opts: &BackupOptions,
    excludes: &Gitignore,
    progress: &BackupProgress,
) {
    if opts.one_file_system && meta.dev() != root_dev {
        return;
    }
    if meta.is_file() {
        if opts.exclude_larger_than.is_some_and(|l| meta.len() > l) {
            return;
        }
        progress.total_files.fetch_add(1, Ordering::Relaxed);
        progress
            .total_bytes
            .fetch_add(meta.len(), Ordering::Relaxed);
        return;
    }
    if !meta.is_dir() {
        return;
    }
    let Ok(rd) = std::fs::read_dir(path) else {
        return;
    };
    let cache = opts.exclude_caches && is_cache_dir(path);
    for e in rd.flatten() {
        if cache && e.file_name() != "CACHEDIR.TAG" {
            continue;
        }
        let p = e.path();
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if excludes
            .matched_path_or_any_parents(&p, m.is_dir())
            .is_ignore()
        {
            continue;
        }
        visit(&p, &m, root_dev, opts, excludes, progress);
    }
}
