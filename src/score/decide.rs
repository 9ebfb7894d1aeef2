//! Stage 6: weights, pass bar and decision — code, never a model's call.
//!
//! The rule: a grade that cannot be trusted unattended goes to a reviewer
//! (borderline) with the reasons; it is never silently passed or failed.

use serde::{Deserialize, Serialize};

use crate::rubric::PassRule;

/// Mean word confidence below which a transcript is too unsure to grade alone,
/// when the rubric does not set its own.
pub const DEFAULT_MIN_TRANSCRIPT_CONFIDENCE: f64 = 0.6;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
pub struct Outcome<'a> {
    pub id: &'a str,
    pub weight: f64,
    /// Fraction of `weight` earned; `None` when unscored.
    pub credit: Option<f64>,
    pub verdict: Verdict,
    pub unscored: Option<Unscored>,
    pub required: bool,
}

/// What else the decision must know about the grade.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signals {
    /// Mean word confidence of the transcript, when the backend gives one.
    pub transcript_confidence: Option<f64>,
    /// The transcript tried to instruct the grader.
    pub injection_flagged: bool,
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
pub struct Outcomes {
    pub decision: Decision,
    /// Percent of the weight of the scored criteria, 0–100, rounded to 0.1.
    pub score: f64,
    pub reasons: Vec<Reason>,
}

/// Decides pass / fail / borderline. Order of precedence:
/// 1. anything that makes the score untrustworthy → borderline;
/// 2. a required criterion missed → fail;
/// 3. a required criterion only partly met, or a score inside the band → borderline;
/// 4. otherwise the bar decides.
pub fn decide(rule: &PassRule, criteria: &[Outcome<'_>], signals: &Signals) -> Outcomes {
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
            Verdict::Missed => reason(
                ReasonCode::RequiredMissed,
                Some(c.id),
                format!("required criterion {:?} was missed", c.id),
            ),
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
    if possible > 0.0 {
        if band > 0.0 && score >= bar - band && score < bar + band {
            reason(
                ReasonCode::InsideBand,
                None,
                format!(
                    "score {score:.1} is inside the review band [{}, {}) around the pass bar {bar}",
                    bar - band,
                    bar + band
                ),
            );
        } else if score >= bar {
            reason(
                ReasonCode::AboveBar,
                None,
                format!("score {score:.1} reaches the pass bar {bar}"),
            );
        } else {
            reason(
                ReasonCode::BelowBar,
                None,
                format!("score {score:.1} is below the pass bar {bar}"),
            );
        }
    }

    let has = |f: &dyn Fn(ReasonCode) -> bool| reasons.iter().any(|r| f(r.code));
    let decision = if has(&|c| c.forces_review()) {
        Decision::Borderline
    } else if has(&|c| c == ReasonCode::RequiredMissed) {
        Decision::Fail
    } else if has(&|c| matches!(c, ReasonCode::RequiredPartial | ReasonCode::InsideBand)) {
        Decision::Borderline
    } else if score >= bar {
        Decision::Pass
    } else {
        Decision::Fail
    };
    Outcomes {
        decision,
        score,
        reasons,
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
