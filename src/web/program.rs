//! The certification program as the pages see it: a narrow port.
//!
//! The certification module (issue 6) owns certifications, rights, the review
//! queue and reports; the pages only need the few answers below, as plain view
//! models. Keeping the port this small means the pages render from data a test
//! can build, and the certification module can change its tables freely.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::score::decide::{Decision, Verdict};
use crate::store::db::Submission;

use super::auth::Principal;
use super::error::WebError;

/// What a final decision gave (or took from) the rep.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OutcomeView {
    /// The certification this result issued, renewed or left as it was.
    pub certification: Option<CertificationView>,
    /// The rep's rights after this result.
    pub rights: Vec<RightView>,
    /// When the rep may record again (after a fail), if the program limits it.
    pub retake: Option<RetakeView>,
    /// The reviewer's decision, when a human decided this grade.
    pub review: Option<ReviewRecord>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CertificationView {
    pub track: String,
    /// `valid`, `expired`, `lapsed`...: the certification module's word.
    pub state: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RightView {
    /// e.g. "selling rights", "marketplace listing".
    pub name: String,
    pub active: bool,
    /// Until when an active right holds, or why an inactive one is paused.
    pub note: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RetakeView {
    /// Whether the rep may record again now.
    pub allowed: bool,
    /// When a rep who may not record now may again, if a date is known (an
    /// attempt still being graded has none: it waits on the grade).
    pub not_before: Option<DateTime<Utc>>,
    /// The program's sentence for the rep, e.g. why they must wait.
    pub message: String,
    pub attempts_left: Option<u32>,
    /// The program's own sentence, e.g. "3 attempts per 30 days".
    pub policy: String,
}

/// A borderline grade waiting for a human.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueItem {
    pub submission_id: Uuid,
    pub rep_id: String,
    pub rubric_id: String,
    pub score: f64,
    /// Since when it waits (the grade's time).
    pub waiting_since: DateTime<Utc>,
    /// Why it is borderline: the grade's reasons.
    pub why: Vec<String>,
    pub claimed_by: Option<String>,
}

/// A reviewer's change to one criterion's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct CriterionOverride {
    pub criterion_id: String,
    pub verdict: Verdict,
}

/// What a reviewer sends: the final decision (pass or fail), per-criterion
/// overrides, and the reason, which is required.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewDecision {
    pub decision: Decision,
    pub criteria: Vec<CriterionOverride>,
    pub reason: String,
}

/// A decision already made on a grade.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewRecord {
    pub reviewer: String,
    pub decided_at: DateTime<Utc>,
    pub decision: Decision,
    pub criteria: Vec<CriterionOverride>,
    pub reason: String,
}

/// A value per period (a week or a month), for charts over time.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodRate {
    pub period_start: NaiveDate,
    /// 0–1; `None` when nothing happened in the period.
    pub rate: Option<f64>,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RubricRate {
    pub rubric_id: String,
    /// First-attempt pass rate, 0–1; `None` with no first attempts yet.
    pub rate: Option<f64>,
    pub attempts: u64,
    /// Enough first attempts to read the rate against the band (the
    /// report's `min_sample`): fewer are shown but not called too hard or easy.
    pub judged: bool,
    /// The report's sentence when the rate is outside the band.
    pub warning: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FirmCoverageView {
    pub firm: String,
    pub tier: String,
    /// Share of the firm's active reps holding a valid certification, 0–1.
    pub coverage: f64,
    pub certified: u64,
    pub active: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expiring {
    pub rep_id: String,
    pub firm: String,
    pub track: String,
    pub expires_at: DateTime<Utc>,
}

/// The numbers behind the program dashboard.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DashboardData {
    pub pass_rate: Vec<PeriodRate>,
    pub first_attempt: Vec<RubricRate>,
    /// The healthy first-attempt band (0.65–0.80 unless configured).
    pub healthy_band: (f64, f64),
    pub coverage: Vec<FirmCoverageView>,
    /// Certifications expiring in the next 60 days, soonest first.
    pub expiring: Vec<Expiring>,
    pub override_rate: Vec<PeriodRate>,
    /// AI–reviewer agreement over the program's window, with its alerts.
    pub agreement: Option<crate::certify::calibration::Agreement>,
}

/// One version of a rubric as grades used it.
#[derive(Debug, Clone, PartialEq)]
pub struct RubricVersionView {
    pub version: u32,
    pub sha256: String,
    pub first_used: Option<DateTime<Utc>>,
    pub last_used: Option<DateTime<Utc>>,
    pub grades: u64,
}

/// Where one rep of a partner firm stands, as the firm's admin reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum RepStanding {
    /// Holds a valid certification; the soonest of their expiries.
    Certified {
        until: DateTime<Utc>,
    },
    /// Certified, but the soonest expiry is near.
    Expiring {
        until: DateTime<Utc>,
        days: i64,
    },
    /// Was certified; nothing valid now since `since`.
    Lapsed {
        since: DateTime<Utc>,
    },
    /// Has pitched, not certified yet (grading, under review, or not passed).
    NotYetCertified,
    NeverAttempted,
}

/// One rep on a firm's roster.
#[derive(Debug, Clone, PartialEq)]
pub struct FirmRep {
    pub rep_id: String,
    pub role: String,
    pub active: bool,
    pub standing: RepStanding,
    /// Their latest submission, for a link to its result.
    pub latest: Option<Uuid>,
}

/// Certified coverage of one track in one firm.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackCoverage {
    pub track: String,
    pub role: String,
    pub certified: u64,
    pub eligible: u64,
    pub coverage: f64,
}

/// The first tier a firm loses if nobody renews, and whose lapses cause it.
#[derive(Debug, Clone, PartialEq)]
pub struct TierForecast {
    pub tier_now: Option<String>,
    pub tier_after: Option<String>,
    pub drops_at: DateTime<Utc>,
    pub lapsing_reps: Vec<String>,
}

/// One partner firm: its roster with standing, coverage, tier and forecast.
#[derive(Debug, Clone, PartialEq)]
pub struct FirmOverview {
    pub firm_id: String,
    pub name: String,
    pub tier: Option<String>,
    pub coverage: Vec<TrackCoverage>,
    pub reps: Vec<FirmRep>,
    /// `None` when the tier holds over the forecast horizon.
    pub forecast: Option<TierForecast>,
    pub forecast_days: u32,
}

/// What the pages ask the certification program.
#[async_trait]
pub trait ProgramPages: Send + Sync {
    /// False when no program is configured: pages say so instead of showing
    /// empty queues and charts as if they were real.
    fn configured(&self) -> bool;

    /// What the final decision on this submission gave the rep, if decided.
    async fn outcome(&self, submission: &Submission) -> Result<Option<OutcomeView>, WebError>;

    /// Borderline grades waiting for a human, oldest first; of one firm's reps
    /// for a reviewer confined to it.
    async fn review_queue(&self, firm: Option<&str>) -> Result<Vec<QueueItem>, WebError>;

    /// The decision on a submission, if a reviewer made one.
    async fn review_of(&self, submission_id: Uuid) -> Result<Option<ReviewRecord>, WebError>;

    /// Records a reviewer's decision (and so issues or withholds the certification).
    async fn decide(
        &self,
        reviewer: &Principal,
        submission_id: Uuid,
        decision: ReviewDecision,
    ) -> Result<(), WebError>;

    async fn dashboard(&self, now: DateTime<Utc>) -> Result<DashboardData, WebError>;

    /// Versions of a rubric that grades used, newest first.
    async fn rubric_history(&self, rubric_id: &str) -> Result<Vec<RubricVersionView>, WebError>;

    /// One partner firm as its admin sees it; `None` when there is no such firm.
    async fn firm(
        &self,
        firm_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<FirmOverview>, WebError>;
}

/// No certification program configured: grading works, certification pages
/// say there is nothing to show.
#[derive(Debug, Default)]
pub struct NoProgram;

#[async_trait]
impl ProgramPages for NoProgram {
    fn configured(&self) -> bool {
        false
    }

    async fn outcome(&self, _: &Submission) -> Result<Option<OutcomeView>, WebError> {
        Ok(None)
    }

    async fn review_queue(&self, _: Option<&str>) -> Result<Vec<QueueItem>, WebError> {
        Ok(Vec::new())
    }

    async fn review_of(&self, _: Uuid) -> Result<Option<ReviewRecord>, WebError> {
        Ok(None)
    }

    async fn decide(&self, _: &Principal, _: Uuid, _: ReviewDecision) -> Result<(), WebError> {
        Err(WebError::BadRequest(
            "no certification program is configured on this server, so reviews cannot be recorded"
                .into(),
        ))
    }

    async fn dashboard(&self, _: DateTime<Utc>) -> Result<DashboardData, WebError> {
        Ok(DashboardData {
            healthy_band: (0.65, 0.80),
            ..DashboardData::default()
        })
    }

    async fn rubric_history(&self, _: &str) -> Result<Vec<RubricVersionView>, WebError> {
        Ok(Vec::new())
    }

    async fn firm(&self, _: &str, _: DateTime<Utc>) -> Result<Option<FirmOverview>, WebError> {
        Ok(None)
    }
}
