//! Runs in one process that share a repository take turns on it. A repository lock
//! does not know which process holds it: in the daemon, one job's forget or prune
//! (exclusive) against another job's backup (shared) failed with "repository is locked
//! by exclusive lock … (PID <the daemon itself>)". So before it locks the repository, each
//! step passes this process's gate for it: shared steps (backup, copy, check, drill)
//! together, exclusive ones (retention, prune) alone. The gate prefers a waiting
//! exclusive step over new shared ones, so a prune is not starved by back-to-back
//! backups. Across processes the repository lock itself decides, with a bounded wait
//! (`lock_wait`).
//!
//! The gates are process-wide on purpose: every run in the process, whoever started it,
//! must take turns, and a process has one set of repository locks.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// A turn on one or more repositories, held until dropped.
pub struct Turn {
    _shared: Vec<RwLockReadGuard<'static, ()>>,
    _exclusive: Option<RwLockWriteGuard<'static, ()>>,
}

/// The gate of the repository at `location`: made once per location and kept for the
/// life of the process (a handful of repositories), so that a turn borrows nothing.
fn gate(location: &str) -> &'static RwLock<()> {
    static GATES: OnceLock<Mutex<HashMap<String, &'static RwLock<()>>>> = OnceLock::new();
    let mut map = GATES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    map.entry(location.to_string())
        .or_insert_with(|| Box::leak(Box::new(RwLock::new(()))))
}

/// Waits for a shared turn on every repository in `locations` (a copy reads one and
/// writes another), taken in one order so that two copies in opposite directions
/// cannot wait for each other.
pub fn shared(locations: &[&str]) -> Turn {
    let mut sorted: Vec<&str> = locations.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    Turn {
        _shared: sorted
            .iter()
            .map(|l| gate(l).read().unwrap_or_else(|p| p.into_inner()))
            .collect(),
        _exclusive: None,
    }
}

/// Waits until no other step of this process uses the repository at `location`.
pub fn exclusive(location: &str) -> Turn {
    Turn {
        _shared: Vec::new(),
        _exclusive: Some(gate(location).write().unwrap_or_else(|p| p.into_inner())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn exclusive_turns_wait_for_shared_ones_and_the_other_way_round() {
        let inside = Arc::new(AtomicUsize::new(0));
        let overlap = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let (inside, overlap) = (inside.clone(), overlap.clone());
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        if i % 4 == 0 {
                            let _t = exclusive("test:gate");
                            if inside.fetch_add(100, Ordering::SeqCst) != 0 {
                                overlap.fetch_add(1, Ordering::SeqCst);
                            }
                            std::thread::sleep(Duration::from_millis(1));
                            inside.fetch_sub(100, Ordering::SeqCst);
                        } else {
                            let _t = shared(&["test:gate", "test:other"]);
                            if inside.fetch_add(1, Ordering::SeqCst) >= 100 {
                                overlap.fetch_add(1, Ordering::SeqCst);
                            }
                            std::thread::sleep(Duration::from_millis(1));
                            inside.fetch_sub(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(overlap.load(Ordering::SeqCst), 0);
    }
}
