//! The rubric as enablement writes it (TOML), deserialised strictly.
//!
//! `deny_unknown_fields` everywhere: a misspelt key silently ignored would
//! change how reps are graded without anyone noticing.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rubric {
    /// Stable identifier, e.g. "acme-sales-pitch". Lowercase, digits and dashes.
    pub id: String,
    /// Human title shown to reps and reviewers.
    #[serde(default)]
    pub title: String,
    pub track: TrackKind,
    /// Bump on every change that could change a grade.
    pub version: u32,
    pub scenario: Scenario,
    pub pass: PassRule,
    #[serde(default, rename = "talking_point")]
    pub talking_points: Vec<TalkingPoint>,
    #[serde(default, rename = "objection")]
    pub objections: Vec<Objection>,
    #[serde(default)]
    pub tone: Option<Tone>,
    #[serde(default)]
    pub timing: Option<Timing>,
    #[serde(default)]
    pub delivery: Option<Delivery>,
    /// Product, competitor and jargon words passed to transcription so they are spelled right.
    #[serde(default)]
    pub vocabulary: Vec<String>,
    /// What `pitchgrade rubric test` must reach on this rubric's labelled
    /// pitches before a change ships; a bar missed exits non-zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement: Option<AgreementBars>,
    /// The offline judge's similarity bars fitted to this rubric's labelled
    /// pitches (`pitchgrade rubric calibrate --write`); absent, the global bars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_bars: Option<JudgeBars>,
}

/// A fitted move of the offline judge's bars for this rubric's anchors.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JudgeBars {
    /// Added to the met and partial similarity bars (−0.10 to +0.10): below
    /// zero when good pitches land further from this rubric's anchors than
    /// the judge's defaults expect.
    pub shift: f32,
}

/// Agreement bars for a rubric's labelled set. Unset bars are not checked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgreementBars {
    /// Least share (0–1) of cases whose grade decision equals the label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_decision_agreement: Option<f64>,
    /// Least share (0–1) whose decision, by the label rule from the judge's verdicts, equals the label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_label_rule_agreement: Option<f64>,
    /// Least Cohen's kappa of the worst criterion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kappa: Option<f64>,
    /// Least median kappa over the criteria.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_median_kappa: Option<f64>,
    /// Most cases labelled fail or borderline that the grade passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_false_passes: Option<usize>,
    /// Most cases labelled pass that the grade fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_false_fails: Option<usize>,
    /// Largest share (0–1) of cases sent to review.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_review_rate: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TrackKind {
    Sales,
    Technical,
    Delivery,
    Support,
    Specialty,
}

/// What the rep was told before recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Who the made-up buyer is.
    pub buyer: String,
    #[serde(default)]
    pub context: String,
    /// Ids of the `[[objection]]` entries the buyer raises.
    #[serde(default)]
    pub objections: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PassRule {
    /// Pass bar: percent of weighted points (0–100).
    pub score: f64,
    /// ± band around the bar that goes to a human reviewer.
    #[serde(default)]
    pub borderline: f64,
    /// Criterion ids that must be met (verdict "met") to pass at all.
    #[serde(default)]
    pub required: Vec<String>,
    /// Mean word confidence (0–1) below which the transcript is too unsure to
    /// grade unattended. Defaults to 0.6 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_transcript_confidence: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TalkingPoint {
    pub id: String,
    pub weight: f64,
    /// The claim the rep must make, in plain words.
    pub description: String,
    /// Ways a rep might say it. Used by the offline judge as meaning anchors.
    #[serde(default)]
    pub examples: Vec<String>,
    /// Shown to the rep when missed.
    #[serde(default)]
    pub coaching: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Objection {
    pub id: String,
    pub weight: f64,
    /// How the buyer raises it.
    pub raised_as: String,
    /// What a good answer does.
    pub good_response: String,
    /// Phrasings of a good answer, as meaning anchors for the offline judge.
    #[serde(default)]
    pub examples: Vec<String>,
    #[serde(default)]
    pub coaching: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tone {
    pub weight: f64,
    /// The tone wanted, e.g. "consultative: asks about the buyer's situation, no hard sell".
    pub description: String,
    #[serde(default)]
    pub examples: Vec<String>,
    #[serde(default)]
    pub coaching: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Timing {
    pub weight: f64,
    /// Full marks inside [min, max] seconds.
    pub target_seconds: [f64; 2],
    /// Zero outside [min, max] seconds; linear between target and limit.
    pub limit_seconds: [f64; 2],
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    pub weight: f64,
    /// Full marks inside this pace band.
    pub words_per_minute: [f64; 2],
    pub max_filler_ratio: f64,
    pub max_pause_seconds: f64,
    /// Below this the delivery counts as monotone.
    #[serde(default)]
    pub min_pitch_variation_semitones: Option<f64>,
    /// Pace hard limits: zero credit outside, linear from the band. Defaults to
    /// 50 wpm beyond each end of the band.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub words_per_minute_limits: Option<[f64; 2]>,
    /// Filler ratio that earns zero. Defaults to twice `max_filler_ratio`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filler_ratio_limit: Option<f64>,
    /// Longest pause that earns zero. Defaults to twice `max_pause_seconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_limit_seconds: Option<f64>,
    /// Pitch variation at or below which credit is zero. Defaults to half the minimum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pitch_variation_floor_semitones: Option<f64>,
}

impl Delivery {
    pub fn pace_limits(&self) -> [f64; 2] {
        self.words_per_minute_limits.unwrap_or([
            (self.words_per_minute[0] - 50.0).max(0.0),
            self.words_per_minute[1] + 50.0,
        ])
    }

    pub fn filler_limit(&self) -> f64 {
        self.filler_ratio_limit
            .unwrap_or(self.max_filler_ratio * 2.0)
    }

    pub fn pause_limit(&self) -> f64 {
        self.pause_limit_seconds
            .unwrap_or(self.max_pause_seconds * 2.0)
    }

    /// `(floor, minimum)` when pitch variation is graded.
    pub fn pitch_band(&self) -> Option<(f64, f64)> {
        let min = self.min_pitch_variation_semitones?;
        Some((
            self.pitch_variation_floor_semitones.unwrap_or(min / 2.0),
            min,
        ))
    }
}
