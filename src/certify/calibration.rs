//! Is the machine still grading the way the reviewers do?
//!
//! Every borderline grade a reviewer decides is a second opinion on the
//! machine: when reviewers keep going against it, the rubric or the judge has
//! drifted from what people mean, and nobody notices until reps complain. So
//! agreement is measured where reviewers actually look, over a rolling window
//! (old reviews of a rubric since rewritten would hide today's drift), per
//! rubric and per criterion, and a rubric whose override rate crosses the
//! program's lines raises an alert: on the dashboard, in `report`, and as an
//! `agreement.alert` webhook when a decision pushes it over.
//!
//! Definitions (the same in every place that shows them):
//! - **override rate**: decided reviews in the window where the reviewer's
//!   decision went against the machine's lean (its score against the bar) /
//!   decided reviews in the window;
//! - **decision κ**: Cohen's kappa between machine lean and reviewer decision;
//! - **criterion κ**: for each criterion the machine scored, Cohen's kappa
//!   between the machine's verdict and the reviewer's (a criterion the reviewer
//!   did not change counts as agreed with);
//! - below `min_sample` decided reviews a rubric gets no alert, only its figures.
//!
//! Reviews are the machine's hardest cases (borderline grades), so these
//! figures are lower than agreement over all pitches would be; they are a drift
//! signal, not the judge's accuracy (that is `rubric test` on a labelled set).

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::reports::{kappa, Rate};
use crate::score::agreement::cohen_kappa;
use crate::score::decide::Verdict;
use crate::store::db::certification::{CertDecision, Outcome, Review};

/// The program's lines for agreement alerts and for how much evidence any
/// health verdict needs (`[calibration]` in the program file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CalibrationPolicy {
    /// The rolling window of decided reviews, in days.
    pub window_days: u32,
    /// An override rate above this warns.
    pub warn_override_rate: f64,
    /// An override rate above this asks enablement to recalibrate the rubric.
    pub recalibrate_override_rate: f64,
    /// Fewer decided reviews (for alerts) or first attempts (for the healthy
    /// pass-rate band) than this give figures but no verdict: one sample size
    /// everywhere, so the dashboard and the report never disagree.
    pub min_sample: u32,
}

impl Default for CalibrationPolicy {
    fn default() -> Self {
        CalibrationPolicy {
            window_days: 90,
            warn_override_rate: 0.20,
            recalibrate_override_rate: 0.30,
            min_sample: 10,
        }
    }
}

impl CalibrationPolicy {
    /// Problems with the lines, for the program's load-time check.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let (warn, recal) = (self.warn_override_rate, self.recalibrate_override_rate);
        if !(0.0..1.0).contains(&warn) {
            out.push(format!(
                "calibration.warn_override_rate: {warn} is not a share between 0 and 1"
            ));
        }
        if !(0.0..=1.0).contains(&recal) || recal <= warn {
            out.push(format!(
                "calibration.recalibrate_override_rate: {recal} must be above the warning line ({warn}) and at most 1"
            ));
        }
        if self.window_days == 0 {
            out.push("calibration.window_days: the window must be at least one day".into());
        }
        if self.min_sample == 0 {
            out.push("calibration.min_sample: at least one sample is needed".into());
        }
        out
    }

    fn level(&self, override_rate: Rate) -> AlertLevel {
        match override_rate.rate {
            _ if override_rate.total < self.min_sample => AlertLevel::TooFewReviews,
            Some(r) if r > self.recalibrate_override_rate => AlertLevel::Recalibrate,
            Some(r) if r > self.warn_override_rate => AlertLevel::Warn,
            _ => AlertLevel::Ok,
        }
    }
}

/// How a rubric's agreement stands, worst last so levels compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertLevel {
    TooFewReviews,
    Ok,
    Warn,
    Recalibrate,
}

impl AlertLevel {
    pub fn name(self) -> &'static str {
        match self {
            AlertLevel::TooFewReviews => "too_few_reviews",
            AlertLevel::Ok => "ok",
            AlertLevel::Warn => "warn",
            AlertLevel::Recalibrate => "recalibrate",
        }
    }

    /// Whether someone should act on it.
    pub fn is_alert(self) -> bool {
        matches!(self, AlertLevel::Warn | AlertLevel::Recalibrate)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriterionAgreement {
    pub criterion: String,
    /// Reviews in which the machine scored this criterion.
    pub reviews: u32,
    /// Reviews where the reviewer kept the machine's verdict.
    pub agreement: Rate,
    /// `None` when undefined (both sides used one verdict throughout).
    pub kappa: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RubricAgreement {
    /// A rubric id, or `all` for the whole program.
    pub rubric_id: String,
    pub override_rate: Rate,
    pub kappa: Option<f64>,
    pub level: AlertLevel,
    /// The sentence to show when `level` is an alert.
    pub alert: Option<String>,
    pub criteria: Vec<CriterionAgreement>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agreement {
    pub window_days: u32,
    /// Reviews decided at or after this instant are in the window.
    pub since: DateTime<Utc>,
    pub min_sample: u32,
    pub warn_override_rate: f64,
    pub recalibrate_override_rate: f64,
    pub overall: RubricAgreement,
    pub rubrics: Vec<RubricAgreement>,
}

impl Agreement {
    /// Every alert, the program-wide one first.
    pub fn alerts(&self) -> impl Iterator<Item = &RubricAgreement> {
        std::iter::once(&self.overall)
            .chain(&self.rubrics)
            .filter(|r| r.level.is_alert())
    }
}

/// Agreement over the reviews decided in the window ending at `now`.
/// `decisions` give the machine's per-criterion verdicts of each reviewed
/// submission; a review without one counts for the decision figures only.
pub fn compute(
    reviews: &[Review],
    decisions: &[CertDecision],
    policy: &CalibrationPolicy,
    now: DateTime<Utc>,
) -> Agreement {
    let since = now - TimeDelta::days(i64::from(policy.window_days));
    let machine: BTreeMap<Uuid, &CertDecision> =
        decisions.iter().map(|d| (d.submission_id, d)).collect();
    let window: Vec<&Review> = reviews
        .iter()
        .filter(|r| r.decision.is_some() && r.decided_at.is_some_and(|t| t >= since && t <= now))
        .collect();
    let mut by_rubric: BTreeMap<&str, Vec<&Review>> = BTreeMap::new();
    for r in &window {
        by_rubric.entry(r.rubric_id.as_str()).or_default().push(r);
    }
    Agreement {
        window_days: policy.window_days,
        since,
        min_sample: policy.min_sample,
        warn_override_rate: policy.warn_override_rate,
        recalibrate_override_rate: policy.recalibrate_override_rate,
        overall: rubric_agreement("all", &window, &machine, policy),
        rubrics: by_rubric
            .into_iter()
            .map(|(id, rs)| rubric_agreement(id, &rs, &machine, policy))
            .collect(),
    }
}

fn rubric_agreement(
    rubric_id: &str,
    reviews: &[&Review],
    machine: &BTreeMap<Uuid, &CertDecision>,
    policy: &CalibrationPolicy,
) -> RubricAgreement {
    let pairs: Vec<(Outcome, Outcome)> = reviews
        .iter()
        .filter_map(|r| r.decision.map(|d| (r.machine_lean, d)))
        .collect();
    let override_rate = override_rate(&pairs);
    let level = policy.level(override_rate);
    let criteria = if rubric_id == "all" {
        // Criterion ids are a rubric's own; pooled across rubrics they mean nothing.
        Vec::new()
    } else {
        criterion_agreement(reviews, machine)
    };
    RubricAgreement {
        rubric_id: rubric_id.to_string(),
        override_rate,
        kappa: kappa(&pairs),
        level,
        alert: alert_sentence(rubric_id, override_rate, level, policy),
        criteria,
    }
}

fn override_rate(pairs: &[(Outcome, Outcome)]) -> Rate {
    let overridden = pairs.iter().filter(|(m, h)| m != h).count();
    Rate::of(overridden, pairs.len())
}

fn criterion_agreement(
    reviews: &[&Review],
    machine: &BTreeMap<Uuid, &CertDecision>,
) -> Vec<CriterionAgreement> {
    let mut pairs: BTreeMap<&str, Vec<(Verdict, Verdict)>> = BTreeMap::new();
    for r in reviews {
        let Some(decision) = machine.get(&r.submission_id) else {
            continue;
        };
        for c in &decision.criteria {
            let call = r.criteria.iter().find(|call| call.id == c.id);
            let reviewer = call.map_or(c.verdict, |call| call.verdict);
            if c.verdict == Verdict::Unscored && call.is_none() {
                continue; // nobody scored it
            }
            pairs
                .entry(c.id.as_str())
                .or_default()
                .push((c.verdict, reviewer));
        }
    }
    pairs
        .into_iter()
        .map(|(id, p)| CriterionAgreement {
            criterion: id.to_string(),
            reviews: u32::try_from(p.len()).unwrap_or(u32::MAX),
            agreement: Rate::of(p.iter().filter(|(a, b)| a == b).count(), p.len()),
            kappa: cohen_kappa(&p),
        })
        .collect()
}

fn alert_sentence(
    rubric_id: &str,
    rate: Rate,
    level: AlertLevel,
    policy: &CalibrationPolicy,
) -> Option<String> {
    let share = rate.rate?;
    let subject = if rubric_id == "all" {
        "Across the program".to_string()
    } else {
        rubric_id.to_string()
    };
    let pct = |x: f64| format!("{:.0}%", x * 100.0);
    let figures = format!(
        "reviewers overrode the machine on {} of {} decided reviews ({}) in the last {} days",
        rate.count,
        rate.total,
        pct(share),
        policy.window_days
    );
    match level {
        AlertLevel::Warn => Some(format!(
            "{subject}: {figures}, above the {} warning line. Read the overridden reviews for a pattern.",
            pct(policy.warn_override_rate)
        )),
        AlertLevel::Recalibrate => Some(format!(
            "{subject}: {figures}, above the {} line: recalibrate. Label a sample of recent pitches, run `pitchgrade rubric test` and fix the rubric or the judge before more reps are graded.",
            pct(policy.recalibrate_override_rate)
        )),
        AlertLevel::Ok | AlertLevel::TooFewReviews => None,
    }
}

/// The alert a new review decision raises for its rubric: `Some` only when
/// the decision moves the rubric's level up into an alert, so one crossing
/// sends one webhook, not one per later override.
pub fn raised_by(
    reviews: &[Review],
    decided: &Review,
    decision: Outcome,
    policy: &CalibrationPolicy,
    now: DateTime<Utc>,
) -> Option<RubricAgreement> {
    let of_rubric: Vec<Review> = reviews
        .iter()
        .filter(|r| r.rubric_id == decided.rubric_id && r.id != decided.id)
        .cloned()
        .collect();
    let before = compute(&of_rubric, &[], policy, now);
    let mut with = of_rubric;
    with.push(Review {
        decision: Some(decision),
        decided_at: Some(now),
        ..decided.clone()
    });
    let after = compute(&with, &[], policy, now);
    let level_before = before
        .rubrics
        .first()
        .map_or(AlertLevel::TooFewReviews, |r| r.level);
    let now_standing = after.rubrics.into_iter().next()?;
    (now_standing.level.is_alert() && now_standing.level > level_before).then_some(now_standing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::db::certification::{CriterionCall, CriterionVerdict};

    fn at(day: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000, 0).unwrap_or_default() + TimeDelta::days(day)
    }

    fn review(n: u128, rubric: &str, lean: Outcome, decision: Outcome, day: i64) -> Review {
        Review {
            id: Uuid::from_u128(n),
            submission_id: Uuid::from_u128(1000 + n),
            grade_id: Uuid::from_u128(2000 + n),
            rep_id: format!("rep-{n}"),
            rubric_id: rubric.into(),
            machine_score: 70.0,
            machine_lean: lean,
            reasons: Vec::new(),
            queued_at: at(day),
            claimed_by: None,
            claimed_at: None,
            claim_expires_at: None,
            decided_by: Some("r".into()),
            decided_at: Some(at(day)),
            decision: Some(decision),
            reason: Some("because".into()),
            criteria: Vec::new(),
        }
    }

    use Outcome::{Fail, Pass};

    /// `n` reviews of `rubric` on `day`, the first `overrides` of them overridden.
    fn batch(start: u128, rubric: &str, n: u128, overrides: u128, day: i64) -> Vec<Review> {
        (0..n)
            .map(|i| {
                let decision = if i < overrides { Fail } else { Pass };
                review(start + i, rubric, Pass, decision, day)
            })
            .collect()
    }

    #[test]
    fn the_lines_warn_above_twenty_and_recalibrate_above_thirty_percent() {
        let policy = CalibrationPolicy::default();
        let mut reviews = batch(0, "calm", 10, 2, 0); // 20%: on the line, not above
        reviews.extend(batch(100, "drifting", 10, 3, 0)); // 30%: warns
        reviews.extend(batch(200, "broken", 10, 4, 0)); // 40%: recalibrate
        reviews.extend(batch(300, "new", 4, 4, 0)); // 100% of 4: too few
        let a = compute(&reviews, &[], &policy, at(1));
        let level = |id: &str| {
            a.rubrics
                .iter()
                .find(|r| r.rubric_id == id)
                .map(|r| r.level)
        };
        assert_eq!(level("calm"), Some(AlertLevel::Ok));
        assert_eq!(level("drifting"), Some(AlertLevel::Warn));
        assert_eq!(level("broken"), Some(AlertLevel::Recalibrate));
        assert_eq!(level("new"), Some(AlertLevel::TooFewReviews));
        // 13 of 34 overall = 38%.
        assert_eq!(a.overall.override_rate.count, 13);
        assert_eq!(a.overall.override_rate.total, 34);
        assert_eq!(a.overall.level, AlertLevel::Recalibrate);
        let alerts: Vec<&str> = a.alerts().map(|r| r.rubric_id.as_str()).collect();
        assert_eq!(alerts, ["all", "broken", "drifting"]);
        let broken = a.rubrics.iter().find(|r| r.rubric_id == "broken");
        let sentence = broken.and_then(|r| r.alert.clone()).unwrap_or_default();
        assert!(sentence.contains("4 of 10"), "{sentence}");
        assert!(sentence.contains("recalibrate"), "{sentence}");
    }

    #[test]
    fn reviews_older_than_the_window_do_not_count() {
        let policy = CalibrationPolicy {
            window_days: 30,
            ..CalibrationPolicy::default()
        };
        let mut reviews = batch(0, "r", 10, 10, 0); // all overridden, long ago
        reviews.extend(batch(100, "r", 10, 1, 60));
        let a = compute(&reviews, &[], &policy, at(61));
        assert_eq!(a.rubrics[0].override_rate.total, 10);
        assert_eq!(a.rubrics[0].override_rate.count, 1);
        assert_eq!(a.rubrics[0].level, AlertLevel::Ok);
    }

    #[test]
    fn criterion_agreement_counts_unchanged_criteria_as_agreed() {
        let mut reviews = batch(0, "r", 4, 0, 0);
        // The reviewer changes `close` on the first two reviews only.
        for r in reviews.iter_mut().take(2) {
            r.criteria = vec![CriterionCall {
                id: "close".into(),
                verdict: Verdict::Met,
                machine_verdict: Verdict::Missed,
            }];
        }
        let decisions: Vec<CertDecision> = reviews
            .iter()
            .map(|r| CertDecision {
                submission_id: r.submission_id,
                rep_id: r.rep_id.clone(),
                track: None,
                rubric_id: "r".into(),
                rubric_version: Some(1),
                outcome: Pass,
                source: crate::store::db::certification::DecisionSource::Review,
                review_id: Some(r.id),
                machine_decision: crate::score::decide::Decision::Borderline,
                machine_score: 70.0,
                effect: crate::store::db::certification::Effect::Untracked,
                certification_id: None,
                submitted_at: at(0),
                graded_at: at(0),
                decided_at: at(0),
                criteria: vec![
                    CriterionVerdict {
                        id: "close".into(),
                        verdict: Verdict::Missed,
                        required: true,
                    },
                    CriterionVerdict {
                        id: "value".into(),
                        verdict: Verdict::Met,
                        required: false,
                    },
                    CriterionVerdict {
                        id: "pace".into(),
                        verdict: Verdict::Unscored,
                        required: false,
                    },
                ],
            })
            .collect();
        let a = compute(&reviews, &decisions, &CalibrationPolicy::default(), at(1));
        let c = &a.rubrics[0].criteria;
        let ids: Vec<&str> = c.iter().map(|c| c.criterion.as_str()).collect();
        assert_eq!(
            ids,
            ["close", "value"],
            "an unscored criterion nobody rated is left out"
        );
        assert_eq!(c[0].agreement.count, 2);
        assert_eq!(c[0].reviews, 4);
        // Machine said missed four times; the reviewer met, met, missed, missed.
        assert_eq!(c[0].kappa, Some(0.0));
        assert_eq!(c[1].agreement.rate, Some(1.0));
        assert_eq!(
            c[1].kappa, None,
            "one verdict throughout: undefined, not perfect"
        );
    }

    #[test]
    fn a_decision_raises_an_alert_only_when_it_crosses_a_line() {
        let policy = CalibrationPolicy::default();
        // 9 decided, 2 overridden; the tenth review is being decided.
        let mut reviews = batch(0, "r", 9, 2, 0);
        let pending = Review {
            decision: None,
            decided_at: None,
            ..review(50, "r", Pass, Pass, 0)
        };
        reviews.push(pending.clone());
        // Agreeing: 2 of 10 = 20%, on the line: nothing.
        assert!(raised_by(&reviews, &pending, Pass, &policy, at(1)).is_none());
        // Overriding: 3 of 10 = 30%: warns (from too few reviews to an alert).
        let raised = raised_by(&reviews, &pending, Fail, &policy, at(1));
        assert_eq!(raised.map(|r| r.level), Some(AlertLevel::Warn));
        // Already warning (3 of 10), another override at 4 of 11 = 36%: recalibrate.
        let mut warned = batch(0, "r", 10, 3, 0);
        let next = Review {
            decision: None,
            decided_at: None,
            ..review(60, "r", Pass, Pass, 0)
        };
        warned.push(next.clone());
        let raised = raised_by(&warned, &next, Fail, &policy, at(1));
        assert_eq!(raised.map(|r| r.level), Some(AlertLevel::Recalibrate));
        // Still warning after another override at the same level: no second alert.
        let mut warned = batch(0, "r", 20, 5, 0); // 25%
        warned.push(next.clone());
        assert!(raised_by(&warned, &next, Fail, &policy, at(1)).is_none()); // 6 of 21 = 29%
    }

    #[test]
    fn bad_lines_are_problems() {
        let policy = CalibrationPolicy {
            warn_override_rate: 0.4,
            recalibrate_override_rate: 0.3,
            window_days: 0,
            min_sample: 0,
        };
        assert_eq!(policy.problems().len(), 3);
        assert!(CalibrationPolicy::default().problems().is_empty());
    }
}
