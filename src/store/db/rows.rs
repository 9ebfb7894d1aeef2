//! Row shapes shared by both backends. They differ only in how a timestamp is
//! stored (PostgreSQL `timestamptz`, SQLite integer milliseconds, which compare
//! correctly as numbers where SQLite's text timestamps would not), so rows are
//! generic over the timestamp type and convert through `DbTime`.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use super::{parse_decision, to_u32, GradeRecord, Job, Submission, Tombstone};
use crate::store::DbError;

pub(crate) trait DbTime {
    fn to_utc(self) -> Result<DateTime<Utc>, DbError>;
}

impl DbTime for DateTime<Utc> {
    fn to_utc(self) -> Result<DateTime<Utc>, DbError> {
        Ok(self)
    }
}

impl DbTime for i64 {
    fn to_utc(self) -> Result<DateTime<Utc>, DbError> {
        DateTime::from_timestamp_millis(self)
            .ok_or_else(|| DbError::Corrupt(format!("timestamp {self} ms is out of range")))
    }
}

fn opt<T: DbTime>(t: Option<T>) -> Result<Option<DateTime<Utc>>, DbError> {
    t.map(DbTime::to_utc).transpose()
}

#[derive(sqlx::FromRow)]
pub(crate) struct SubmissionRow<T> {
    id: Uuid,
    rep_id: String,
    rubric_id: String,
    object_key: String,
    content_type: String,
    byte_size: i64,
    status: String,
    failure_reason: Option<String>,
    idempotency_key: Option<String>,
    created_at: T,
    updated_at: T,
    recording_deleted_at: Option<T>,
    recording_deleted_reason: Option<String>,
    transcript_deleted_at: Option<T>,
}

impl<T: DbTime> SubmissionRow<T> {
    pub(crate) fn into_domain(self) -> Result<Submission, DbError> {
        Ok(Submission {
            id: self.id,
            rep_id: self.rep_id,
            rubric_id: self.rubric_id,
            object_key: self.object_key,
            content_type: self.content_type,
            byte_size: u64::try_from(self.byte_size)
                .map_err(|_| DbError::Corrupt(format!("negative byte size {}", self.byte_size)))?,
            status: self.status.parse()?,
            failure_reason: self.failure_reason,
            idempotency_key: self.idempotency_key,
            created_at: self.created_at.to_utc()?,
            updated_at: self.updated_at.to_utc()?,
            recording_deleted: match self.recording_deleted_at {
                Some(at) => Some(Tombstone {
                    at: at.to_utc()?,
                    reason: self.recording_deleted_reason.unwrap_or_default(),
                }),
                None => None,
            },
            transcript_deleted_at: self.transcript_deleted_at.map(DbTime::to_utc).transpose()?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct GradeRow<T> {
    id: Uuid,
    submission_id: Uuid,
    job_id: Uuid,
    attempt: i32,
    decision: String,
    score: f64,
    grade: Json<serde_json::Value>,
    created_at: T,
}

impl<T: DbTime> GradeRow<T> {
    pub(crate) fn into_domain(self) -> Result<GradeRecord, DbError> {
        Ok(GradeRecord {
            id: self.id,
            submission_id: self.submission_id,
            job_id: self.job_id,
            attempt: to_u32(self.attempt, "attempt")?,
            decision: parse_decision(&self.decision)?,
            score: self.score,
            grade: self.grade.0,
            created_at: self.created_at.to_utc()?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct JobRow<T> {
    id: Uuid,
    submission_id: Uuid,
    kind: String,
    state: String,
    attempt: i32,
    max_attempts: i32,
    run_at: T,
    lease_owner: Option<String>,
    lease_expires_at: Option<T>,
    heartbeat_at: Option<T>,
    last_error: Option<String>,
    created_at: T,
    updated_at: T,
}

impl<T: DbTime> JobRow<T> {
    pub(crate) fn into_domain(self) -> Result<Job, DbError> {
        Ok(Job {
            id: self.id,
            submission_id: self.submission_id,
            kind: self.kind.parse()?,
            state: self.state.parse()?,
            attempt: to_u32(self.attempt, "attempt")?,
            max_attempts: to_u32(self.max_attempts, "max_attempts")?,
            run_at: self.run_at.to_utc()?,
            lease_owner: self.lease_owner,
            lease_expires_at: opt(self.lease_expires_at)?,
            heartbeat_at: opt(self.heartbeat_at)?,
            last_error: self.last_error,
            created_at: self.created_at.to_utc()?,
            updated_at: self.updated_at.to_utc()?,
        })
    }
}
