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
//!   the guard is dropped;
//! - on SQLite, an exclusive lock on a file beside the database
//!   (`<db>-intake.lock`), for the same reason: two `serve` processes on one
//!   database file each have their own mutexes. A database connection cannot
//!   be the lock there, because SQLite's write lock is the one the insert
//!   itself needs. The operating system drops a file lock when its holder
//!   dies, so a crashed server never leaves reps locked out.

use std::collections::HashMap;
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

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

/// The cross-process half on SQLite: one lock file for every rep. Coarser
/// than per rep, but the section it guards is a few reads and one insert that
/// SQLite's single writer serialises anyway.
pub(crate) struct IntakeLockFile {
    path: PathBuf,
}

/// How long an intake waits for another process's before it gives up with an
/// error the rep can retry (a held lock is milliseconds; this is a stuck peer).
const FILE_LOCK_PATIENCE: Duration = Duration::from_secs(30);

impl IntakeLockFile {
    /// The lock file beside `database` (`<database>-intake.lock`, next to
    /// SQLite's own `-wal` and `-shm`).
    pub(crate) fn beside(database: &Path) -> Self {
        let mut name = database.as_os_str().to_os_string();
        name.push("-intake.lock");
        IntakeLockFile {
            path: PathBuf::from(name),
        }
    }

    /// Waits for the lock by polling `try_lock`, so a waiting request holds
    /// no thread and is cancelled like any other future.
    pub(crate) async fn lock(&self) -> Result<Box<dyn SharedLock>, DbError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.path)
            .map_err(DbError::io(&self.path))?;
        let deadline = tokio::time::Instant::now() + FILE_LOCK_PATIENCE;
        let mut pause = Duration::from_millis(1);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Box::new(HeldFile(file))),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => return Err(DbError::io(&self.path)(e)),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(DbError::io(&self.path)(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "another process held the intake lock for over 30 s",
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }
}

/// Closing the file releases the lock too; `release` says so explicitly so
/// an unlock error is seen.
struct HeldFile(File);

#[async_trait]
impl SharedLock for HeldFile {
    async fn release(self: Box<Self>) -> Result<(), DbError> {
        self.0.unlock().map_err(DbError::io("the intake lock file"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[tokio::test]
    async fn the_lock_file_keeps_a_second_holder_out_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("pitchgrade.db");
        // Two handles on one path stand for two processes: the lock belongs
        // to the open file, not to the process.
        let first = IntakeLockFile::beside(&db);
        let second = IntakeLockFile::beside(&db);
        let held = first.lock().await.unwrap();
        let waiting = tokio::time::timeout(Duration::from_millis(150), second.lock()).await;
        assert!(waiting.is_err(), "the second holder waits");
        held.release().await.unwrap();
        let after = tokio::time::timeout(Duration::from_millis(500), second.lock()).await;
        assert!(after.is_ok(), "released explicitly");
        drop(after);
        let again = tokio::time::timeout(Duration::from_millis(500), first.lock()).await;
        assert!(matches!(again, Ok(Ok(_))), "released on drop");
        assert!(dir.path().join("pitchgrade.db-intake.lock").exists());
    }
}
