//! The flat list of criteria a rubric grades, with their ids, kinds and weights.
//!
//! Lint (required ids must exist), scoring and the grade all need the same
//! answer to "which criteria does this rubric have?", so it lives in one place.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::model::Rubric;

/// Fixed ids of the criteria that come from `[tone]`, `[timing]` and `[delivery]`.
/// Talking points and objections may not use them.
pub const TONE_ID: &str = "tone";
pub const TIMING_ID: &str = "timing";
pub const PACE_ID: &str = "pace";
pub const FILLERS_ID: &str = "fillers";
pub const LONGEST_PAUSE_ID: &str = "longest_pause";
pub const PITCH_VARIATION_ID: &str = "pitch_variation";

pub const RESERVED_IDS: [&str; 6] = [
    TONE_ID,
    TIMING_ID,
    PACE_ID,
    FILLERS_ID,
    LONGEST_PAUSE_ID,
    PITCH_VARIATION_ID,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CriterionKind {
    TalkingPoint,
    Objection,
    Tone,
    Timing,
    Pace,
    Fillers,
    LongestPause,
    PitchVariation,
}

impl CriterionKind {
    /// Measured criteria are computed by code; the others go to a judge.
    pub fn is_measured(self) -> bool {
        !matches!(
            self,
            CriterionKind::TalkingPoint | CriterionKind::Objection | CriterionKind::Tone
        )
    }
}

/// One gradeable criterion of a rubric.
#[derive(Debug, Clone, PartialEq)]
pub struct CriterionSpec {
    pub id: String,
    pub kind: CriterionKind,
    /// Points this criterion is worth (its share of the rubric's total weight).
    pub weight: f64,
}

impl Rubric {
    /// Every criterion in grading order: talking points, objections, tone,
    /// timing, then delivery. `[delivery]`'s weight is split equally between
    /// its parts, so a rep sees which part of delivery cost points.
    pub fn criteria(&self) -> Vec<CriterionSpec> {
        let mut out = Vec::new();
        let mut push = |id: &str, kind, weight| {
            out.push(CriterionSpec {
                id: id.to_string(),
                kind,
                weight,
            })
        };
        for tp in &self.talking_points {
            push(&tp.id, CriterionKind::TalkingPoint, tp.weight);
        }
        for ob in &self.objections {
            push(&ob.id, CriterionKind::Objection, ob.weight);
        }
        if let Some(tone) = &self.tone {
            push(TONE_ID, CriterionKind::Tone, tone.weight);
        }
        if let Some(timing) = &self.timing {
            push(TIMING_ID, CriterionKind::Timing, timing.weight);
        }
        if let Some(delivery) = &self.delivery {
            let mut parts = vec![
                (PACE_ID, CriterionKind::Pace),
                (FILLERS_ID, CriterionKind::Fillers),
                (LONGEST_PAUSE_ID, CriterionKind::LongestPause),
            ];
            if delivery.min_pitch_variation_semitones.is_some() {
                parts.push((PITCH_VARIATION_ID, CriterionKind::PitchVariation));
            }
            let share = delivery.weight / parts.len() as f64;
            for (id, kind) in parts {
                push(id, kind, share);
            }
        }
        out
    }
}
