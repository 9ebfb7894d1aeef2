//! One intake at a time per rep.
//!
//! The retake policy ("3 attempts per 90 days, none while one is being
//! graded") is a read of the rep's history followed by an insert. Two requests
//! from one rep that both read before either inserts both pass the check, so
//! 50 concurrent uploads once made 5 submissions where the policy allowed 1.
//! Holding a per-rep lock across the check and the insert makes the pair
//! atomic without moving the policy (which is Rust, not SQL) into the database.
//!
//! Two layers, because each alone falls short:
//! - an in-process async mutex per rep, so concurrent requests of one process
//!   queue in memory instead of each holding a database connection while they
//!   wait (50 waiters on a 10-connection pool would starve the holder of the
//!   connection its own check needs);
//! - on PostgreSQL, a transaction-scoped advisory lock on top, so API servers
//!   in other processes sharing the database wait too. It is released when
//!   its transaction ends, including when a request is cancelled mid-way and
//!   the guard is dropped. SQLite is one process's database (one writer, a
//!   file on local disk), so the in-process layer is the whole lock there.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use async_trait::async_trait;
use tokio::sync::OwnedMutexGuard;

use super::DbError;

/// A lock that lives in the database (or nothing), released explicitly so its
/// error is seen, and by its own drop otherwise.
#[async_trait]
pub(crate) trait SharedLock: Send {
    async fn release(self: Box<Self>) -> Result<(), DbError>;
}

/// Held while one intake of a rep checks the retake policy and inserts; every
/// other intake of that rep waits for it. Dropping it releases it too (a
/// cancelled request must not keep the rep locked out).
#[must_use = "the rep is only locked while the guard is held"]
pub struct RepLock {
    _local: OwnedMutexGuard<()>,
    shared: Option<Box<dyn SharedLock>>,
}

impl RepLock {
    pub(crate) fn new(local: OwnedMutexGuard<()>, shared: Option<Box<dyn SharedLock>>) -> Self {
        RepLock {
            _local: local,
            shared,
        }
    }

    /// Ends the critical section. The in-process half goes with `self`.
    pub async fn release(mut self) -> Result<(), DbError> {
        match self.shared.take() {
            Some(shared) => shared.release().await,
            None => Ok(()),
        }
    }
}

impl std::fmt::Debug for RepLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepLock")
            .field("shared", &self.shared.is_some())
            .finish()
    }
}

/// Entries past this many are swept of reps nobody holds, so a long-running
/// server does not keep one mutex for every rep it ever saw.
const SWEEP_AT: usize = 1024;

/// The in-process half: one async mutex per rep id, created on first use.
#[derive(Default)]
pub(crate) struct RepMutexes {
    by_rep: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
}

impl RepMutexes {
    pub(crate) async fn lock(&self, rep_id: &str) -> OwnedMutexGuard<()> {
        let mutex = {
            // A poisoned map only means another thread panicked while
            // inserting; the map itself is still usable.
            let mut map = self.by_rep.lock().unwrap_or_else(|e| e.into_inner());
            if map.len() >= SWEEP_AT {
                map.retain(|_, weak| weak.strong_count() > 0);
            }
            match map.get(rep_id).and_then(Weak::upgrade) {
                Some(m) => m,
                None => {
                    let m = Arc::new(tokio::sync::Mutex::new(()));
                    map.insert(rep_id.to_string(), Arc::downgrade(&m));
                    m
                }
            }
        };
        mutex.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_rep_waits_another_does_not() {
        let locks = Arc::new(RepMutexes::default());
        let held = locks.lock("alice").await;
        let other = tokio::time::timeout(Duration::from_millis(200), locks.lock("bob")).await;
        assert!(other.is_ok(), "bob is not held up by alice");
        let same = tokio::time::timeout(Duration::from_millis(100), locks.lock("alice")).await;
        assert!(same.is_err(), "alice's second intake waits");
        drop(held);
        let after = tokio::time::timeout(Duration::from_millis(200), locks.lock("alice")).await;
        assert!(after.is_ok(), "released on drop");
    }

    #[tokio::test]
    async fn unheld_reps_are_swept() {
        let locks = RepMutexes::default();
        for i in 0..(SWEEP_AT + 10) {
            drop(locks.lock(&format!("rep-{i}")).await);
        }
        let len = locks.by_rep.lock().unwrap().len();
        assert!(len < SWEEP_AT, "{len} entries kept");
    }
}
