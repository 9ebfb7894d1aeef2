//! PostgreSQL repository: the distributed shape. Many workers on many machines
//! claim from one jobs table; `FOR UPDATE SKIP LOCKED` lets them do so without
//! waiting on each other, and row locks serialise the writes to one job.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use async_trait::async_trait;

use super::rep_lock::{RepLock, RepMutexes, SharedLock};
use super::ConnectOptions;
use crate::store::queue::JobBackoff;
use crate::store::DbError;

type Ts = DateTime<Utc>;
type Tx = Transaction<'static, Postgres>;

/// `timestamptz` takes the time as it is; SQLite's counterpart converts to milliseconds.
fn ts(t: DateTime<Utc>) -> Ts {
    t
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src/store/db/postgres/migrations");

pub(crate) struct PgRepo {
    pool: PgPool,
    retry: JobBackoff,
    /// Intakes of one rep, one at a time, first in this process (`rep_lock`)…
    reps: RepMutexes,
    /// …then across processes: a few connections of their own that only hold
    /// advisory locks, so a burst of reps locking never takes the connections
    /// their retake checks read with.
    locks: PgPool,
}

/// Advisory-lock class of rep intakes (the first key of the two-key form), so
/// they cannot collide with any other advisory lock on the database.
const REP_INTAKE_LOCK_CLASS: i32 = 0x7067_0001;

/// Connections kept for holding rep-intake locks.
const LOCK_CONNECTIONS: u32 = 4;

/// The advisory lock's transaction: ending it, by commit or by drop, unlocks.
struct HeldAdvisoryLock(Tx);

#[async_trait]
impl SharedLock for HeldAdvisoryLock {
    async fn release(self: Box<Self>) -> Result<(), DbError> {
        self.0
            .commit()
            .await
            .map_err(DbError::db("releasing a rep's intake lock"))
    }
}

impl PgRepo {
    pub(crate) async fn connect(url: &str, options: ConnectOptions) -> Result<Self, DbError> {
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(DbError::db("connecting to PostgreSQL"))?;
        // The migrator takes an advisory lock, so workers starting together are safe.
        MIGRATOR.run(&pool).await?;
        let locks = PgPoolOptions::new()
            .max_connections(LOCK_CONNECTIONS)
            // Waiting here is waiting for other intakes to finish, which is
            // legitimate under a burst; the main pool's 10 s would refuse it.
            .acquire_timeout(Duration::from_secs(30))
            .connect_lazy(url)
            .map_err(DbError::db("connecting to PostgreSQL"))?;
        Ok(PgRepo {
            pool,
            retry: options.retry,
            reps: RepMutexes::default(),
            locks,
        })
    }

    async fn hold_rep(&self, rep_id: &str) -> Result<RepLock, DbError> {
        let local = self.reps.lock(rep_id).await;
        let mut tx = self
            .locks
            .begin()
            .await
            .map_err(DbError::db("starting a rep's intake lock"))?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(REP_INTAKE_LOCK_CLASS)
            .bind(rep_id)
            .execute(&mut *tx)
            .await
            .map_err(DbError::db("taking a rep's intake lock"))?;
        Ok(RepLock::new(local, Some(Box::new(HeldAdvisoryLock(tx)))))
    }

    async fn begin(&self) -> Result<Tx, DbError> {
        self.pool
            .begin()
            .await
            .map_err(DbError::db("starting a transaction"))
    }

    /// One snapshot for several reads, so what they return always agrees.
    async fn begin_read(&self) -> Result<Tx, DbError> {
        self.pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(DbError::db("starting a read"))
    }
}

/// Submissions, the job queue, tokens and uploads: the shared SQL
/// (`db::backend`). Row locks serialise the writes to one job; a claim and the
/// rescuer skip rows another transaction holds instead of waiting on them (a
/// job being completed right now is not expired: leave it be).
mod shared {
    use super::{ts, PgRepo};

    crate::store::db::backend::impl_repo! {
        repo: PgRepo,
        db: sqlx::Postgres,
        ts: super::Ts => ts,
        reader: pool,
        writer: pool,
        lock_job: "SELECT * FROM jobs WHERE id = $1 FOR UPDATE",
        claim_job: "WITH next AS (
                 SELECT id FROM jobs
                 WHERE state IN ('available', 'retryable') AND run_at <= $1
                 ORDER BY run_at, id
                 LIMIT 1
                 FOR UPDATE SKIP LOCKED
             )
             UPDATE jobs SET state = 'running', attempt = jobs.attempt + 1, lease_owner = $2,
                 lease_expires_at = $3, heartbeat_at = $1, updated_at = $1
             FROM next WHERE jobs.id = next.id
             RETURNING jobs.*",
        expired_jobs: "SELECT * FROM jobs WHERE state = 'running' AND lease_expires_at < $1
             ORDER BY lease_expires_at LIMIT $2
             FOR UPDATE SKIP LOCKED",
    }
}

/// Certification: the shared SQL (`certification::backend`) with `timestamptz`
/// columns; claims skip rows another process has locked instead of waiting on them.
mod certify {
    use super::{ts, PgRepo};

    crate::store::db::certification::impl_certification_repo!(
        PgRepo,
        super::Ts,
        ts,
        pool,
        "FOR UPDATE SKIP LOCKED"
    );
}

/// Retention and erasure: the shared SQL (`retention`).
mod retention {
    use super::{ts, PgRepo};

    crate::store::db::retention::impl_retention_repo!(PgRepo, sqlx::Postgres, super::Ts, ts, pool);
}
