//! What certification reads from a stored grade's JSON (docs/grade-json.md).
//!
//! Read leniently: the decision itself is a column of the grade row, so a grade
//! whose JSON lacks a field (an older scorer) still certifies; only the extras
//! (rubric version, criteria for reports, reasons for reviewers) go missing.

use serde::Deserialize;

use crate::score::decide::Verdict;
use crate::store::db::certification::{CriterionVerdict, Outcome, ReviewReason};

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct GradeView {
    #[serde(default)]
    pub score: Option<f64>,
    #[serde(default)]
    pub pass_score: Option<f64>,
    #[serde(default)]
    pub reasons: Vec<serde_json::Value>,
    #[serde(default)]
    pub criteria: Vec<serde_json::Value>,
    #[serde(default)]
    pub rubric: Option<RubricRefView>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct RubricRefView {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub version: Option<u32>,
}

/// One criterion as certification needs it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CriterionView {
    pub id: String,
    pub verdict: Verdict,
    pub required: bool,
    pub score: Option<f64>,
    pub max: f64,
}

impl GradeView {
    pub fn parse(grade: &serde_json::Value) -> GradeView {
        serde_json::from_value(grade.clone()).unwrap_or_default()
    }

    pub fn rubric_id(&self) -> Option<&str> {
        self.rubric.as_ref()?.id.as_deref()
    }

    pub fn rubric_version(&self) -> Option<u32> {
        self.rubric.as_ref()?.version
    }

    pub fn criteria(&self) -> Vec<CriterionView> {
        self.criteria
            .iter()
            .filter_map(|c| {
                let id = c.get("id")?.as_str()?.to_string();
                let verdict = serde_json::from_value(c.get("verdict")?.clone()).ok()?;
                Some(CriterionView {
                    id,
                    verdict,
                    required: c.get("required").and_then(|v| v.as_bool()).unwrap_or(false),
                    score: c.get("score").and_then(|v| v.as_f64()),
                    max: c.get("max").and_then(|v| v.as_f64()).unwrap_or(0.0),
                })
            })
            .collect()
    }

    pub fn verdicts(&self) -> Vec<CriterionVerdict> {
        self.criteria()
            .into_iter()
            .map(|c| CriterionVerdict {
                id: c.id,
                verdict: c.verdict,
                required: c.required,
            })
            .collect()
    }

    pub fn reasons(&self) -> Vec<ReviewReason> {
        self.reasons
            .iter()
            .filter_map(|r| serde_json::from_value(r.clone()).ok())
            .collect()
    }

    /// Which side of the bar the machine's grade fell on: at or above the pass
    /// score with every required criterion met. A reviewer who decides the other
    /// way overrides the machine.
    pub fn lean(&self, fallback_score: f64) -> Outcome {
        let score = self.score.unwrap_or(fallback_score);
        let Some(bar) = self.pass_score else {
            return Outcome::Fail;
        };
        let required_ok = self
            .criteria()
            .iter()
            .all(|c| !c.required || c.verdict == Verdict::Met);
        Outcome::from_pass(score >= bar && required_ok)
    }
}
