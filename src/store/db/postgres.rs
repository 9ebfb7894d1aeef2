//! PostgreSQL repository: the distributed shape. Many workers on many machines
//! claim from one jobs table; `FOR UPDATE SKIP LOCKED` lets them do so without
//! waiting on each other, and row locks serialise the writes to one job.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::types::Json;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::rows::{GradeRow, JobRow, SubmissionRow};
use super::*;
use crate::store::queue::{self, AfterFailure, Fence, RetryPolicy};
use crate::store::StoreError;

mod certify;

type Ts = DateTime<Utc>;
type Tx = Transaction<'static, Postgres>;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Most rows one rescuer pass touches, so one pass is one short transaction.
const RESCUE_BATCH: i64 = 500;

pub(crate) struct PgRepo {
    pool: PgPool,
    retry: RetryPolicy,
}

impl PgRepo {
    pub(crate) async fn connect(url: &str, options: ConnectOptions) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(StoreError::db("connecting to PostgreSQL"))?;
        // The migrator takes an advisory lock, so workers starting together are safe.
        MIGRATOR.run(&pool).await?;
        Ok(PgRepo {
            pool,
            retry: options.retry,
        })
    }

    async fn begin(&self) -> Result<Tx, StoreError> {
        self.pool
            .begin()
            .await
            .map_err(StoreError::db("starting a transaction"))
    }

    /// Reads a job and locks it for the rest of the transaction.
    async fn lock_job(tx: &mut Tx, job_id: Uuid) -> Result<Job, StoreError> {
        sqlx::query_as::<_, JobRow<Ts>>("SELECT * FROM jobs WHERE id = $1 FOR UPDATE")
            .bind(job_id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(StoreError::db("locking a job"))?
            .ok_or_else(|| StoreError::NotFound {
                what: "job",
                id: job_id.to_string(),
            })?
            .into_domain()
    }

    async fn grade_of(
        exec: &mut sqlx::PgConnection,
        submission_id: Uuid,
    ) -> Result<Option<Grade>, StoreError> {
        sqlx::query_as::<_, GradeRow<Ts>>("SELECT * FROM grades WHERE submission_id = $1")
            .bind(submission_id)
            .fetch_optional(exec)
            .await
            .map_err(StoreError::db("reading a grade"))?
            .map(GradeRow::into_domain)
            .transpose()
    }

    async fn set_submission(
        tx: &mut Tx,
        id: Uuid,
        status: SubmissionStatus,
        reason: Option<&str>,
        now: Ts,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE submissions SET status = $2, failure_reason = $3, updated_at = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(reason)
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(StoreError::db("updating a submission"))?;
        Ok(())
    }

    /// Moves a running job to retryable or dead, updating its submission to match.
    async fn settle_failure(
        tx: &mut Tx,
        job: &Job,
        after: &AfterFailure,
        last_error: &str,
        now: Ts,
    ) -> Result<(), StoreError> {
        let (state, run_at, status, reason) = match after {
            AfterFailure::Retry { run_at } => {
                (JobState::Retryable, *run_at, SubmissionStatus::Queued, None)
            }
            AfterFailure::Dead { reason } => (
                JobState::Dead,
                job.run_at,
                SubmissionStatus::Failed,
                Some(reason.as_str()),
            ),
        };
        sqlx::query(
            "UPDATE jobs SET state = $2, run_at = $3, last_error = $4, lease_owner = NULL,
                 lease_expires_at = NULL, updated_at = $5
             WHERE id = $1",
        )
        .bind(job.id)
        .bind(state.as_str())
        .bind(run_at)
        .bind(last_error)
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(StoreError::db("recording a job failure"))?;
        Self::set_submission(tx, job.submission_id, status, reason, now).await
    }
}

#[async_trait]
impl Repo for PgRepo {
    async fn create_submission_with_job(
        &self,
        new: &NewSubmission,
        job: &NewJob,
        now: Ts,
    ) -> Result<Created, StoreError> {
        validate(new, job)?;
        let mut tx = self.begin().await?;
        // ON CONFLICT waits for a concurrent insert of the same key to commit, then
        // yields no row; the earlier submission is read back below.
        let inserted = sqlx::query_as::<_, SubmissionRow<Ts>>(
            "INSERT INTO submissions (id, rep_id, rubric_id, object_key, content_type, byte_size,
                 status, idempotency_key, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, $8, $8)
             ON CONFLICT (rep_id, idempotency_key) DO NOTHING
             RETURNING *",
        )
        .bind(Uuid::now_v7())
        .bind(&new.rep_id)
        .bind(&new.rubric_id)
        .bind(&new.object_key)
        .bind(&new.content_type)
        .bind(new.byte_size as i64)
        .bind(&new.idempotency_key)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::db("inserting a submission"))?;

        let Some(row) = inserted else {
            let existing = sqlx::query_as::<_, SubmissionRow<Ts>>(
                "SELECT * FROM submissions WHERE rep_id = $1 AND idempotency_key = $2",
            )
            .bind(&new.rep_id)
            .bind(&new.idempotency_key)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::db("reading a submission by idempotency key"))?
            .into_domain()?;
            let job_id: Uuid = sqlx::query_scalar(
                "SELECT id FROM jobs WHERE submission_id = $1 ORDER BY created_at, id LIMIT 1",
            )
            .bind(existing.id)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::db("reading a submission's job"))?;
            tx.commit()
                .await
                .map_err(StoreError::db("committing a read"))?;
            return replay(existing, job_id, new);
        };
        let submission = row.into_domain()?;
        let job_id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO jobs (id, submission_id, kind, state, attempt, max_attempts, run_at,
                 created_at, updated_at)
             VALUES ($1, $2, $3, 'available', 0, $4, $5, $6, $6)",
        )
        .bind(job_id)
        .bind(submission.id)
        .bind(job.kind.as_str())
        .bind(to_i32(job.max_attempts, "max_attempts")?)
        .bind(job.run_at)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::db("enqueueing a job"))?;
        tx.commit()
            .await
            .map_err(StoreError::db("committing a new submission"))?;
        Ok(Created {
            submission,
            job_id,
            created: true,
        })
    }

    async fn get_submission(&self, id: Uuid) -> Result<Option<SubmissionView>, StoreError> {
        // One snapshot for both reads, so status and grade always agree.
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(StoreError::db("starting a read"))?;
        let submission =
            sqlx::query_as::<_, SubmissionRow<Ts>>("SELECT * FROM submissions WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::db("reading a submission"))?;
        let Some(submission) = submission else {
            return Ok(None);
        };
        let grade = Self::grade_of(&mut tx, id).await?;
        tx.commit().await.map_err(StoreError::db("ending a read"))?;
        Ok(Some(SubmissionView {
            submission: submission.into_domain()?,
            grade,
        }))
    }

    async fn list_submissions(
        &self,
        rep_id: &str,
        limit: u32,
    ) -> Result<Vec<Submission>, StoreError> {
        sqlx::query_as::<_, SubmissionRow<Ts>>(
            "SELECT * FROM submissions WHERE rep_id = $1
             ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(rep_id)
        .bind(i64::from(limit.min(MAX_PAGE)))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::db("listing submissions"))?
        .into_iter()
        .map(SubmissionRow::into_domain)
        .collect()
    }

    async fn find_submission_by_idempotency_key(
        &self,
        rep_id: &str,
        idempotency_key: &str,
    ) -> Result<Option<Submission>, StoreError> {
        sqlx::query_as::<_, SubmissionRow<Ts>>(
            "SELECT * FROM submissions WHERE rep_id = $1 AND idempotency_key = $2",
        )
        .bind(rep_id)
        .bind(idempotency_key)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::db("reading a submission by idempotency key"))?
        .map(SubmissionRow::into_domain)
        .transpose()
    }

    async fn get_job(&self, id: Uuid) -> Result<Option<Job>, StoreError> {
        sqlx::query_as::<_, JobRow<Ts>>("SELECT * FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::db("reading a job"))?
            .map(JobRow::into_domain)
            .transpose()
    }

    async fn queue_depth(&self) -> Result<QueueDepth, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, count(*) FROM jobs GROUP BY state")
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::db("counting jobs"))?;
        depth_from(rows)
    }

    async fn claim(
        &self,
        worker_id: &str,
        lease: Duration,
        now: Ts,
    ) -> Result<Option<ClaimedJob>, StoreError> {
        let expires = queue::lease_deadline(now, lease)?;
        let mut tx = self.begin().await?;
        let row = sqlx::query_as::<_, JobRow<Ts>>(
            "WITH next AS (
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
        )
        .bind(now)
        .bind(worker_id)
        .bind(expires)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::db("claiming a job"))?;
        let Some(row) = row else {
            tx.commit()
                .await
                .map_err(StoreError::db("ending a claim"))?;
            return Ok(None);
        };
        let job = row.into_domain()?;
        Self::set_submission(
            &mut tx,
            job.submission_id,
            SubmissionStatus::Processing,
            None,
            now,
        )
        .await?;
        tx.commit()
            .await
            .map_err(StoreError::db("committing a claim"))?;
        Ok(Some(claimed(job, expires)))
    }

    async fn heartbeat(
        &self,
        job_id: Uuid,
        attempt: u32,
        lease: Duration,
        now: Ts,
    ) -> Result<Ts, StoreError> {
        let expires = queue::lease_deadline(now, lease)?;
        let done = sqlx::query(
            "UPDATE jobs SET lease_expires_at = $3, heartbeat_at = $4, updated_at = $4
             WHERE id = $1 AND attempt = $2 AND state = 'running'",
        )
        .bind(job_id)
        .bind(to_i32(attempt, "attempt")?)
        .bind(expires)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("extending a lease"))?;
        if done.rows_affected() == 1 {
            Ok(expires)
        } else {
            Err(StoreError::Fenced { job_id, attempt })
        }
    }

    async fn complete(
        &self,
        job_id: Uuid,
        attempt: u32,
        grade: &NewGrade,
        now: Ts,
    ) -> Result<Grade, StoreError> {
        let mut tx = self.begin().await?;
        let job = Self::lock_job(&mut tx, job_id).await?;
        if queue::check_fence(&job, attempt, Some(JobState::Completed))? == Fence::AlreadyDone {
            return Self::grade_of(&mut tx, job.submission_id)
                .await?
                .ok_or_else(|| {
                    StoreError::Corrupt(format!("completed job {job_id} has no grade"))
                });
        }
        // Unique per submission: should another path have graded it, keep that grade.
        sqlx::query(
            "INSERT INTO grades (id, submission_id, job_id, attempt, decision, score, grade, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (submission_id) DO NOTHING",
        )
        .bind(Uuid::now_v7())
        .bind(job.submission_id)
        .bind(job.id)
        .bind(to_i32(attempt, "attempt")?)
        .bind(decision_text(grade.decision))
        .bind(grade.score)
        .bind(Json(&grade.grade))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::db("writing a grade"))?;
        let stored = Self::grade_of(&mut tx, job.submission_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("grade vanished while writing it".into()))?;
        Self::set_submission(
            &mut tx,
            job.submission_id,
            status_for(stored.decision),
            None,
            now,
        )
        .await?;
        sqlx::query(
            "UPDATE jobs SET state = 'completed', lease_owner = NULL, lease_expires_at = NULL,
                 last_error = NULL, updated_at = $2
             WHERE id = $1",
        )
        .bind(job.id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::db("completing a job"))?;
        tx.commit()
            .await
            .map_err(StoreError::db("committing a grade"))?;
        Ok(stored)
    }

    async fn fail_transient(
        &self,
        job_id: Uuid,
        attempt: u32,
        error: &str,
        now: Ts,
    ) -> Result<FailOutcome, StoreError> {
        let error = &*queue::bounded_reason(error);
        let mut tx = self.begin().await?;
        let job = Self::lock_job(&mut tx, job_id).await?;
        queue::check_fence(&job, attempt, None)?;
        let after =
            queue::after_transient_failure(&self.retry, attempt, job.max_attempts, error, now)?;
        Self::settle_failure(&mut tx, &job, &after, error, now).await?;
        tx.commit()
            .await
            .map_err(StoreError::db("committing a failure"))?;
        Ok(after.into())
    }

    async fn fail_permanent(
        &self,
        job_id: Uuid,
        attempt: u32,
        reason: &str,
        now: Ts,
    ) -> Result<(), StoreError> {
        let reason = &*queue::bounded_reason(reason);
        let mut tx = self.begin().await?;
        let job = Self::lock_job(&mut tx, job_id).await?;
        if queue::check_fence(&job, attempt, Some(JobState::Dead))? == Fence::AlreadyDone {
            return Ok(());
        }
        let after = AfterFailure::Dead {
            reason: reason.to_string(),
        };
        Self::settle_failure(&mut tx, &job, &after, reason, now).await?;
        tx.commit()
            .await
            .map_err(StoreError::db("committing a failure"))
    }

    async fn rescue_expired(&self, now: Ts) -> Result<Rescued, StoreError> {
        let mut tx = self.begin().await?;
        // SKIP LOCKED: a job being completed right now is not expired, leave it be.
        let expired = sqlx::query_as::<_, JobRow<Ts>>(
            "SELECT * FROM jobs WHERE state = 'running' AND lease_expires_at < $1
             ORDER BY lease_expires_at LIMIT $2
             FOR UPDATE SKIP LOCKED",
        )
        .bind(now)
        .bind(RESCUE_BATCH)
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::db("finding expired leases"))?;
        let mut rescued = Rescued::default();
        for row in expired {
            let job = row.into_domain()?;
            let after = queue::after_lease_expired(job.attempt, job.max_attempts, now);
            let note = "lease expired: the worker stopped heartbeating";
            Self::settle_failure(&mut tx, &job, &after, note, now).await?;
            match after {
                AfterFailure::Retry { .. } => rescued.retried += 1,
                AfterFailure::Dead { .. } => rescued.dead += 1,
            }
        }
        tx.commit()
            .await
            .map_err(StoreError::db("committing a rescue"))?;
        Ok(rescued)
    }
}

// The API's tables (tokens, direct uploads), one file each.
mod tokens;
mod uploads;
