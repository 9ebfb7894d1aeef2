//! The certification records as the rest of the program sees them.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::score::decide::{Decision, Verdict};
use crate::store::DbError;

text_enum!(
    /// A certification is valid until it expires; renewal makes it valid again.
    CertStatus {
        Valid = "valid",
        Expired = "expired",
    }
);

text_enum!(
    /// A final decision: the machine's on a clear grade, a reviewer's on a borderline one.
    Outcome {
        Pass = "pass",
        Fail = "fail",
    }
);

text_enum!(
    /// Who made the final decision.
    DecisionSource {
        Machine = "machine",
        Review = "review",
    }
);

text_enum!(
    /// What a final decision did to the rep's certification for the track:
    /// `issued` (first one), `reissued` (after a lapse), `renewed` (a valid one
    /// extended), `none` (a fail: a valid certification stays until it
    /// expires), `no_base` (a specialty passed without a valid base-track
    /// certification), `untracked` (the rubric belongs to no track).
    Effect {
        Issued = "issued",
        Reissued = "reissued",
        Renewed = "renewed",
        NoChange = "none",
        NoBase = "no_base",
        Untracked = "untracked",
    }
);

text_enum!(
    /// What happened to one webhook delivery attempt.
    DeliveryOutcome {
        Delivered = "delivered",
        Retry = "retry",
        Dead = "dead",
    }
);

impl Outcome {
    pub fn from_pass(pass: bool) -> Outcome {
        if pass {
            Outcome::Pass
        } else {
            Outcome::Fail
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFirm {
    pub id: String,
    pub name: String,
    /// Reseller, SI, MSP…: adaptive paths can give a segment its own scenario.
    pub segment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Firm {
    pub id: String,
    pub name: String,
    pub segment: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRep {
    pub id: String,
    pub firm_id: String,
    pub role: String,
    /// Inactive reps (left the firm) keep their records but do not count for coverage.
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rep {
    pub id: String,
    pub firm_id: String,
    pub role: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One rep's certification for one track; renewals update the same record
/// (the history is in the audit log).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Certification {
    pub id: Uuid,
    pub rep_id: String,
    pub track: String,
    /// The rubric (scenario) of the attempt that last issued or renewed it.
    pub rubric_id: String,
    pub rubric_version: Option<u32>,
    pub status: CertStatus,
    pub first_issued_at: DateTime<Utc>,
    /// When the current term was granted (issue, re-issue or renewal).
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub renewals: u32,
    /// The smallest reminder offset (days before expiry) already handled for
    /// the current expiry; a renewal clears it.
    pub reminded_days: Option<u32>,
    /// The submission whose decision last issued or renewed it.
    pub submission_id: Uuid,
    pub updated_at: DateTime<Utc>,
}

impl Certification {
    /// Valid at `t`: not marked expired and not past its expiry. The time check
    /// means a lapse takes effect at the exact expiry even before the sweep runs.
    /// It answers for now and the future; the past is in the audit log (a
    /// record renewed since says nothing about the term it replaced).
    pub fn is_valid_at(&self, t: DateTime<Utc>) -> bool {
        self.status == CertStatus::Valid && self.expires_at > t
    }
}

/// Everything a plan about one rep starts from.
#[derive(Debug, Clone, PartialEq)]
pub struct RepLedger {
    pub rep_id: String,
    /// Bumped by every change to the rep's certifications; `apply_change`
    /// refuses a plan made from an older version.
    pub version: i64,
    pub rep: Option<Rep>,
    pub firm: Option<Firm>,
    pub certifications: Vec<Certification>,
    /// Rights the rep held once and that are paused now (a regained one is "restored").
    pub paused_rights: BTreeSet<String>,
}

/// A criterion's machine verdict, kept with the decision for the reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CriterionVerdict {
    pub id: String,
    pub verdict: Verdict,
    #[serde(default)]
    pub required: bool,
}

/// The final decision on one submission, and what it did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CertDecision {
    pub submission_id: Uuid,
    pub rep_id: String,
    pub track: Option<String>,
    pub rubric_id: String,
    pub rubric_version: Option<u32>,
    pub outcome: Outcome,
    pub source: DecisionSource,
    pub review_id: Option<Uuid>,
    /// The machine's decision and score, whoever decided.
    pub machine_decision: Decision,
    pub machine_score: f64,
    pub effect: Effect,
    pub certification_id: Option<Uuid>,
    pub submitted_at: DateTime<Utc>,
    pub graded_at: DateTime<Utc>,
    pub decided_at: DateTime<Utc>,
    pub criteria: Vec<CriterionVerdict>,
}

/// Why the machine sent a grade to review, from the grade's reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewReason {
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criterion: Option<String>,
    #[serde(default)]
    pub message: String,
}

/// A reviewer's verdict on one criterion, beside the machine's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CriterionCall {
    pub id: String,
    pub verdict: Verdict,
    pub machine_verdict: Verdict,
}

/// A borderline grade waiting for (or decided by) a human.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Review {
    pub id: Uuid,
    pub submission_id: Uuid,
    pub grade_id: Uuid,
    pub rep_id: String,
    pub rubric_id: String,
    pub machine_score: f64,
    /// Which side of the bar the machine's score fell on: what an override overrides.
    pub machine_lean: Outcome,
    pub reasons: Vec<ReviewReason>,
    pub queued_at: DateTime<Utc>,
    pub claimed_by: Option<String>,
    pub claimed_at: Option<DateTime<Utc>>,
    pub claim_expires_at: Option<DateTime<Utc>>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision: Option<Outcome>,
    pub reason: Option<String>,
    pub criteria: Vec<CriterionCall>,
}

/// The reviewer's decision, written only while their claim holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewDecisionWrite {
    pub review_id: Uuid,
    pub reviewer: String,
    pub decision: Outcome,
    pub reason: String,
    pub criteria: Vec<CriterionCall>,
    pub decided_at: DateTime<Utc>,
}

/// One line of the audit log. `at` is when it took effect (an expiry takes
/// effect at the expiry instant, even if the sweep noticed later);
/// `recorded_at` is when it was written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    /// `system`, `sweep`, or `reviewer:<id>`.
    pub actor: String,
    pub action: String,
    pub rep_id: Option<String>,
    pub track: Option<String>,
    pub right: Option<String>,
    pub certification_id: Option<Uuid>,
    pub submission_id: Option<Uuid>,
    pub review_id: Option<Uuid>,
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewAudit {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub rep_id: Option<String>,
    pub track: Option<String>,
    pub right: Option<String>,
    pub certification_id: Option<Uuid>,
    pub submission_id: Option<Uuid>,
    pub review_id: Option<Uuid>,
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub rep_id: Option<String>,
    /// Only lines about this submission (its trail).
    pub submission_id: Option<Uuid>,
    /// Only actions starting with this, e.g. `rights.`.
    pub action_prefix: Option<String>,
    pub after_seq: Option<i64>,
    pub limit: u32,
}

/// An event for the webhooks, written in the same transaction as its change.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Receivers de-duplicate on it.
    pub id: Uuid,
    pub kind: String,
    pub occurred_at: DateTime<Utc>,
    pub payload: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxEvent {
    pub id: Uuid,
    pub kind: String,
    pub occurred_at: DateTime<Utc>,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub dead_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// One POST of one event, as the delivery log keeps it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeliveryAttempt {
    pub event_id: Uuid,
    /// 1-based.
    pub attempt: u32,
    pub endpoint: String,
    pub at: DateTime<Utc>,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub outcome: DeliveryOutcome,
    /// For a retry: when the next attempt may run.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default)]
pub struct CertFilter {
    pub rep_id: Option<String>,
    pub firm_id: Option<String>,
    pub status: Option<CertStatus>,
    /// Only certifications expiring at or before this instant.
    pub expires_by: Option<DateTime<Utc>>,
    /// Paging: only those after this (expiry, id) in listing order.
    pub after: Option<(DateTime<Utc>, Uuid)>,
}

/// Guards a plan against a ledger that changed after it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerGuard {
    pub rep_id: String,
    pub expected_version: i64,
}

/// Everything one planned change writes, in one transaction.
#[derive(Debug, Clone, Default)]
pub struct ChangeSet {
    /// Each key may be applied once ever: the change is a duplicate if any exists.
    pub idempotency_keys: Vec<String>,
    pub ledger: Option<LedgerGuard>,
    /// Inserted or replaced by id.
    pub certifications: Vec<Certification>,
    pub decision: Option<CertDecision>,
    pub new_review: Option<Review>,
    pub review_decision: Option<ReviewDecisionWrite>,
    /// A submission waiting for review that this change settles: its status
    /// goes from `needs_review` to `graded`.
    pub settle_submission: Option<Uuid>,
    pub audit: Vec<NewAudit>,
    pub events: Vec<NewEvent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOutcome {
    Applied,
    /// An idempotency key was already applied: nothing written.
    Duplicate,
    /// The ledger changed since the plan was made: re-read and plan again.
    Stale,
    /// The review is not (or no longer) claimed by this reviewer, or already decided.
    NotClaimed,
}

/// A grade re-scored by a rubric replay, kept beside the submission's grade
/// (which it never replaces). `summary` holds verdicts and points, no quotes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GradeVersion {
    pub id: Uuid,
    pub submission_id: Uuid,
    pub rubric_id: String,
    pub rubric_version: u32,
    pub rubric_sha256: String,
    pub judge: String,
    pub decision: Decision,
    pub score: f64,
    pub summary: serde_json::Value,
    pub actor: String,
    pub created_at: DateTime<Utc>,
}

/// A grade version to write, with the rep it concerns (for its audit line).
#[derive(Debug, Clone, PartialEq)]
pub struct NewGradeVersion {
    pub version: GradeVersion,
    pub rep_id: String,
    /// The audit line's detail (what changed from the original).
    pub audit: serde_json::Value,
}
