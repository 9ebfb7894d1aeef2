//! Stage 6: weights, pass bar and decision — code, never a model's call.
//!
//! The rule: a grade that cannot be trusted unattended goes to a reviewer
//! (borderline) with the reasons; it is never silently passed or failed.
//! Doubt only ever moves a grade towards review, never to fail: a failed
//! attempt costs a rep a cooldown and their rights, so only a confident grade
//! may cause one. A criterion the machine was unsure of (a near miss, a
//! misheard word) that alone would fail the rep sends the grade to review.

use serde::{Deserialize, Serialize};

use crate::rubric::PassRule;

/// Mean word confidence below which a transcript is too unsure to grade alone,
/// when the rubric does not set its own.
pub const DEFAULT_MIN_TRANSCRIPT_CONFIDENCE: f64 = 0.6;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Pass,
    Fail,
    Borderline,
}

/// How a criterion came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Met,
    Partial,
    Missed,
    Unscored,
}

/// Why a criterion has no score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unscored {
    /// The input cannot measure it (a typed transcript has no audio). Left out
    /// of the score; only a required criterion in this state needs review.
    NeedsAudio,
    /// The judge failed (transport, refusal, malformed or truncated output).
    JudgeFailed,
    /// The judge's samples disagreed with each other.
    JudgeDisagreement,
}

/// One criterion as the decision sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct CriterionOutcome<'a> {
    pub id: &'a str,
    pub weight: f64,
    /// Fraction of `weight` earned; `None` when unscored.
    pub credit: Option<f64>,
    pub verdict: Verdict,
    pub unscored: Option<Unscored>,
    pub required: bool,
    /// Why the machine may have under-credited this criterion (see
    /// [`crate::score::judge::Judgement::unsure`]); `None` when it is confident.
    pub unsure: Option<&'a str>,
}

/// What else the decision must know about the grade.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signals {
    /// Mean word confidence of the transcript, when the backend gives one.
    pub transcript_confidence: Option<f64>,
    /// The transcript tried to instruct the grader.
    pub injection_flagged: bool,
    /// Why the recording counts as heard unclearly
    /// ([`crate::score::clarity::Clarity::is_unclear`]); `None` when it was
    /// heard clearly or is typed.
    pub unclear_recording: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    AboveBar,
    BelowBar,
    InsideBand,
    RequiredMissed,
    RequiredPartial,
    RequiredUnscored,
    JudgeFailed,
    JudgeDisagreement,
    LowTranscriptConfidence,
    InjectionFlagged,
    NothingScored,
    /// A required criterion was missed, but the machine was unsure of it.
    UnsureRequired,
    /// Below the bar, but the criteria the machine was unsure of could lift
    /// the score into the review band or over the bar.
    UnsureScore,
    /// The grade would fail the rep, but the recording was heard too
    /// unclearly for a missed point to be trusted as missed.
    UnclearRecording,
}

impl ReasonCode {
    /// Reasons that alone send a grade to a reviewer, whatever the score.
    fn forces_review(self) -> bool {
        matches!(
            self,
            ReasonCode::RequiredUnscored
                | ReasonCode::JudgeFailed
                | ReasonCode::JudgeDisagreement
                | ReasonCode::LowTranscriptConfidence
                | ReasonCode::InjectionFlagged
                | ReasonCode::NothingScored
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    pub code: ReasonCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criterion: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CriterionOutcomes {
    pub decision: Decision,
    /// Percent of the weight of the scored criteria, 0–100, rounded to 0.1.
    pub score: f64,
    pub reasons: Vec<Reason>,
}

/// Decides pass / fail / borderline. Order of precedence:
/// 1. anything that makes the score untrustworthy → borderline;
/// 2. a required criterion missed → fail;
/// 3. a required criterion only partly met, or a score inside the band → borderline;
/// 4. otherwise the bar decides;
/// 5. a fail from a recording heard unclearly → borderline.
pub fn decide(
    rule: &PassRule,
    criteria: &[CriterionOutcome<'_>],
    signals: &Signals,
) -> CriterionOutcomes {
    let mut reasons = Vec::new();
    let mut reason = |code, criterion: Option<&str>, message: String| {
        reasons.push(Reason {
            code,
            criterion: criterion.map(str::to_string),
            message,
        })
    };

    let (earned, possible) = criteria
        .iter()
        .filter_map(|c| {
            c.credit
                .map(|credit| (credit.clamp(0.0, 1.0) * c.weight, c.weight))
        })
        .fold((0.0, 0.0), |(e, p), (ce, cp)| (e + ce, p + cp));
    let score = if possible > 0.0 {
        round1(100.0 * earned / possible)
    } else {
        0.0
    };
    if possible <= 0.0 {
        reason(
            ReasonCode::NothingScored,
            None,
            "no criterion could be scored".into(),
        );
    }

    for c in criteria {
        match c.unscored {
            Some(Unscored::JudgeFailed) => reason(
                ReasonCode::JudgeFailed,
                Some(c.id),
                format!("the judge failed on {:?}; it is unscored, not zero", c.id),
            ),
            Some(Unscored::JudgeDisagreement) => reason(
                ReasonCode::JudgeDisagreement,
                Some(c.id),
                format!("the judge's samples disagreed on {:?}", c.id),
            ),
            Some(Unscored::NeedsAudio) | None => {}
        }
        if !c.required {
            continue;
        }
        match c.verdict {
            Verdict::Unscored => reason(
                ReasonCode::RequiredUnscored,
                Some(c.id),
                format!("required criterion {:?} could not be scored", c.id),
            ),
            Verdict::Missed => match c.unsure {
                Some(why) => reason(
                    ReasonCode::UnsureRequired,
                    Some(c.id),
                    format!(
                        "required criterion {:?} looks missed, but {why}; a reviewer decides",
                        c.id
                    ),
                ),
                None => reason(
                    ReasonCode::RequiredMissed,
                    Some(c.id),
                    format!("required criterion {:?} was missed", c.id),
                ),
            },
            Verdict::Partial => reason(
                ReasonCode::RequiredPartial,
                Some(c.id),
                format!("required criterion {:?} was only partly met", c.id),
            ),
            Verdict::Met => {}
        }
    }

    let min_confidence = rule
        .min_transcript_confidence
        .unwrap_or(DEFAULT_MIN_TRANSCRIPT_CONFIDENCE);
    if let Some(conf) = signals.transcript_confidence {
        if conf < min_confidence {
            reason(
                ReasonCode::LowTranscriptConfidence,
                None,
                format!("mean transcript confidence {conf:.2} is below {min_confidence:.2}"),
            );
        }
    }
    if signals.injection_flagged {
        reason(
            ReasonCode::InjectionFlagged,
            None,
            "the pitch contains text addressed to the grader; a reviewer must check it".into(),
        );
    }

    let bar = rule.score;
    let band = rule.borderline;
    // A score over some of the points reads as over all of them unless it says so.
    let total: f64 = criteria.iter().map(|c| c.weight).sum();
    let of_scored = if possible + 1e-9 < total {
        format!(" (on the {possible:.0} of {total:.0} points that could be scored)")
    } else {
        String::new()
    };
    if possible > 0.0 {
        if band > 0.0 && score >= bar - band && score < bar + band {
            reason(
                ReasonCode::InsideBand,
                None,
                format!(
                    "score {score:.1}{of_scored} is inside the review band [{}, {}) around the pass bar {bar}",
                    bar - band,
                    bar + band
                ),
            );
        } else if score >= bar {
            reason(
                ReasonCode::AboveBar,
                None,
                format!("score {score:.1}{of_scored} reaches the pass bar {bar}"),
            );
        } else {
            reason(
                ReasonCode::BelowBar,
                None,
                format!("score {score:.1}{of_scored} is below the pass bar {bar}"),
            );
        }
    }

    // The best the rep could have scored had the machine heard and judged
    // right every criterion it was unsure of.
    let doubtful: Vec<&CriterionOutcome<'_>> = criteria
        .iter()
        .filter(|c| c.unsure.is_some() && c.credit.is_some_and(|x| x < 1.0))
        .collect();
    let benefit: f64 = doubtful
        .iter()
        .filter_map(|c| c.credit.map(|x| (1.0 - x.clamp(0.0, 1.0)) * c.weight))
        .sum();
    let optimistic = if possible > 0.0 {
        round1(100.0 * (earned + benefit) / possible)
    } else {
        0.0
    };
    let confident_fail_by_score = score < bar - band.max(0.0);
    if possible > 0.0 && confident_fail_by_score && optimistic >= bar - band.max(0.0) {
        let ids: Vec<String> = doubtful.iter().map(|c| format!("{:?}", c.id)).collect();
        reason(
            ReasonCode::UnsureScore,
            None,
            format!(
                "score {score:.1} is below the bar, but the machine was unsure of {}; judged right they could make it {optimistic:.1}",
                ids.join(", ")
            ),
        );
    }

    let has = |f: &dyn Fn(ReasonCode) -> bool| reasons.iter().any(|r| f(r.code));
    let decision = if has(&|c| c.forces_review()) {
        Decision::Borderline
    } else if has(&|c| c == ReasonCode::RequiredMissed) {
        Decision::Fail
    } else if has(&|c| {
        matches!(
            c,
            ReasonCode::RequiredPartial
                | ReasonCode::InsideBand
                | ReasonCode::UnsureRequired
                | ReasonCode::UnsureScore
        )
    }) {
        Decision::Borderline
    } else if score >= bar {
        Decision::Pass
    } else {
        Decision::Fail
    };
    // Only a fail needs the recording heard clearly: what the recogniser
    // could not hear reads as missed, never as made.
    let decision = match (decision, &signals.unclear_recording) {
        (Decision::Fail, Some(why)) => {
            reasons.push(Reason {
                code: ReasonCode::UnclearRecording,
                criterion: None,
                message: format!(
                    "{why}; a point that reads as missed may have been said, so a reviewer listens before a fail"
                ),
            });
            Decision::Borderline
        }
        (d, _) => d,
    };
    CriterionOutcomes {
        decision,
        score,
        reasons,
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
