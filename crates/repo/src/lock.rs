//! Repository locks as restic uses them: files under `locks/`, shared for backup and
//! reads, exclusive for maintenance. A lock older than 30 minutes, or one held by a
//! process of this host that no longer exists, is stale. Held locks are refreshed every
//! five minutes by a background thread.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Local};
use serde::{Deserialize, Serialize};

use crate::crypto::Key;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::keys::{hostname, whoami};
use crate::repository::Repository;
use crate::storage::{FileType, Storage};
use crate::unpacked;

const STALE_AFTER: Duration = Duration::from_secs(30 * 60);
const REFRESH_EVERY: Duration = Duration::from_secs(5 * 60);

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LockFile {
    pub time: DateTime<FixedOffset>,
    #[serde(default)]
    pub exclusive: bool,
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub pid: i32,
    #[serde(default)]
    pub uid: u32,
    #[serde(default)]
    pub gid: u32,
}

impl LockFile {
    fn new(exclusive: bool) -> LockFile {
        LockFile {
            time: Local::now().fixed_offset(),
            exclusive,
            hostname: hostname(),
            username: whoami(),
            pid: std::process::id() as i32,
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
        }
    }

    /// Old, or held by a dead process on this host.
    pub fn is_stale(&self) -> bool {
        let age = Local::now().fixed_offset().signed_duration_since(self.time);
        if age.to_std().map(|a| a > STALE_AFTER).unwrap_or(false) {
            return true;
        }
        if self.hostname == hostname() && self.pid > 0 {
            let pid = nix::unistd::Pid::from_raw(self.pid);
            return matches!(
                nix::sys::signal::kill(pid, None),
                Err(nix::errno::Errno::ESRCH)
            );
        }
        false
    }

    fn describe(&self, id: &Id) -> String {
        format!(
            "by {} {} (PID {} on {} by {}, since {})",
            if self.exclusive {
                "exclusive lock"
            } else {
                "lock"
            },
            id.short(),
            self.pid,
            self.hostname,
            self.username,
            self.time.format("%Y-%m-%d %H:%M:%S")
        )
    }
}

/// Reads every lock file; unreadable ones are reported as `None`.
pub fn list_locks(storage: &Storage, key: &Key) -> Result<Vec<(Id, Option<LockFile>)>> {
    let mut out = Vec::new();
    for (id, _) in storage.list(FileType::Lock)? {
        let lf = match storage.read(FileType::Lock, &id) {
            Ok(data) => unpacked::open::<LockFile>(key, &data, "lock", &id).ok(),
            Err(Error::NotFound { .. }) => continue,
            Err(e) => return Err(e),
        };
        out.push((id, lf));
    }
    Ok(out)
}

/// A lock this process holds; released on drop.
pub struct Lock {
    inner: Arc<Mutex<Id>>,
    stop: Option<crossbeam_channel::Sender<()>>,
    refresher: Option<JoinHandle<()>>,
    /// `None` for the stand-in of `--no-lock`: nothing to refresh or remove.
    storage: Option<Storage>,
}

impl Lock {
    /// A lock that is not held (`--no-lock`).
    pub fn none() -> Lock {
        Lock {
            inner: Arc::default(),
            stop: None,
            refresher: None,
            storage: None,
        }
    }

    /// Like [`Lock::acquire`], but retries for up to `wait` while the repository is
    /// locked by someone else.
    pub fn acquire_waiting(repo: &Repository, exclusive: bool, wait: Duration) -> Result<Lock> {
        let deadline = std::time::Instant::now() + wait;
        let mut pause = Duration::from_millis(100);
        loop {
            match Lock::acquire(repo, exclusive) {
                Err(Error::Locked { .. }) if std::time::Instant::now() + pause < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
                other => return other,
            }
        }
    }

    /// Takes a lock, failing with [`Error::Locked`] if a conflicting live lock exists.
    /// The lock file is written in the repository's version (uncompressed in version
    /// 1), so that restic sees it and waits instead of pruning under a running backup.
    pub fn acquire(repo: &Repository, exclusive: bool) -> Result<Lock> {
        let (storage, key, compress) = (repo.storage(), repo.key(), repo.compresses());
        let check = |own: Option<&Id>| -> Result<()> {
            for (id, lf) in list_locks(storage, key)? {
                if Some(&id) == own {
                    continue;
                }
                let Some(lf) = lf else { continue };
                if lf.is_stale() {
                    continue;
                }
                if exclusive || lf.exclusive {
                    return Err(Error::Locked {
                        by: lf.describe(&id),
                    });
                }
            }
            Ok(())
        };
        check(None)?;
        let id = write_lock(storage, key, exclusive, compress)?;
        // Someone may have locked between our check and our write: look again.
        if let Err(e) = check(Some(&id)) {
            let _ = storage.remove(FileType::Lock, &id);
            return Err(e);
        }
        let inner = Arc::new(Mutex::new(id));
        // Dropping `stop` (in Lock's drop) wakes the refresher at once.
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let refresher = {
            let (inner, storage, key) = (inner.clone(), storage.clone(), key.clone());
            std::thread::Builder::new()
                .name("bunker-lock".into())
                .spawn(move || {
                    while let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
                        stopped.recv_timeout(REFRESH_EVERY)
                    {
                        if let Ok(new) = write_lock(&storage, &key, exclusive, compress) {
                            let mut cur = inner.lock().expect("lock id");
                            let _ = storage.remove(FileType::Lock, &cur);
                            *cur = new;
                        }
                    }
                })
                .ok()
        };
        Ok(Lock {
            inner,
            stop: Some(stop),
            refresher,
            storage: Some(storage.clone()),
        })
    }
}

fn write_lock(storage: &Storage, key: &Key, exclusive: bool, compress: bool) -> Result<Id> {
    let data = unpacked::seal(key, &LockFile::new(exclusive), compress);
    let id = Id::hash(&data);
    storage.write(FileType::Lock, &id, data)?;
    Ok(id)
}

impl Drop for Lock {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(h) = self.refresher.take() {
            let _ = h.join();
        }
        if let Some(storage) = &self.storage {
            let id = *self.inner.lock().expect("lock id");
            let _ = storage.remove(FileType::Lock, &id);
        }
    }
}

/// Removes stale locks (all locks with `all`); returns how many were removed.
pub fn remove_locks(storage: &Storage, key: &Key, all: bool) -> Result<usize> {
    let mut n = 0;
    for (id, lf) in list_locks(storage, key)? {
        let stale = lf.map(|l| l.is_stale()).unwrap_or(true);
        if all || stale {
            storage.remove(FileType::Lock, &id)?;
            n += 1;
        }
    }
    Ok(n)
}
