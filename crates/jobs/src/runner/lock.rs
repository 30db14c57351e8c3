//! One run of a job at a time, across processes: an exclusive `flock` on a file in the
//! state directory, released by the kernel when the holder exits, even by kill -9.

use std::fs::File;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

/// Held while a job runs.
pub struct JobLock {
    _lock: Flock<File>,
}

impl JobLock {
    /// Takes the job's lock, or returns None when another run holds it.
    pub fn try_acquire(state_dir: &Path, job: &str) -> std::io::Result<Option<JobLock>> {
        let dir = state_dir.join("locks");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("{job}.lock")))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(Some(JobLock { _lock: lock })),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, e)) => Err(e.into()),
        }
    }
}
