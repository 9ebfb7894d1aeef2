//! One implementation of `Repo`, `TokenRepo` and `UploadRepo` for both databases.
//!
//! Why a macro and not a function generic over `sqlx::Database`: the certification
//! SQL (`certification::backend`) already takes this shape, and one strategy for
//! all of the storage is easier to follow than two. A generic version would need
//! every bound type (`Uuid`, `Json`, the timestamp, `Option`s of each) spelled out
//! as `Encode`/`Type`/`Decode` bounds and `for<'c> &'c mut DB::Connection: Executor`
//! on every function, and those bounds say nothing about the queue; the macro
//! expands to plain code per backend that the compiler checks as written, inside
//! the backend's module, where its private pools and `begin` are in reach.
//!
//! What truly differs stays in the backend's own module and comes in as arguments:
//! the stored timestamp type and its conversion, which pool reads and single-statement
//! writes use, how a job is locked, claimed and found expired (`FOR UPDATE [SKIP
//! LOCKED]` on PostgreSQL; SQLite's `BEGIN IMMEDIATE` already keeps other writers
//! out), and the transactions themselves (`begin`, `begin_read`: inherent methods
//! each backend writes). A difference in behaviour between the two would be a bug
//! the conformance tests catch, not a feature.
macro_rules! impl_repo {
    (
        repo: $repo:ty,
        db: $db:ty,
        ts: $ts:ty => $to_db:path,
        reader: $reader:ident,
        writer: $writer:ident,
        lock_job: $lock_job:literal,
        claim_job: $claim_job:literal,
        expired_jobs: $expired_jobs:literal $(,)?
    ) => {
        use std::time::Duration;

        use async_trait::async_trait;
        use chrono::{DateTime, Utc};
        use sqlx::types::Json;
        use uuid::Uuid;

        use $crate::store::db::rows::{GradeRow, JobRow, SubmissionRow};
        use $crate::store::db::tokens::{validate_token, ApiToken, NewToken, TokenRepo, TokenRow};
        use $crate::store::db::uploads::{NewUpload, Upload, UploadRepo, UploadRow};
        use $crate::store::db::*;
        use $crate::store::queue::{self, AfterFailure, Fence};
        use $crate::store::DbError;

        type Ts = $ts;
        type Tx = sqlx::Transaction<'static, $db>;

        /// Most rows one rescuer pass touches, so one pass is one short transaction.
        const RESCUE_BATCH: i64 = 500;

        fn to_db(t: DateTime<Utc>) -> Ts {
            $to_db(t)
        }

        impl $repo {
            /// Reads a job and keeps other writers off it until the transaction ends.
            async fn lock_job(tx: &mut Tx, job_id: Uuid) -> Result<Job, DbError> {
                sqlx::query_as::<_, JobRow<Ts>>($lock_job)
                    .bind(job_id)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(DbError::db("locking a job"))?
                    .ok_or_else(|| DbError::NotFound {
                        what: "job",
                        id: job_id.to_string(),
                    })?
                    .into_domain()
            }

            async fn grade_of(
                exec: &mut <$db as sqlx::Database>::Connection,
                submission_id: Uuid,
            ) -> Result<Option<GradeRecord>, DbError> {
                sqlx::query_as::<_, GradeRow<Ts>>("SELECT * FROM grades WHERE submission_id = $1")
                    .bind(submission_id)
                    .fetch_optional(exec)
                    .await
                    .map_err(DbError::db("reading a grade"))?
                    .map(GradeRow::into_domain)
                    .transpose()
            }

            async fn set_submission(
                tx: &mut Tx,
                id: Uuid,
                status: SubmissionStatus,
                reason: Option<&str>,
                now: DateTime<Utc>,
            ) -> Result<(), DbError> {
                sqlx::query(
                    "UPDATE submissions SET status = $2, failure_reason = $3, updated_at = $4 WHERE id = $1",
                )
                .bind(id)
                .bind(status.as_str())
                .bind(reason)
                .bind(to_db(now))
                .execute(&mut **tx)
                .await
                .map_err(DbError::db("updating a submission"))?;
                Ok(())
            }

            /// One recorded rubric version, from `pool`.
            async fn read_rubric_version(
                pool: &sqlx::Pool<$db>,
                rubric_id: &str,
                version: u32,
            ) -> Result<Option<RubricVersion>, DbError> {
                use $crate::store::db::rows::DbTime;
                let row = sqlx::query_as::<_, (String, i64, String, String, Ts)>(
                    "SELECT rubric_id, version, sha256, body, first_used_at FROM rubric_versions
                     WHERE rubric_id = $1 AND version = $2",
                )
                .bind(rubric_id)
                .bind(i64::from(version))
                .fetch_optional(pool)
                .await
                .map_err(DbError::db("reading a rubric version"))?;
                row.map(|(rubric_id, version, sha256, body, at)| {
                    Ok(RubricVersion {
                        rubric_id,
                        version: u32::try_from(version).map_err(|_| {
                            DbError::Corrupt(format!("rubric version {version} out of range"))
                        })?,
                        sha256,
                        body,
                        first_used_at: at.to_utc()?,
                    })
                })
                .transpose()
            }

            /// Moves a running job to retryable or dead, updating its submission to match.
            async fn settle_failure(
                tx: &mut Tx,
                job: &Job,
                after: &AfterFailure,
                last_error: &str,
                now: DateTime<Utc>,
            ) -> Result<(), DbError> {
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
                .bind(to_db(run_at))
                .bind(last_error)
                .bind(to_db(now))
                .execute(&mut **tx)
                .await
                .map_err(DbError::db("recording a job failure"))?;
                Self::set_submission(tx, job.submission_id, status, reason, now).await
            }
        }

        #[async_trait]
        impl Repo for $repo {
            async fn create_submission_with_job(
                &self,
                new: &NewSubmission,
                job: &NewJob,
                now: DateTime<Utc>,
            ) -> Result<Created, DbError> {
                validate(new, job)?;
                let mut tx = self.begin().await?;
                // A conflict means an earlier committed submission: SQLite's writer holds
                // the write lock, and PostgreSQL's ON CONFLICT waits for a concurrent
                // insert of the same key to commit, then yields no row.
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
                .bind(to_db(now))
                .fetch_optional(&mut *tx)
                .await
                .map_err(DbError::db("inserting a submission"))?;

                let Some(row) = inserted else {
                    let existing = sqlx::query_as::<_, SubmissionRow<Ts>>(
                        "SELECT * FROM submissions WHERE rep_id = $1 AND idempotency_key = $2",
                    )
                    .bind(&new.rep_id)
                    .bind(&new.idempotency_key)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(DbError::db("reading a submission by idempotency key"))?
                    .into_domain()?;
                    let job_id: Uuid = sqlx::query_scalar(
                        "SELECT id FROM jobs WHERE submission_id = $1 ORDER BY created_at, id LIMIT 1",
                    )
                    .bind(existing.id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(DbError::db("reading a submission's job"))?;
                    tx.commit()
                        .await
                        .map_err(DbError::db("committing a read"))?;
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
                .bind(to_db(job.run_at))
                .bind(to_db(now))
                .execute(&mut *tx)
                .await
                .map_err(DbError::db("enqueueing a job"))?;
                tx.commit()
                    .await
                    .map_err(DbError::db("committing a new submission"))?;
                Ok(Created {
                    submission,
                    job_id,
                    created: true,
                })
            }

            async fn get_submission(&self, id: Uuid) -> Result<Option<SubmissionView>, DbError> {
                // One snapshot for both reads, so status and grade always agree.
                let mut tx = self.begin_read().await?;
                let submission =
                    sqlx::query_as::<_, SubmissionRow<Ts>>("SELECT * FROM submissions WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(DbError::db("reading a submission"))?;
                let Some(submission) = submission else {
                    return Ok(None);
                };
                let grade = Self::grade_of(&mut tx, id).await?;
                tx.commit().await.map_err(DbError::db("ending a read"))?;
                Ok(Some(SubmissionView {
                    submission: submission.into_domain()?,
                    grade,
                }))
            }

            async fn find_submission_by_idempotency_key(
                &self,
                rep_id: &str,
                idempotency_key: &str,
            ) -> Result<Option<Submission>, DbError> {
                let mut tx = self.begin_read().await?;
                let row = sqlx::query_as::<_, SubmissionRow<Ts>>(
                    "SELECT * FROM submissions WHERE rep_id = $1 AND idempotency_key = $2",
                )
                .bind(rep_id)
                .bind(idempotency_key)
                .fetch_optional(&mut *tx)
                .await
                .map_err(DbError::db("reading a submission by idempotency key"))?;
                tx.commit().await.map_err(DbError::db("ending a read"))?;
                row.map(SubmissionRow::into_domain).transpose()
            }

            async fn list_submissions(
                &self,
                rep_id: &str,
                limit: u32,
            ) -> Result<Vec<Submission>, DbError> {
                sqlx::query_as::<_, SubmissionRow<Ts>>(
                    "SELECT * FROM submissions WHERE rep_id = $1
                     ORDER BY created_at DESC, id DESC LIMIT $2",
                )
                .bind(rep_id)
                .bind(i64::from(limit.min(MAX_PAGE)))
                .fetch_all(&self.$reader)
                .await
                .map_err(DbError::db("listing submissions"))?
                .into_iter()
                .map(SubmissionRow::into_domain)
                .collect()
            }

            async fn graded_of_rubric(
                &self,
                filter: &GradedFilter,
                after: Option<(DateTime<Utc>, Uuid)>,
                limit: u32,
            ) -> Result<Vec<(Uuid, DateTime<Utc>)>, DbError> {
                let rows: Vec<(Uuid, Ts)> = sqlx::query_as(
                    "SELECT s.id, s.created_at FROM submissions s
                     WHERE s.rubric_id = $1
                       AND EXISTS (SELECT 1 FROM grades g WHERE g.submission_id = s.id)
                       AND ($2 IS NULL OR s.created_at >= $2)
                       AND ($3 IS NULL OR s.rep_id IN (SELECT r.id FROM reps r WHERE r.firm_id = $3))
                       AND ($4 IS NULL OR s.created_at > $4 OR (s.created_at = $4 AND s.id > $5))
                     ORDER BY s.created_at, s.id LIMIT $6",
                )
                .bind(&filter.rubric_id)
                .bind(filter.since.map(to_db))
                .bind(filter.firm_id.as_deref())
                .bind(after.map(|(t, _)| to_db(t)))
                .bind(after.map(|(_, id)| id))
                .bind(i64::from(limit.min(MAX_PAGE)))
                .fetch_all(&self.$reader)
                .await
                .map_err(DbError::db("listing graded submissions of a rubric"))?;
                use $crate::store::db::rows::DbTime;
                rows.into_iter()
                    .map(|(id, at)| Ok((id, at.to_utc()?)))
                    .collect()
            }

            async fn get_job(&self, id: Uuid) -> Result<Option<Job>, DbError> {
                sqlx::query_as::<_, JobRow<Ts>>("SELECT * FROM jobs WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.$reader)
                    .await
                    .map_err(DbError::db("reading a job"))?
                    .map(JobRow::into_domain)
                    .transpose()
            }

            async fn queue_depth(&self) -> Result<QueueDepth, DbError> {
                let rows: Vec<(String, i64)> =
                    sqlx::query_as("SELECT state, count(*) FROM jobs GROUP BY state")
                        .fetch_all(&self.$reader)
                        .await
                        .map_err(DbError::db("counting jobs"))?;
                depth_from(rows)
            }

            async fn claim(
                &self,
                worker_id: &str,
                lease: Duration,
                now: DateTime<Utc>,
            ) -> Result<Option<ClaimedJob>, DbError> {
                let expires = queue::lease_deadline(now, lease)?;
                let mut tx = self.begin().await?;
                let row = sqlx::query_as::<_, JobRow<Ts>>($claim_job)
                .bind(to_db(now))
                .bind(worker_id)
                .bind(to_db(expires))
                .fetch_optional(&mut *tx)
                .await
                .map_err(DbError::db("claiming a job"))?;
                let Some(row) = row else {
                    tx.commit()
                        .await
                        .map_err(DbError::db("ending a claim"))?;
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
                    .map_err(DbError::db("committing a claim"))?;
                Ok(Some(claimed(job, expires)))
            }

            async fn heartbeat(
                &self,
                job_id: Uuid,
                attempt: u32,
                lease: Duration,
                now: DateTime<Utc>,
            ) -> Result<DateTime<Utc>, DbError> {
                let expires = queue::lease_deadline(now, lease)?;
                let done = sqlx::query(
                    "UPDATE jobs SET lease_expires_at = $3, heartbeat_at = $4, updated_at = $4
                     WHERE id = $1 AND attempt = $2 AND state = 'running'",
                )
                .bind(job_id)
                .bind(to_i32(attempt, "attempt")?)
                .bind(to_db(expires))
                .bind(to_db(now))
                .execute(&self.$writer)
                .await
                .map_err(DbError::db("extending a lease"))?;
                if done.rows_affected() == 1 {
                    Ok(expires)
                } else {
                    Err(DbError::Fenced { job_id, attempt })
                }
            }

            async fn complete(
                &self,
                job_id: Uuid,
                attempt: u32,
                grade: &NewGrade,
                now: DateTime<Utc>,
            ) -> Result<GradeRecord, DbError> {
                let mut tx = self.begin().await?;
                let job = Self::lock_job(&mut tx, job_id).await?;
                if queue::check_fence(&job, attempt, Some(JobState::Completed))? == Fence::AlreadyDone {
                    return Self::grade_of(&mut tx, job.submission_id)
                        .await?
                        .ok_or_else(|| {
                            DbError::Corrupt(format!("completed job {job_id} has no grade"))
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
                .bind(to_db(now))
                .execute(&mut *tx)
                .await
                .map_err(DbError::db("writing a grade"))?;
                let stored = Self::grade_of(&mut tx, job.submission_id)
                    .await?
                    .ok_or_else(|| DbError::Corrupt("grade vanished while writing it".into()))?;
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
                .bind(to_db(now))
                .execute(&mut *tx)
                .await
                .map_err(DbError::db("completing a job"))?;
                tx.commit()
                    .await
                    .map_err(DbError::db("committing a grade"))?;
                Ok(stored)
            }

            async fn fail_transient(
                &self,
                job_id: Uuid,
                attempt: u32,
                error: &str,
                now: DateTime<Utc>,
            ) -> Result<FailOutcome, DbError> {
                let error = &*queue::bounded_reason(error);
                let mut tx = self.begin().await?;
                let job = Self::lock_job(&mut tx, job_id).await?;
                queue::check_fence(&job, attempt, None)?;
                let after =
                    queue::after_transient_failure(&self.retry, attempt, job.max_attempts, now)?;
                Self::settle_failure(&mut tx, &job, &after, error, now).await?;
                tx.commit()
                    .await
                    .map_err(DbError::db("committing a failure"))?;
                Ok(after.into())
            }

            async fn fail_permanent(
                &self,
                job_id: Uuid,
                attempt: u32,
                reason: &str,
                detail: &str,
                now: DateTime<Utc>,
            ) -> Result<(), DbError> {
                let reason = &*queue::bounded_reason(reason);
                let detail = &*queue::bounded_reason(detail);
                let mut tx = self.begin().await?;
                let job = Self::lock_job(&mut tx, job_id).await?;
                if queue::check_fence(&job, attempt, Some(JobState::Dead))? == Fence::AlreadyDone {
                    return Ok(());
                }
                let after = AfterFailure::Dead {
                    reason: reason.to_string(),
                };
                Self::settle_failure(&mut tx, &job, &after, detail, now).await?;
                tx.commit()
                    .await
                    .map_err(DbError::db("committing a failure"))
            }

            async fn rescue_expired(&self, now: DateTime<Utc>) -> Result<Rescued, DbError> {
                let mut tx = self.begin().await?;
                let expired = sqlx::query_as::<_, JobRow<Ts>>($expired_jobs)
                .bind(to_db(now))
                .bind(RESCUE_BATCH)
                .fetch_all(&mut *tx)
                .await
                .map_err(DbError::db("finding expired leases"))?;
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
                    .map_err(DbError::db("committing a rescue"))?;
                Ok(rescued)
            }

            async fn record_rubric_version(
                &self,
                rubric_id: &str,
                version: u32,
                sha256: &str,
                body: &str,
                now: DateTime<Utc>,
            ) -> Result<RubricVersion, DbError> {
                sqlx::query(
                    "INSERT INTO rubric_versions (rubric_id, version, sha256, body, first_used_at)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (rubric_id, version) DO NOTHING",
                )
                .bind(rubric_id)
                .bind(i64::from(version))
                .bind(sha256)
                .bind(body)
                .bind(to_db(now))
                .execute(&self.$writer)
                .await
                .map_err(DbError::db("recording a rubric version"))?;
                // Read from the writer: the row may be the one just written.
                Self::read_rubric_version(&self.$writer, rubric_id, version)
                    .await?
                    .ok_or_else(|| DbError::Corrupt(format!(
                        "rubric {rubric_id} v{version} vanished after it was recorded"
                    )))
            }

            async fn rubric_version(
                &self,
                rubric_id: &str,
                version: u32,
            ) -> Result<Option<RubricVersion>, DbError> {
                Self::read_rubric_version(&self.$reader, rubric_id, version).await
            }

            async fn lock_rep_intake(&self, rep_id: &str) -> Result<RepLock, DbError> {
                self.hold_rep(rep_id).await
            }

            async fn health_check(&self) -> Result<(), DbError> {
                sqlx::query("SELECT 1")
                    .execute(&self.$reader)
                    .await
                    .map_err(DbError::db("checking the database answers"))?;
                Ok(())
            }
        }

        #[async_trait]
        impl TokenRepo for $repo {
            async fn create_token(
                &self,
                new: &NewToken,
                now: DateTime<Utc>,
            ) -> Result<ApiToken, DbError> {
                validate_token(new)?;
                sqlx::query_as::<_, TokenRow<Ts>>(
                    "INSERT INTO api_tokens (id, token_hash, role, rep_id, label, created_at, expires_at, firm_id,
                         display_name)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     RETURNING id, role, rep_id, firm_id, label, display_name, created_at, revoked_at, expires_at",
                )
                .bind(Uuid::now_v7())
                .bind(&new.token_hash)
                .bind(new.role.as_str())
                .bind(&new.rep_id)
                .bind(&new.label)
                .bind(to_db(now))
                .bind(new.expires_at.map(to_db))
                .bind(new.firm_id.as_deref().map(str::trim))
                .bind(new.display_name.trim())
                .fetch_one(&self.$writer)
                .await
                .map_err(DbError::db("storing a token"))?
                .into_domain()
            }

            async fn find_token(&self, token_hash: &str) -> Result<Option<ApiToken>, DbError> {
                sqlx::query_as::<_, TokenRow<Ts>>(
                    "SELECT id, role, rep_id, firm_id, label, display_name, created_at, revoked_at, expires_at FROM api_tokens
                     WHERE token_hash = $1 AND revoked_at IS NULL",
                )
                .bind(token_hash)
                .fetch_optional(&self.$reader)
                .await
                .map_err(DbError::db("looking up a token"))?
                .map(TokenRow::into_domain)
                .transpose()
            }

            async fn get_token(&self, id: Uuid) -> Result<Option<ApiToken>, DbError> {
                sqlx::query_as::<_, TokenRow<Ts>>("SELECT id, role, rep_id, firm_id, label, display_name, created_at, revoked_at, expires_at FROM api_tokens WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.$reader)
                    .await
                    .map_err(DbError::db("reading a token"))?
                    .map(TokenRow::into_domain)
                    .transpose()
            }

            async fn create_session(
                &self,
                id_hash: &str,
                token_hash: &str,
                now: DateTime<Utc>,
                expires_at: DateTime<Utc>,
            ) -> Result<(), DbError> {
                let mut tx = self.begin().await?;
                sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1")
                    .bind(to_db(now))
                    .execute(&mut *tx)
                    .await
                    .map_err(DbError::db("sweeping ended sessions"))?;
                sqlx::query(
                    "INSERT INTO web_sessions (id_hash, token_hash, created_at, expires_at)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(id_hash)
                .bind(token_hash)
                .bind(to_db(now))
                .bind(to_db(expires_at))
                .execute(&mut *tx)
                .await
                .map_err(DbError::db("starting a session"))?;
                tx.commit()
                    .await
                    .map_err(DbError::db("committing a session"))
            }

            async fn find_session(
                &self,
                id_hash: &str,
                now: DateTime<Utc>,
            ) -> Result<Option<String>, DbError> {
                sqlx::query_scalar::<_, String>(
                    "SELECT token_hash FROM web_sessions WHERE id_hash = $1 AND expires_at > $2",
                )
                .bind(id_hash)
                .bind(to_db(now))
                .fetch_optional(&self.$reader)
                .await
                .map_err(DbError::db("looking up a session"))
            }

            async fn end_session(&self, id_hash: &str) -> Result<(), DbError> {
                sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1")
                    .bind(id_hash)
                    .execute(&self.$writer)
                    .await
                    .map_err(DbError::db("ending a session"))?;
                Ok(())
            }

            async fn revoke_token(&self, id: Uuid, now: DateTime<Utc>) -> Result<bool, DbError> {
                let done = sqlx::query(
                    "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                )
                .bind(id)
                .bind(to_db(now))
                .execute(&self.$writer)
                .await
                .map_err(DbError::db("revoking a token"))?;
                Ok(done.rows_affected() > 0)
            }
        }

        #[async_trait]
        impl UploadRepo for $repo {
            async fn create_upload(
                &self,
                new: &NewUpload,
                now: DateTime<Utc>,
            ) -> Result<Upload, DbError> {
                sqlx::query_as::<_, UploadRow<Ts>>(
                    "INSERT INTO uploads (id, rep_id, rubric_id, object_key, idempotency_key,
                         expires_at, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)
                     RETURNING *",
                )
                .bind(Uuid::now_v7())
                .bind(&new.rep_id)
                .bind(&new.rubric_id)
                .bind(&new.object_key)
                .bind(&new.idempotency_key)
                .bind(to_db(new.expires_at))
                .bind(to_db(now))
                .fetch_one(&self.$writer)
                .await
                .map_err(DbError::db("storing an upload"))?
                .into_domain()
            }

            async fn get_upload(&self, id: Uuid) -> Result<Option<Upload>, DbError> {
                sqlx::query_as::<_, UploadRow<Ts>>("SELECT * FROM uploads WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.$reader)
                    .await
                    .map_err(DbError::db("reading an upload"))?
                    .map(UploadRow::into_domain)
                    .transpose()
            }

            async fn find_upload_by_key(&self, object_key: &str) -> Result<Option<Upload>, DbError> {
                sqlx::query_as::<_, UploadRow<Ts>>("SELECT * FROM uploads WHERE object_key = $1")
                    .bind(object_key)
                    .fetch_optional(&self.$reader)
                    .await
                    .map_err(DbError::db("reading an upload by key"))?
                    .map(UploadRow::into_domain)
                    .transpose()
            }

            async fn set_upload_submission(&self, id: Uuid, submission_id: Uuid) -> Result<(), DbError> {
                sqlx::query("UPDATE uploads SET submission_id = $2 WHERE id = $1")
                    .bind(id)
                    .bind(submission_id)
                    .execute(&self.$writer)
                    .await
                    .map_err(DbError::db("completing an upload"))?;
                Ok(())
            }
        }
    };
}

pub(crate) use impl_repo;
