//! The `Grade`: what a rep, a reviewer and the certification stage read.
//!
//! Its JSON is a contract (docs/grade-json.md). It is deterministic: fields in
//! a fixed order, no maps, floats rounded, so the same input gives the same bytes
//! and grades can be compared and audited by hash.

use serde::{Deserialize, Serialize};

use super::decide::{decide, CriterionOutcome, Decision, Reason, Signals, Unscored, Verdict};
use super::judge::{Evidence, Judge, JudgeError, JudgedKind, Question};
use super::measured::{measure, Measured, Observation};
use crate::rubric::{CriterionKind, CriterionSpec, LoadedRubric, Rubric};
use crate::transcribe::Transcript;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grade {
    pub decision: Decision,
    /// Percent of the weight of the scored criteria, 0–100.
    pub score: f64,
    pub pass_score: f64,
    pub borderline_band: f64,
    pub reasons: Vec<Reason>,
    pub criteria: Vec<CriterionGrade>,
    pub rubric: RubricRef,
    pub backends: Backends,
    pub flags: Flags,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriterionGrade {
    pub id: String,
    pub kind: CriterionKind,
    pub required: bool,
    /// Points earned; `None` (JSON null) when unscored — never a silent 0.
    pub score: Option<f64>,
    /// Points possible.
    pub max: f64,
    pub verdict: Verdict,
    /// The judge's level name (e.g. "met", "partial"), for judged criteria.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    pub evidence: Vec<Evidence>,
    /// Why, in a sentence.
    pub rationale: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<Observation>,
    /// One concrete tip, present whenever the criterion was not fully met.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coaching: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unscored: Option<Unscored>,
    /// The judge's raw output when it failed, kept for audit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_raw: Option<String>,
    /// Why the machine may have under-credited this criterion (a near miss,
    /// words it may have misheard). Such a criterion sends a grade it would
    /// fail to review instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsure: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RubricRef {
    pub id: String,
    pub version: u32,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backends {
    pub transcriber: String,
    pub transcriber_model: String,
    pub judge: String,
    pub judge_model: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flags {
    /// The pitch addressed the grader ("ignore the rubric…"); quotes in `injection_evidence`.
    pub injection_flagged: bool,
    pub injection_evidence: Vec<Evidence>,
    /// The transcriber may drop "um"/"uh": the filler figure is a lower bound.
    pub filler_count_is_lower_bound: bool,
    /// Word times were made up (typed transcript), so evidence times are approximate.
    pub synthetic_word_times: bool,
    /// Criteria that need audio were left out of the score.
    pub audio_criteria_unscored: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript_confidence: Option<f64>,
    /// Words of the rubric's vocabulary the recogniser heard as something
    /// near them ("Talerly" for "Tillerly"); the judge read them as the term.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub heard_as: Vec<super::hearing::Repair>,
    /// How clearly the recording was heard; `None` for typed text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clarity: Option<super::clarity::Clarity>,
}

/// The backend name of a typed transcript: nothing was heard, so nothing is repaired.
const TYPED_BACKEND: &str = "text";

/// Grades one transcript (plus, when there is audio, its delivery figures)
/// against a rubric. One judge question per judged criterion; a judge error
/// leaves that criterion unscored with the raw output kept.
pub async fn grade(
    rubric: &LoadedRubric,
    transcript: &Transcript,
    delivery: Option<&super::measured::DeliveryInput>,
    judge: &dyn Judge,
) -> Grade {
    let r = &rubric.rubric;
    // The judge reads the rubric's own words where the recogniser misheard
    // them; quotes still show what was heard.
    let (judged_text, heard_as) = if transcript.backend == TYPED_BACKEND {
        (None, Vec::new())
    } else {
        let (repaired, repairs) = super::hearing::repair(transcript, &r.vocabulary);
        ((!repairs.is_empty()).then_some(repaired), repairs)
    };
    let mut criteria = Vec::new();
    for spec in r.criteria() {
        let required = r.pass.required.contains(&spec.id);
        let c = match question_for(r, &spec) {
            Some(q) => {
                let mut c = judged(
                    r,
                    &spec,
                    &q,
                    judged_text.as_ref().unwrap_or(transcript),
                    judge,
                )
                .await;
                if judged_text.is_some() {
                    for ev in &mut c.evidence {
                        if let Some(quote) =
                            super::hearing::heard_between(transcript, ev.start, ev.end)
                        {
                            ev.quote = quote;
                        }
                    }
                }
                c
            }
            None => measured(r, &spec, transcript, delivery),
        };
        criteria.push(CriterionGrade { required, ..c });
    }

    let injection_evidence: Vec<Evidence> = super::untrusted::detect_injection(transcript)
        .into_iter()
        .map(|hit| {
            round_evidence(Evidence {
                quote: hit.sentence,
                start: hit.start,
                end: hit.end,
            })
        })
        .collect();
    let clarity = super::clarity::Clarity::of(transcript);
    let signals = Signals {
        transcript_confidence: transcript.mean_confidence().map(|c| round(c as f64, 3)),
        injection_flagged: !injection_evidence.is_empty(),
        unclear_recording: clarity
            .as_ref()
            .filter(|c| c.is_unclear())
            .map(super::clarity::Clarity::describe),
    };
    let outcomes: Vec<CriterionOutcome<'_>> = criteria
        .iter()
        .map(|c| CriterionOutcome {
            id: &c.id,
            weight: c.max,
            credit: c.score.map(|s| if c.max > 0.0 { s / c.max } else { 0.0 }),
            verdict: c.verdict,
            unscored: c.unscored,
            required: c.required,
            unsure: c.unsure.as_deref(),
        })
        .collect();
    let decided = decide(&r.pass, &outcomes, &signals);

    Grade {
        decision: decided.decision,
        score: decided.score,
        pass_score: r.pass.score,
        borderline_band: r.pass.borderline,
        reasons: decided.reasons,
        flags: Flags {
            injection_flagged: signals.injection_flagged,
            injection_evidence,
            filler_count_is_lower_bound: transcript.filler_count_is_lower_bound,
            synthetic_word_times: !transcript.capabilities.word_times,
            audio_criteria_unscored: criteria
                .iter()
                .any(|c| c.unscored == Some(Unscored::NeedsAudio)),
            transcript_confidence: signals.transcript_confidence,
            heard_as,
            clarity,
        },
        criteria,
        rubric: RubricRef {
            id: r.id.clone(),
            version: r.version,
            sha256: rubric.sha256.clone(),
        },
        backends: Backends {
            transcriber: transcript.backend.clone(),
            transcriber_model: transcript.model.clone(),
            judge: judge.name().to_string(),
            judge_model: judge.model().to_string(),
        },
    }
}

impl Grade {
    /// `(points that could be scored, points in the rubric)` when some
    /// criteria are unscored, so the score is a share of fewer points than the
    /// rubric has; `None` when every criterion was scored.
    pub fn points_scored(&self) -> Option<(f64, f64)> {
        let total: f64 = self.criteria.iter().map(|c| c.max).sum();
        let scored: f64 = self
            .criteria
            .iter()
            .filter(|c| c.score.is_some())
            .map(|c| c.max)
            .sum();
        (scored + 1e-9 < total).then_some((round(scored, 1), round(total, 1)))
    }

    /// The JSON contract, pretty-printed; byte-identical for identical grades.
    pub fn to_json(&self) -> String {
        // Every field is a string, number, bool, enum or Vec of those: cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// The judge question for a judged criterion; `None` for measured ones.
pub fn question_for(r: &Rubric, spec: &CriterionSpec) -> Option<Question> {
    let q = |kind, description: &str, raised_as: Option<&str>, examples: &[String]| Question {
        criterion_id: spec.id.clone(),
        kind,
        description: description.to_string(),
        raised_as: raised_as.map(str::to_string),
        examples: examples.to_vec(),
    };
    match spec.kind {
        CriterionKind::TalkingPoint => r
            .talking_points
            .iter()
            .find(|t| t.id == spec.id)
            .map(|t| q(JudgedKind::TalkingPoint, &t.description, None, &t.examples)),
        CriterionKind::Objection => r.objections.iter().find(|o| o.id == spec.id).map(|o| {
            q(
                JudgedKind::Objection,
                &o.good_response,
                Some(&o.raised_as),
                &o.examples,
            )
        }),
        CriterionKind::Tone => r
            .tone
            .as_ref()
            .map(|t| q(JudgedKind::Tone, &t.description, None, &t.examples)),
        _ => None,
    }
}

fn coaching_for(r: &Rubric, id: &str) -> Option<String> {
    let text = r
        .talking_points
        .iter()
        .find(|t| t.id == id)
        .map(|t| &t.coaching)
        .or_else(|| {
            r.objections
                .iter()
                .find(|o| o.id == id)
                .map(|o| &o.coaching)
        })
        .or_else(|| {
            (id == crate::rubric::criteria::TONE_ID)
                .then(|| r.tone.as_ref().map(|t| &t.coaching))
                .flatten()
        })?;
    (!text.trim().is_empty()).then(|| text.trim().to_string())
}

async fn judged(
    r: &Rubric,
    spec: &CriterionSpec,
    question: &Question,
    transcript: &Transcript,
    judge: &dyn Judge,
) -> CriterionGrade {
    let base = unscored_row(spec);
    let verdict = match judge.judge(r, question, transcript).await {
        Ok(v) if v.criterion_id != spec.id => Err(JudgeError::Malformed {
            judge: judge.name().to_string(),
            message: format!(
                "answered criterion {:?} instead of {:?}",
                v.criterion_id, spec.id
            ),
            raw: v.raw.clone().unwrap_or_default(),
        }),
        Ok(v) if !v.credit.is_finite() || !(0.0..=1.0).contains(&v.credit) => {
            Err(JudgeError::Malformed {
                judge: judge.name().to_string(),
                message: format!("credit {} is outside 0..=1", v.credit),
                raw: v.raw.clone().unwrap_or_default(),
            })
        }
        other => other,
    };
    match verdict {
        Ok(v) => {
            let verdict = verdict_of(&v.level, v.credit);
            CriterionGrade {
                score: Some(round(v.credit * spec.weight, 2)),
                verdict,
                level: Some(v.level),
                evidence: v.evidence.into_iter().map(round_evidence).collect(),
                rationale: v.rationale,
                coaching: (verdict != Verdict::Met)
                    .then(|| coaching_for(r, &spec.id))
                    .flatten(),
                unsure: v.unsure.filter(|_| verdict != Verdict::Met),
                ..base
            }
        }
        Err(e) => {
            let (cause, raw) = match &e {
                JudgeError::Disagreement { raw, .. } => {
                    (Unscored::JudgeDisagreement, Some(raw.clone()))
                }
                JudgeError::Refused { raw, .. } | JudgeError::Malformed { raw, .. } => {
                    (Unscored::JudgeFailed, Some(raw.clone()))
                }
                JudgeError::Transport { .. } | JudgeError::Setup { .. } => {
                    (Unscored::JudgeFailed, None)
                }
            };
            CriterionGrade {
                rationale: format!("unscored: {e}"),
                unscored: Some(cause),
                judge_raw: raw,
                ..base
            }
        }
    }
}

/// The row every criterion starts from: unscored until a stage scores it, so
/// a criterion no stage reached can never read as 0 or as met.
fn unscored_row(spec: &CriterionSpec) -> CriterionGrade {
    CriterionGrade {
        id: spec.id.clone(),
        kind: spec.kind,
        required: false,
        score: None,
        max: round(spec.weight, 2),
        verdict: Verdict::Unscored,
        level: None,
        evidence: Vec::new(),
        rationale: String::new(),
        measured: None,
        coaching: None,
        unscored: None,
        judge_raw: None,
        unsure: None,
    }
}

fn measured(
    r: &Rubric,
    spec: &CriterionSpec,
    transcript: &Transcript,
    delivery: Option<&super::measured::DeliveryInput>,
) -> CriterionGrade {
    let base = unscored_row(spec);
    match measure(r, spec, transcript, delivery) {
        Measured::Scored {
            credit,
            observation,
            note,
            coaching,
        } => CriterionGrade {
            score: Some(round(credit * spec.weight, 2)),
            verdict: verdict_of("", credit),
            measured: Some(Observation {
                value: round(observation.value, 3),
                ..observation
            }),
            rationale: note,
            coaching,
            ..base
        },
        Measured::NeedsAudio { why } => CriterionGrade {
            rationale: why,
            unscored: Some(Unscored::NeedsAudio),
            ..base
        },
    }
}

/// The judge's level when it is one of ours, else from the credit.
fn verdict_of(level: &str, credit: f64) -> Verdict {
    match level.trim().to_ascii_lowercase().as_str() {
        "met" => Verdict::Met,
        "partial" => Verdict::Partial,
        "missed" => Verdict::Missed,
        _ if credit >= 0.999 => Verdict::Met,
        _ if credit > 0.0 => Verdict::Partial,
        _ => Verdict::Missed,
    }
}

fn round_evidence(e: Evidence) -> Evidence {
    Evidence {
        start: round(e.start, 2),
        end: round(e.end, 2),
        ..e
    }
}

/// Rounds to `places` decimals so float noise never reaches the JSON.
pub fn round(x: f64, places: i32) -> f64 {
    if !x.is_finite() {
        return 0.0;
    }
    let f = 10f64.powi(places);
    let r = (x * f).round() / f;
    if r == 0.0 {
        0.0
    } else {
        r
    }
}
