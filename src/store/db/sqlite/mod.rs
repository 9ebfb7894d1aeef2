//! SQLite repository: the embedded default. SQLite allows one writer at a time,
//! so the repository holds exactly one writing connection and opens every write
//! transaction with `BEGIN IMMEDIATE`: the write lock is taken up front, writers
//! queue in-process instead of failing with SQLITE_BUSY halfway through, and each
//! transaction sees the queue as no one else can change it. Reads use a separate
//! pool and, thanks to WAL, never wait for the writer.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use super::rep_lock::{IntakeLockFile, RepLock, RepMutexes};
use super::ConnectOptions;
use crate::store::queue::JobBackoff;
use crate::store::DbError;

/// Stored timestamps: milliseconds since the Unix epoch.
type Ts = i64;
type Tx = Transaction<'static, Sqlite>;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src/store/db/sqlite/migrations");

pub(crate) struct SqliteRepo {
    /// Exactly one connection: SQLite's single writer, queued for in-process.
    writer: SqlitePool,
    readers: SqlitePool,
    retry: JobBackoff,
    /// Intakes of one rep, one at a time (`rep_lock`): first in this
    /// process, then across every process on this database file.
    reps: RepMutexes,
    intake_file: IntakeLockFile,
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

impl SqliteRepo {
    pub(crate) async fn connect(url: &str, options: ConnectOptions) -> Result<Self, DbError> {
        if url.contains(":memory:") || url.contains("mode=memory") {
            // Readers and the writer are separate connections; each would get its
            // own empty in-memory database.
            return Err(DbError::BadUrl {
                url: url.to_string(),
                reason: "in-memory SQLite is not supported; give a file path".into(),
            });
        }
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(DbError::db("parsing the SQLite URL"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: once the API has told a rep "accepted", not even a power cut
            // may lose the submission. NORMAL would only survive process crashes.
            .synchronous(SqliteSynchronous::Full)
            // Another process (say `pitchgrade migrate`) may hold the lock briefly.
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let intake_file = IntakeLockFile::beside(connect.get_filename());
        // A fresh install points at a data directory that may not exist yet.
        if let Some(dir) = connect.get_filename().parent() {
            if !dir.as_os_str().is_empty() {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(DbError::io(dir))?;
            }
        }
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(connect.clone())
            .await
            .map_err(DbError::db("opening the SQLite database"))?;
        MIGRATOR.run(&writer).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(connect)
            .await
            .map_err(DbError::db("opening SQLite readers"))?;
        Ok(SqliteRepo {
            writer,
            readers,
            retry: options.retry,
            reps: RepMutexes::default(),
            intake_file,
        })
    }

    async fn hold_rep(&self, rep_id: &str) -> Result<RepLock, DbError> {
        let local = self.reps.lock(rep_id).await;
        let shared = self.intake_file.lock().await?;
        Ok(RepLock::new(local, Some(shared)))
    }

    async fn begin(&self) -> Result<Tx, DbError> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(DbError::db("starting a transaction"))
    }

    /// A read transaction on the reader pool: one WAL snapshot, never waiting
    /// for the writer.
    async fn begin_read(&self) -> Result<Tx, DbError> {
        self.readers
            .begin()
            .await
            .map_err(DbError::db("starting a read"))
    }
}

/// Submissions, the job queue, tokens and uploads: the shared SQL
/// (`db::backend`). `BEGIN IMMEDIATE` already keeps every other writer out, so
/// locking a job is a plain read and a claim an `UPDATE … WHERE id = (SELECT …)`.
/// Single-statement writes go straight to the one writer connection.
mod shared {
    use super::{ms, SqliteRepo};

    crate::store::db::backend::impl_repo! {
        repo: SqliteRepo,
        db: sqlx::Sqlite,
        ts: super::Ts => ms,
        reader: readers,
        writer: writer,
        lock_job: "SELECT * FROM jobs WHERE id = $1",
        claim_job: "UPDATE jobs SET state = 'running', attempt = attempt + 1, lease_owner = $2,
                 lease_expires_at = $3, heartbeat_at = $1, updated_at = $1
             WHERE id = (
                 SELECT id FROM jobs
                 WHERE state IN ('available', 'retryable') AND run_at <= $1
                 ORDER BY run_at, id
                 LIMIT 1
             )
             RETURNING *",
        expired_jobs: "SELECT * FROM jobs WHERE state = 'running' AND lease_expires_at < $1
             ORDER BY lease_expires_at LIMIT $2",
    }
}

/// Certification: the shared SQL (`certification::backend`) with integer
/// milliseconds, reads on the reader pool and writes on the `BEGIN IMMEDIATE` writer.
mod certify {
    use super::{ms, SqliteRepo};

    crate::store::db::certification::impl_certification_repo!(SqliteRepo, i64, ms, readers, "");
}

/// Retention and erasure: the shared SQL (`retention`) on the writer for
/// changes and the readers for finding what is due.
mod retention {
    use super::{ms, SqliteRepo};

    crate::store::db::retention::impl_retention_repo!(SqliteRepo, sqlx::Sqlite, i64, ms, readers);
}
