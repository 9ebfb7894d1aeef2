//! Final decisions → certifications.
//!
//! A pass issues the rep's certification for the rubric's track, renews it
//! (inside the reminder window the new term runs from the current expiry, so
//! renewing early loses nothing; earlier than that it runs from today), or
//! re-issues it after a lapse. A fail changes nothing: a valid certification
//! stays until it expires. Rights follow from what is valid.
//!
//! Each change is planned from the rep's ledger and written by
//! `apply_change` in one transaction, keyed by the submission: a decision
//! applied twice (a retried worker, the sweep reconciling after a crash, two
//! processes at once) has one effect. A plan made from a ledger that changed
//! meanwhile is refused and made again.

use std::collections::BTreeSet;

use chrono::{DateTime, Months, TimeDelta, Utc};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::grade_view::GradeFacts;
use super::outbox::{self, event};
use super::program::{Program, Track};
use super::rights;
use super::{CertifyError, SYSTEM};
use crate::rubric::TrackKind;
use crate::score::decide::Decision;
use crate::store::db::certification::*;
use crate::store::db::{GradeRecord, Submission};
use crate::store::Repo;

/// How many times a plan is remade when the rep's ledger keeps changing under it.
const MAX_PLAN_ATTEMPTS: usize = 8;

/// What applying a grade did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Applied {
    /// The final decision, recorded now or (`duplicate`) by an earlier call.
    Decided {
        decision: CertDecision,
        duplicate: bool,
    },
    /// A borderline grade is waiting for a reviewer.
    QueuedForReview { review: Review, duplicate: bool },
}

/// What the worker calls after writing a grade (and the sweep calls for any
/// grade left without an effect): a pass or fail becomes the final decision
/// and its certification effect; a borderline grade joins the review queue.
/// Safe to call any number of times.
pub async fn apply_decision(
    repo: &dyn Repo,
    program: &Program,
    submission_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Applied, CertifyError> {
    if let Some(decision) = repo.decision_for(submission_id).await? {
        return Ok(Applied::Decided {
            decision,
            duplicate: true,
        });
    }
    let view = repo
        .get_submission(submission_id)
        .await?
        .ok_or(CertifyError::SubmissionNotFound(submission_id))?;
    let grade = view.grade.ok_or(CertifyError::NotGraded(submission_id))?;
    let outcome = match grade.decision {
        Decision::Borderline => return queue_review(repo, &view.submission, &grade, now).await,
        Decision::Pass => Outcome::Pass,
        Decision::Fail => Outcome::Fail,
    };
    let input = FinalDecision {
        outcome,
        source: DecisionSource::Machine,
        review: None,
        actor: SYSTEM.to_string(),
        audit: Vec::new(),
        events: Vec::new(),
    };
    decide(repo, program, &view.submission, &grade, &input, now).await
}

/// A decision about to be made final, by the machine or a reviewer.
pub(crate) struct FinalDecision {
    pub outcome: Outcome,
    pub source: DecisionSource,
    pub review: Option<ReviewDecisionWrite>,
    pub actor: String,
    /// Extra audit lines written with it (a reviewer's overrides).
    pub audit: Vec<NewAudit>,
    /// Extra events written with it (an agreement alert the decision raises).
    pub events: Vec<NewEvent>,
}

pub(crate) async fn decide(
    repo: &dyn Repo,
    program: &Program,
    submission: &Submission,
    grade: &GradeRecord,
    input: &FinalDecision,
    now: DateTime<Utc>,
) -> Result<Applied, CertifyError> {
    for _ in 0..MAX_PLAN_ATTEMPTS {
        if let Some(decision) = repo.decision_for(submission.id).await? {
            return Ok(Applied::Decided {
                decision,
                duplicate: true,
            });
        }
        let ledger = repo.rep_ledger(&submission.rep_id).await?;
        let (change, decision) = plan_decision(program, &ledger, submission, grade, input, now);
        match repo.apply_change(&change, now).await? {
            ChangeOutcome::Applied => {
                return Ok(Applied::Decided {
                    decision,
                    duplicate: false,
                })
            }
            // Someone else got there first or the ledger moved: look again.
            ChangeOutcome::Duplicate | ChangeOutcome::Stale => continue,
            ChangeOutcome::NotClaimed => {
                let review = input.review.as_ref();
                return Err(CertifyError::NotClaimed {
                    review_id: review.map(|r| r.review_id).unwrap_or_default(),
                    reviewer: review.map(|r| r.reviewer.clone()).unwrap_or_default(),
                });
            }
        }
    }
    Err(CertifyError::Contention(submission.rep_id.clone()))
}

fn decision_key(submission_id: Uuid) -> String {
    format!("decision:{submission_id}")
}

/// Plans the whole effect of one final decision on the rep's ledger.
fn plan_decision(
    program: &Program,
    ledger: &RepLedger,
    submission: &Submission,
    grade: &GradeRecord,
    input: &FinalDecision,
    now: DateTime<Utc>,
) -> (ChangeSet, CertDecision) {
    let view = GradeFacts::parse(&grade.grade);
    let rubric_id = view
        .rubric_id()
        .unwrap_or(&submission.rubric_id)
        .to_string();
    let mut plan = Plan::new(program, ledger, now, &input.actor);
    plan.change
        .idempotency_keys
        .push(decision_key(submission.id));
    plan.change.review_decision = input.review.clone();
    if input.review.is_some() {
        plan.change.settle_submission = Some(submission.id);
    }
    // A lapse that took effect before this decision is recorded first, so the
    // log shows the rights paused at the expiry and restored by this pass.
    plan.lapse_due();
    let track = program.track_for_rubric(&rubric_id);
    let (effect, certification_id) = match (track, input.outcome) {
        (None, _) => (Effect::Untracked, None),
        (Some(_), Outcome::Fail) => (Effect::NoChange, None),
        (Some(track), Outcome::Pass) => {
            plan.issue_or_renew(track, submission.id, &rubric_id, view.rubric_version())
        }
    };
    let decision = CertDecision {
        submission_id: submission.id,
        rep_id: submission.rep_id.clone(),
        track: track.map(|t| t.id.clone()),
        rubric_id,
        rubric_version: view.rubric_version(),
        outcome: input.outcome,
        source: input.source,
        review_id: input.review.as_ref().map(|r| r.review_id),
        machine_decision: grade.decision,
        machine_score: grade.score,
        effect,
        certification_id,
        submitted_at: submission.created_at,
        graded_at: grade.created_at,
        decided_at: now,
        criteria: view.verdicts(),
    };
    plan.audit(NewAudit {
        action: "decision.recorded".into(),
        track: decision.track.clone(),
        certification_id,
        submission_id: Some(submission.id),
        review_id: decision.review_id,
        detail: json!({
            "outcome": decision.outcome,
            "source": decision.source,
            "effect": decision.effect,
            "rubric_id": decision.rubric_id,
            "rubric_version": decision.rubric_version,
            "machine_decision": decision.machine_decision,
            "machine_score": decision.machine_score,
        }),
        ..plan.audit_base(now)
    });
    plan.change.audit.extend(input.audit.iter().cloned());
    plan.change.events.extend(input.events.iter().cloned());
    plan.change.decision = Some(decision.clone());
    (plan.finish(), decision)
}

/// A change to one rep being planned: the rep's certifications as they will
/// be, the rights history, and what is to be written.
pub(crate) struct Plan<'a> {
    program: &'a Program,
    ledger: &'a RepLedger,
    now: DateTime<Utc>,
    actor: &'a str,
    pub certs: Vec<Certification>,
    paused: BTreeSet<String>,
    changed: BTreeSet<Uuid>,
    pub change: ChangeSet,
}

impl<'a> Plan<'a> {
    pub(crate) fn new(
        program: &'a Program,
        ledger: &'a RepLedger,
        now: DateTime<Utc>,
        actor: &'a str,
    ) -> Self {
        Plan {
            program,
            ledger,
            now,
            actor,
            certs: ledger.certifications.clone(),
            paused: ledger.paused_rights.clone(),
            changed: BTreeSet::new(),
            change: ChangeSet::default(),
        }
    }

    fn firm_id(&self) -> Option<&str> {
        self.ledger.rep.as_ref().map(|r| r.firm_id.as_str())
    }

    fn audit_base(&self, at: DateTime<Utc>) -> NewAudit {
        NewAudit {
            at,
            actor: self.actor.to_string(),
            rep_id: Some(self.ledger.rep_id.clone()),
            ..NewAudit::default()
        }
    }

    fn audit(&mut self, entry: NewAudit) {
        self.change.audit.push(entry);
    }

    /// The write set, guarded by the ledger version when certifications change.
    pub(crate) fn finish(mut self) -> ChangeSet {
        for id in &self.changed {
            if let Some(c) = self.certs.iter().find(|c| c.id == *id) {
                self.change.certifications.push(c.clone());
            }
        }
        if !self.change.certifications.is_empty() {
            self.change.ledger = Some(LedgerGuard {
                rep_id: self.ledger.rep_id.clone(),
                expected_version: self.ledger.version,
            });
        }
        self.change
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.change.audit.is_empty()
    }

    /// Marks every certification whose expiry has passed as expired, in expiry
    /// order, recording the expiry and the rights it paused at the expiry instant.
    pub(crate) fn lapse_due(&mut self) -> usize {
        let mut due: Vec<usize> = (0..self.certs.len())
            .filter(|&i| {
                self.certs[i].status == CertStatus::Valid && self.certs[i].expires_at <= self.now
            })
            .collect();
        due.sort_by_key(|&i| (self.certs[i].expires_at, self.certs[i].id));
        for &i in &due {
            let at = self.certs[i].expires_at;
            // Just before the expiry, with and without this certification: what
            // it alone was still giving. Rights another valid certification also
            // gives are not paused.
            let just_before = at - TimeDelta::milliseconds(1);
            let before = rights::names_at(self.program, &self.certs, just_before);
            self.certs[i].status = CertStatus::Expired;
            self.certs[i].updated_at = self.now;
            let after = rights::names_at(self.program, &self.certs, just_before);
            let cert = self.certs[i].clone();
            self.changed.insert(cert.id);
            self.audit(NewAudit {
                action: outbox::CERTIFICATION_EXPIRED.into(),
                track: Some(cert.track.clone()),
                certification_id: Some(cert.id),
                detail: json!({ "expires_at": cert.expires_at }),
                ..self.audit_base(at)
            });
            self.change.events.push(event(
                outbox::CERTIFICATION_EXPIRED,
                at,
                json!({
                    "rep_id": cert.rep_id,
                    "firm_id": self.firm_id(),
                    "track": cert.track,
                    "certification_id": cert.id,
                    "expired_at": at,
                }),
            ));
            self.record_rights(rights::diff(&before, &after), &cert, None, at);
        }
        due.len()
    }

    /// A pass for `track`: issue, renew or re-issue. Returns the effect and the
    /// certification it touched.
    fn issue_or_renew(
        &mut self,
        track: &Track,
        submission_id: Uuid,
        rubric_id: &str,
        rubric_version: Option<u32>,
    ) -> (Effect, Option<Uuid>) {
        let now = self.now;
        if let (TrackKind::Specialty, Some(base)) = (track.kind, &track.base) {
            let has_base = self
                .certs
                .iter()
                .any(|c| &c.track == base && c.is_valid_at(now));
            if !has_base {
                self.audit(NewAudit {
                    action: "certification.blocked".into(),
                    track: Some(track.id.clone()),
                    submission_id: Some(submission_id),
                    detail: json!({ "reason": "missing_base", "base": base }),
                    ..self.audit_base(now)
                });
                return (Effect::NoBase, None);
            }
        }
        let before = rights::names_at(self.program, &self.certs, now);
        let term = Months::new(track.term_months);
        let existing = self.certs.iter().position(|c| c.track == track.id);
        let (effect, previous_expiry, extended_from) = match existing {
            None => {
                self.certs.push(Certification {
                    id: Uuid::now_v7(),
                    rep_id: self.ledger.rep_id.clone(),
                    track: track.id.clone(),
                    rubric_id: rubric_id.to_string(),
                    rubric_version,
                    status: CertStatus::Valid,
                    first_issued_at: now,
                    issued_at: now,
                    expires_at: add_months(now, term),
                    renewals: 0,
                    reminded_days: None,
                    submission_id,
                    updated_at: now,
                });
                (Effect::Issued, None, "today")
            }
            Some(i) => {
                let c = &mut self.certs[i];
                let previous = c.expires_at;
                let (effect, from, from_name) = if c.is_valid_at(now) {
                    let window_opens = previous - TimeDelta::days(i64::from(track.window_days()));
                    c.renewals += 1;
                    if now >= window_opens {
                        (Effect::Renewed, previous, "expiry")
                    } else {
                        (Effect::Renewed, now, "today")
                    }
                } else {
                    (Effect::Reissued, now, "today")
                };
                c.status = CertStatus::Valid;
                c.issued_at = now;
                c.expires_at = add_months(from, term);
                c.reminded_days = None;
                c.rubric_id = rubric_id.to_string();
                c.rubric_version = rubric_version;
                c.submission_id = submission_id;
                c.updated_at = now;
                (effect, Some(previous), from_name)
            }
        };
        let Some(cert) = self.certs.iter().find(|c| c.track == track.id).cloned() else {
            return (Effect::NoChange, None);
        };
        self.changed.insert(cert.id);
        let after = rights::names_at(self.program, &self.certs, now);
        let kind = match effect {
            Effect::Renewed => outbox::CERTIFICATION_RENEWED,
            _ => outbox::CERTIFICATION_ISSUED,
        };
        let granted = self.program.rights_of(&track.id).to_vec();
        self.audit(NewAudit {
            action: kind.into(),
            track: Some(track.id.clone()),
            certification_id: Some(cert.id),
            submission_id: Some(submission_id),
            detail: json!({
                "effect": effect,
                "issued_at": cert.issued_at,
                "expires_at": cert.expires_at,
                "previous_expires_at": previous_expiry,
                "extended_from": extended_from,
                "rubric_id": cert.rubric_id,
                "rubric_version": cert.rubric_version,
            }),
            ..self.audit_base(now)
        });
        self.change.events.push(event(
            kind,
            now,
            json!({
                "rep_id": cert.rep_id,
                "firm_id": self.firm_id(),
                "track": cert.track,
                "certification_id": cert.id,
                "reissue": effect == Effect::Reissued,
                "issued_at": cert.issued_at,
                "expires_at": cert.expires_at,
                "previous_expires_at": previous_expiry,
                "rubric_id": cert.rubric_id,
                "rubric_version": cert.rubric_version,
                "submission_id": submission_id,
                "rights": granted,
            }),
        ));
        self.record_rights(
            rights::diff(&before, &after),
            &cert,
            Some(submission_id),
            now,
        );
        (effect, Some(cert.id))
    }

    /// Audit lines and events for rights gained or lost at `at` because of `cause`.
    /// `submission` is the attempt that caused it, when one did (the
    /// submission's audit trail shows the rights it gave).
    fn record_rights(
        &mut self,
        diff: rights::RightsDiff,
        cause: &Certification,
        submission: Option<Uuid>,
        at: DateTime<Utc>,
    ) {
        let mut changes = Vec::new();
        for right in diff.lost {
            self.paused.insert(right.clone());
            changes.push((outbox::RIGHTS_PAUSED, right));
        }
        for right in diff.gained {
            let kind = if self.paused.remove(&right) {
                outbox::RIGHTS_RESTORED
            } else {
                outbox::RIGHTS_GRANTED
            };
            changes.push((kind, right));
        }
        for (kind, right) in changes {
            self.audit(NewAudit {
                action: kind.into(),
                track: Some(cause.track.clone()),
                right: Some(right.clone()),
                certification_id: Some(cause.id),
                submission_id: submission,
                detail: json!({ "at": at }),
                ..self.audit_base(at)
            });
            self.change.events.push(event(
                kind,
                at,
                json!({
                    "rep_id": cause.rep_id,
                    "firm_id": self.firm_id(),
                    "right": right,
                    "track": cause.track,
                    "certification_id": cause.id,
                    "at": at,
                }),
            ));
        }
    }

    /// Reminders due for one certification: the smallest offset now due is
    /// sent; larger ones not yet handled (the sweep was down when they fell due)
    /// are recorded as skipped, so each offset is handled exactly once.
    pub(crate) fn remind_due(&mut self, cert_id: Uuid) -> Option<u32> {
        let now = self.now;
        let i = self.certs.iter().position(|c| c.id == cert_id)?;
        let cert = self.certs[i].clone();
        if !cert.is_valid_at(now) {
            return None;
        }
        let track = self.program.track(&cert.track)?;
        let due: Vec<u32> = track
            .reminder_days
            .iter()
            .copied()
            .filter(|&d| cert.expires_at - TimeDelta::days(i64::from(d)) <= now)
            .filter(|&d| cert.reminded_days.is_none_or(|done| d < done))
            .collect();
        let send = due.iter().copied().min()?;
        for &d in &due {
            self.change.idempotency_keys.push(format!(
                "reminder:{}:{}:{d}",
                cert.id,
                cert.expires_at.timestamp_millis()
            ));
            let due_at = cert.expires_at - TimeDelta::days(i64::from(d));
            let action = if d == send {
                outbox::CERTIFICATION_EXPIRING
            } else {
                "certification.reminder_skipped"
            };
            self.audit(NewAudit {
                action: action.into(),
                track: Some(cert.track.clone()),
                certification_id: Some(cert.id),
                detail: json!({
                    "days_before": d,
                    "due_at": due_at,
                    "expires_at": cert.expires_at,
                }),
                ..self.audit_base(now)
            });
        }
        self.change.events.push(event(
            outbox::CERTIFICATION_EXPIRING,
            now,
            json!({
                "rep_id": cert.rep_id,
                "firm_id": self.firm_id(),
                "track": cert.track,
                "certification_id": cert.id,
                "expires_at": cert.expires_at,
                "days_before": send,
                "rights": self.program.rights_of(&cert.track),
            }),
        ));
        self.certs[i].reminded_days = Some(send);
        self.certs[i].updated_at = now;
        self.changed.insert(cert.id);
        Some(send)
    }
}

fn add_months(from: DateTime<Utc>, months: Months) -> DateTime<Utc> {
    // Only fails past the year 262143; fall back to 31-day months then.
    from.checked_add_months(months)
        .unwrap_or_else(|| from + TimeDelta::days(31 * i64::from(months.as_u32())))
}

async fn queue_review(
    repo: &dyn Repo,
    submission: &Submission,
    grade: &GradeRecord,
    now: DateTime<Utc>,
) -> Result<Applied, CertifyError> {
    if let Some(review) = repo.review_for(submission.id).await? {
        return Ok(Applied::QueuedForReview {
            review,
            duplicate: true,
        });
    }
    let view = GradeFacts::parse(&grade.grade);
    let review = Review {
        id: Uuid::now_v7(),
        submission_id: submission.id,
        grade_id: grade.id,
        rep_id: submission.rep_id.clone(),
        rubric_id: view
            .rubric_id()
            .unwrap_or(&submission.rubric_id)
            .to_string(),
        machine_score: grade.score,
        machine_lean: view.lean(),
        reasons: view.reasons(),
        // Oldest grade first, however late the queueing happened.
        queued_at: grade.created_at,
        claimed_by: None,
        claimed_at: None,
        claim_expires_at: None,
        decided_by: None,
        decided_at: None,
        decision: None,
        reason: None,
        criteria: Vec::new(),
    };
    let change = ChangeSet {
        idempotency_keys: vec![format!("review:{}", submission.id)],
        new_review: Some(review.clone()),
        audit: vec![NewAudit {
            at: now,
            actor: SYSTEM.into(),
            action: "review.queued".into(),
            rep_id: Some(submission.rep_id.clone()),
            submission_id: Some(submission.id),
            review_id: Some(review.id),
            detail: json!({
                "machine_score": review.machine_score,
                "machine_lean": review.machine_lean,
                "reasons": review.reasons,
            }),
            ..NewAudit::default()
        }],
        events: vec![event(
            outbox::GRADE_NEEDS_REVIEW,
            now,
            json!({
                "submission_id": submission.id,
                "review_id": review.id,
                "rep_id": submission.rep_id,
                "rubric_id": review.rubric_id,
                "score": review.machine_score,
                "reasons": review.reasons,
            }),
        )],
        ..ChangeSet::default()
    };
    match repo.apply_change(&change, now).await? {
        ChangeOutcome::Applied => Ok(Applied::QueuedForReview {
            review,
            duplicate: false,
        }),
        _ => {
            let review = repo.review_for(submission.id).await?.ok_or_else(|| {
                CertifyError::Invalid(format!(
                    "review for submission {} was refused but does not exist",
                    submission.id
                ))
            })?;
            Ok(Applied::QueuedForReview {
                review,
                duplicate: true,
            })
        }
    }
}

/// Records every lapse of one rep that has taken effect by `now`. Returns how
/// many certifications it expired (0 when another runner already did).
pub async fn expire_lapsed(
    repo: &dyn Repo,
    program: &Program,
    rep_id: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<usize, CertifyError> {
    for _ in 0..MAX_PLAN_ATTEMPTS {
        let ledger = repo.rep_ledger(rep_id).await?;
        let mut plan = Plan::new(program, &ledger, now, actor);
        let n = plan.lapse_due();
        if n == 0 {
            return Ok(0);
        }
        match repo.apply_change(&plan.finish(), now).await? {
            ChangeOutcome::Applied => return Ok(n),
            ChangeOutcome::Duplicate => return Ok(0),
            ChangeOutcome::Stale | ChangeOutcome::NotClaimed => continue,
        }
    }
    Err(CertifyError::Contention(rep_id.to_string()))
}

/// Sends the reminder due for one certification, if any. Returns the offset sent.
pub async fn remind(
    repo: &dyn Repo,
    program: &Program,
    rep_id: &str,
    cert_id: Uuid,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Option<u32>, CertifyError> {
    for _ in 0..MAX_PLAN_ATTEMPTS {
        let ledger = repo.rep_ledger(rep_id).await?;
        let mut plan = Plan::new(program, &ledger, now, actor);
        let Some(sent) = plan.remind_due(cert_id) else {
            return Ok(None);
        };
        if plan.is_empty() {
            return Ok(None);
        }
        match repo.apply_change(&plan.finish(), now).await? {
            ChangeOutcome::Applied => return Ok(Some(sent)),
            ChangeOutcome::Duplicate => return Ok(None),
            ChangeOutcome::Stale | ChangeOutcome::NotClaimed => continue,
        }
    }
    Err(CertifyError::Contention(rep_id.to_string()))
}
