//! Row shapes for the certification tables, generic over how each database
//! stores a timestamp (see `db::rows`).

use sqlx::types::Json;
use uuid::Uuid;

use super::types::*;
use crate::store::db::rows::DbTime;
use crate::store::db::{parse_decision, to_u32};
use crate::store::DbError;

fn opt<T: DbTime>(t: Option<T>) -> Result<Option<chrono::DateTime<chrono::Utc>>, DbError> {
    t.map(DbTime::to_utc).transpose()
}

fn opt_u32(v: Option<i32>, what: &str) -> Result<Option<u32>, DbError> {
    v.map(|v| to_u32(v, what)).transpose()
}

#[derive(sqlx::FromRow)]
pub(crate) struct FirmRow<T> {
    id: String,
    name: String,
    segment: Option<String>,
    created_at: T,
    updated_at: T,
}

impl<T: DbTime> FirmRow<T> {
    pub(crate) fn into_domain(self) -> Result<Firm, DbError> {
        Ok(Firm {
            id: self.id,
            name: self.name,
            segment: self.segment,
            created_at: self.created_at.to_utc()?,
            updated_at: self.updated_at.to_utc()?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RepRow<T> {
    id: String,
    firm_id: String,
    role: String,
    active: bool,
    created_at: T,
    updated_at: T,
}

impl<T: DbTime> RepRow<T> {
    pub(crate) fn into_domain(self) -> Result<Rep, DbError> {
        Ok(Rep {
            id: self.id,
            firm_id: self.firm_id,
            role: self.role,
            active: self.active,
            created_at: self.created_at.to_utc()?,
            updated_at: self.updated_at.to_utc()?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CertRow<T> {
    id: Uuid,
    rep_id: String,
    track: String,
    rubric_id: String,
    rubric_version: Option<i32>,
    status: String,
    first_issued_at: T,
    issued_at: T,
    expires_at: T,
    renewals: i32,
    reminded_days: Option<i32>,
    submission_id: Uuid,
    updated_at: T,
}

impl<T: DbTime> CertRow<T> {
    pub(crate) fn into_domain(self) -> Result<Certification, DbError> {
        Ok(Certification {
            id: self.id,
            rep_id: self.rep_id,
            track: self.track,
            rubric_id: self.rubric_id,
            rubric_version: opt_u32(self.rubric_version, "rubric version")?,
            status: self.status.parse()?,
            first_issued_at: self.first_issued_at.to_utc()?,
            issued_at: self.issued_at.to_utc()?,
            expires_at: self.expires_at.to_utc()?,
            renewals: to_u32(self.renewals, "renewals")?,
            reminded_days: opt_u32(self.reminded_days, "reminded days")?,
            submission_id: self.submission_id,
            updated_at: self.updated_at.to_utc()?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct DecisionRow<T> {
    submission_id: Uuid,
    rep_id: String,
    track: Option<String>,
    rubric_id: String,
    rubric_version: Option<i32>,
    outcome: String,
    source: String,
    review_id: Option<Uuid>,
    machine_decision: String,
    machine_score: f64,
    effect: String,
    certification_id: Option<Uuid>,
    submitted_at: T,
    graded_at: T,
    decided_at: T,
    criteria: Json<Vec<CriterionVerdict>>,
}

impl<T: DbTime> DecisionRow<T> {
    pub(crate) fn into_domain(self) -> Result<CertDecision, DbError> {
        Ok(CertDecision {
            submission_id: self.submission_id,
            rep_id: self.rep_id,
            track: self.track,
            rubric_id: self.rubric_id,
            rubric_version: opt_u32(self.rubric_version, "rubric version")?,
            outcome: self.outcome.parse()?,
            source: self.source.parse()?,
            review_id: self.review_id,
            machine_decision: parse_decision(&self.machine_decision)?,
            machine_score: self.machine_score,
            effect: self.effect.parse()?,
            certification_id: self.certification_id,
            submitted_at: self.submitted_at.to_utc()?,
            graded_at: self.graded_at.to_utc()?,
            decided_at: self.decided_at.to_utc()?,
            criteria: self.criteria.0,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ReviewRow<T> {
    id: Uuid,
    submission_id: Uuid,
    grade_id: Uuid,
    rep_id: String,
    rubric_id: String,
    machine_score: f64,
    machine_lean: String,
    reasons: Json<Vec<ReviewReason>>,
    queued_at: T,
    claimed_by: Option<String>,
    claimed_at: Option<T>,
    claim_expires_at: Option<T>,
    decided_by: Option<String>,
    decided_at: Option<T>,
    decision: Option<String>,
    reason: Option<String>,
    criteria: Json<Vec<CriterionCall>>,
}

impl<T: DbTime> ReviewRow<T> {
    pub(crate) fn into_domain(self) -> Result<Review, DbError> {
        Ok(Review {
            id: self.id,
            submission_id: self.submission_id,
            grade_id: self.grade_id,
            rep_id: self.rep_id,
            rubric_id: self.rubric_id,
            machine_score: self.machine_score,
            machine_lean: self.machine_lean.parse()?,
            reasons: self.reasons.0,
            queued_at: self.queued_at.to_utc()?,
            claimed_by: self.claimed_by,
            claimed_at: opt(self.claimed_at)?,
            claim_expires_at: opt(self.claim_expires_at)?,
            decided_by: self.decided_by,
            decided_at: opt(self.decided_at)?,
            decision: self.decision.map(|d| d.parse()).transpose()?,
            reason: self.reason,
            criteria: self.criteria.0,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow<T> {
    seq: i64,
    at: T,
    recorded_at: T,
    actor: String,
    action: String,
    rep_id: Option<String>,
    track: Option<String>,
    right_name: Option<String>,
    certification_id: Option<Uuid>,
    submission_id: Option<Uuid>,
    review_id: Option<Uuid>,
    detail: Json<serde_json::Value>,
}

impl<T: DbTime> AuditRow<T> {
    pub(crate) fn into_domain(self) -> Result<AuditEntry, DbError> {
        Ok(AuditEntry {
            seq: self.seq,
            at: self.at.to_utc()?,
            recorded_at: self.recorded_at.to_utc()?,
            actor: self.actor,
            action: self.action,
            rep_id: self.rep_id,
            track: self.track,
            right: self.right_name,
            certification_id: self.certification_id,
            submission_id: self.submission_id,
            review_id: self.review_id,
            detail: self.detail.0,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct OutboxRow<T> {
    id: Uuid,
    kind: String,
    occurred_at: T,
    payload: Json<serde_json::Value>,
    created_at: T,
    attempts: i32,
    next_attempt_at: T,
    delivered_at: Option<T>,
    dead_at: Option<T>,
    last_error: Option<String>,
}

impl<T: DbTime> OutboxRow<T> {
    pub(crate) fn into_domain(self) -> Result<OutboxEvent, DbError> {
        Ok(OutboxEvent {
            id: self.id,
            kind: self.kind,
            occurred_at: self.occurred_at.to_utc()?,
            payload: self.payload.0,
            created_at: self.created_at.to_utc()?,
            attempts: to_u32(self.attempts, "attempts")?,
            next_attempt_at: self.next_attempt_at.to_utc()?,
            delivered_at: opt(self.delivered_at)?,
            dead_at: opt(self.dead_at)?,
            last_error: self.last_error,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct DeliveryRow<T> {
    event_id: Uuid,
    attempt: i32,
    endpoint: String,
    at: T,
    status_code: Option<i32>,
    error: Option<String>,
    outcome: String,
    next_attempt_at: Option<T>,
}

impl<T: DbTime> DeliveryRow<T> {
    pub(crate) fn into_domain(self) -> Result<DeliveryAttempt, DbError> {
        Ok(DeliveryAttempt {
            event_id: self.event_id,
            attempt: to_u32(self.attempt, "attempt")?,
            endpoint: self.endpoint,
            at: self.at.to_utc()?,
            status_code: self
                .status_code
                .map(|c| {
                    u16::try_from(c)
                        .map_err(|_| DbError::Corrupt(format!("HTTP status {c} out of range")))
                })
                .transpose()?,
            error: self.error,
            outcome: self.outcome.parse()?,
            next_attempt_at: opt(self.next_attempt_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct GradeVersionRow<T> {
    id: Uuid,
    submission_id: Uuid,
    rubric_id: String,
    rubric_version: i32,
    rubric_sha256: String,
    judge: String,
    decision: String,
    score: f64,
    summary: Json<serde_json::Value>,
    actor: String,
    created_at: T,
}

impl<T: DbTime> GradeVersionRow<T> {
    pub(crate) fn into_domain(self) -> Result<GradeVersion, DbError> {
        Ok(GradeVersion {
            id: self.id,
            submission_id: self.submission_id,
            rubric_id: self.rubric_id,
            rubric_version: to_u32(self.rubric_version, "rubric_version")?,
            rubric_sha256: self.rubric_sha256,
            judge: self.judge,
            decision: parse_decision(&self.decision)?,
            score: self.score,
            summary: self.summary.0,
            actor: self.actor,
            created_at: self.created_at.to_utc()?,
        })
    }
}
