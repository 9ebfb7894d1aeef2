//! Human review of borderline grades.
//!
//! Borderline grades wait oldest first, each with why the machine was unsure
//! (the grade's reasons). A reviewer claims one (a claim lasts
//! [`CLAIM_TTL`], so an abandoned claim frees itself), then decides overall or
//! per criterion, always with a reason. The machine's grade stays as it was;
//! the reviewer's calls are stored beside it, every claim, decision and
//! override goes to the audit log, and the decision flows into the lifecycle
//! exactly like an automatic one.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::calibration;
use super::grade_view::{CriterionView, GradeFacts};
use super::lifecycle::{decide as finalise, Applied, FinalDecision};
use super::outbox;
use super::program::Program;
use super::CertifyError;
use crate::score::decide::Verdict;
use crate::store::db::certification::*;
use crate::store::Repo;

/// How long a claim holds before another reviewer may take the review.
pub const CLAIM_TTL: Duration = Duration::from_secs(30 * 60);
/// Longest reason kept; a reason is a sentence or a paragraph, not a document.
pub const MAX_REASON_CHARS: usize = 4000;

/// The queue, oldest first; of one firm's reps for a reviewer confined to it.
pub async fn queue(
    repo: &dyn Repo,
    limit: u32,
    firm: Option<&str>,
) -> Result<Vec<Review>, CertifyError> {
    Ok(repo.review_queue(limit, firm).await?)
}

/// Claims review `id`, or the oldest one free when `id` is `None`. `None` back
/// means nothing is free (or `id` is decided, held by someone else, or of a
/// rep outside `firm` when the reviewer is confined to one).
pub async fn claim(
    repo: &dyn Repo,
    reviewer: &str,
    id: Option<Uuid>,
    firm: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<Review>, CertifyError> {
    Ok(repo
        .claim_review(reviewer, id, firm, CLAIM_TTL, now)
        .await?)
}

/// A reviewer's call on one criterion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CriterionInput {
    pub id: String,
    /// `met`, `partial` or `missed`.
    #[schema(value_type = String)]
    pub verdict: Verdict,
}

/// What a reviewer submits: an overall decision, per-criterion verdicts, or
/// both (then the overall decision is final), and a reason, always.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReviewInput {
    #[serde(default)]
    pub decision: Option<ReviewOutcome>,
    #[serde(default)]
    pub criteria: Vec<CriterionInput>,
    pub reason: String,
}

/// `pass` or `fail` as a reviewer sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewOutcome {
    Pass,
    Fail,
}

impl From<ReviewOutcome> for Outcome {
    fn from(o: ReviewOutcome) -> Outcome {
        match o {
            ReviewOutcome::Pass => Outcome::Pass,
            ReviewOutcome::Fail => Outcome::Fail,
        }
    }
}

/// Records the reviewer's decision and applies it. The reviewer must hold the
/// claim; the review must be undecided.
pub async fn decide(
    repo: &dyn Repo,
    program: &Program,
    review_id: Uuid,
    reviewer: &str,
    input: &ReviewInput,
    now: DateTime<Utc>,
) -> Result<Applied, CertifyError> {
    let review = repo
        .get_review(review_id)
        .await?
        .ok_or(CertifyError::ReviewNotFound(review_id))?;
    if review.decided_at.is_some() {
        return Err(CertifyError::ReviewAlreadyDecided(review_id));
    }
    let held = review.claimed_by.as_deref() == Some(reviewer)
        && review.claim_expires_at.is_some_and(|t| t > now);
    if !held {
        return Err(CertifyError::NotClaimed {
            review_id,
            reviewer: reviewer.to_string(),
        });
    }
    let view = repo
        .get_submission(review.submission_id)
        .await?
        .ok_or(CertifyError::SubmissionNotFound(review.submission_id))?;
    let grade = view
        .grade
        .ok_or(CertifyError::NotGraded(review.submission_id))?;
    let grade_view = GradeFacts::parse(&grade.grade);
    let reason = input.reason.trim();
    if reason.is_empty() {
        return Err(CertifyError::InvalidReview(
            "a reason is required with every review decision".into(),
        ));
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(CertifyError::InvalidReview(format!(
            "the reason is longer than {MAX_REASON_CHARS} characters"
        )));
    }
    let machine = grade_view.criteria();
    let calls = criterion_calls(&machine, &input.criteria)?;
    let outcome = match input.decision {
        Some(d) => Outcome::from(d),
        None if !calls.is_empty() => recomputed(&grade_view, &machine, &calls),
        None => {
            return Err(CertifyError::InvalidReview(
                "give an overall decision or per-criterion verdicts".into(),
            ))
        }
    };

    let actor = format!("reviewer:{reviewer}");
    let base = NewAudit {
        at: now,
        actor: actor.clone(),
        rep_id: Some(review.rep_id.clone()),
        submission_id: Some(review.submission_id),
        review_id: Some(review_id),
        ..NewAudit::default()
    };
    let mut audit = vec![NewAudit {
        action: "review.decided".into(),
        detail: json!({
            "decision": outcome,
            "reason": reason,
            "machine_lean": review.machine_lean,
            "machine_score": review.machine_score,
            "criteria": calls,
        }),
        ..base.clone()
    }];
    if outcome != review.machine_lean {
        audit.push(NewAudit {
            action: "review.override".into(),
            detail: json!({ "machine": review.machine_lean, "reviewer": outcome, "reason": reason }),
            ..base.clone()
        });
    }
    for call in calls.iter().filter(|c| c.verdict != c.machine_verdict) {
        audit.push(NewAudit {
            action: "review.override".into(),
            detail: json!({
                "criterion": call.id,
                "machine": call.machine_verdict,
                "reviewer": call.verdict,
                "reason": reason,
            }),
            ..base.clone()
        });
    }
    // An override that pushes the rubric's agreement over a line is told in
    // the same transaction as the decision, so the alert and its cause agree.
    let mut events = Vec::new();
    let decided = repo.list_decided_reviews(None).await?;
    let policy = &program.calibration;
    if let Some(alert) = calibration::raised_by(&decided, &review, outcome, policy, now) {
        let data = json!({
            "rubric_id": alert.rubric_id,
            "level": alert.level,
            "overridden": alert.override_rate.count,
            "reviews": alert.override_rate.total,
            "override_rate": alert.override_rate.rate,
            "kappa": alert.kappa,
            "window_days": policy.window_days,
            "message": alert.alert,
            "review_id": review_id,
        });
        audit.push(NewAudit {
            at: now,
            actor: actor.clone(),
            action: "agreement.alert".into(),
            review_id: Some(review_id),
            detail: data.clone(),
            ..NewAudit::default()
        });
        events.push(outbox::event(outbox::AGREEMENT_ALERT, now, data));
    }
    let input = FinalDecision {
        outcome,
        source: DecisionSource::Review,
        review: Some(ReviewDecisionWrite {
            review_id,
            reviewer: reviewer.to_string(),
            decision: outcome,
            reason: reason.to_string(),
            criteria: calls,
            decided_at: now,
        }),
        actor,
        audit,
        events,
    };
    finalise(repo, program, &view.submission, &grade, &input, now).await
}

fn criterion_calls(
    machine: &[CriterionView],
    input: &[CriterionInput],
) -> Result<Vec<CriterionCall>, CertifyError> {
    let mut calls: Vec<CriterionCall> = Vec::new();
    for c in input {
        let Some(m) = machine.iter().find(|m| m.id == c.id) else {
            return Err(CertifyError::InvalidReview(format!(
                "the grade has no criterion {:?}",
                c.id
            )));
        };
        if c.verdict == Verdict::Unscored {
            return Err(CertifyError::InvalidReview(format!(
                "criterion {:?}: a reviewer's verdict is met, partial or missed",
                c.id
            )));
        }
        if calls.iter().any(|x| x.id == c.id) {
            return Err(CertifyError::InvalidReview(format!(
                "criterion {:?} is given twice",
                c.id
            )));
        }
        calls.push(CriterionCall {
            id: c.id.clone(),
            verdict: c.verdict,
            machine_verdict: m.verdict,
        });
    }
    Ok(calls)
}

/// The decision the reviewer's verdicts imply: the grade rescored with their
/// verdicts in place of the machine's (met = full points, partial = half,
/// missed = none), against the same bar, with every required criterion met.
fn recomputed(view: &GradeFacts, machine: &[CriterionView], calls: &[CriterionCall]) -> Outcome {
    let mut earned = 0.0;
    let mut possible = 0.0;
    let mut required_ok = true;
    for m in machine {
        let call = calls.iter().find(|c| c.id == m.id);
        let verdict = call.map_or(m.verdict, |c| c.verdict);
        let points = match (call, verdict) {
            (Some(_), Verdict::Met) => Some(m.max),
            (Some(_), Verdict::Partial) => Some(m.max / 2.0),
            (Some(_), Verdict::Missed) => Some(0.0),
            _ => m.score,
        };
        if let Some(p) = points {
            earned += p;
            possible += m.max;
        }
        if m.required && verdict != Verdict::Met {
            required_ok = false;
        }
    }
    let score = if possible > 0.0 {
        100.0 * earned / possible
    } else {
        0.0
    };
    let bar = view.pass_score().unwrap_or(f64::INFINITY);
    Outcome::from_pass(required_ok && score >= bar)
}
