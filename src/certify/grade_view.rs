//! What certification reads from a stored grade (docs/grade-json.md), read
//! with the type the worker wrote it with (`pipeline::stored::StoredGrade`).
//!
//! The decision itself is a column of the grade row, so a grade whose
//! document cannot be read still certifies; only the extras (rubric version,
//! criteria for reports, reasons for reviewers) go missing.

use crate::pipeline::stored::StoredGrade;
use crate::score::decide::Verdict;
use crate::score::Grade;
use crate::store::db::certification::{CriterionVerdict, Outcome, ReviewReason};

#[derive(Debug, Clone, Default)]
pub(crate) struct GradeFacts {
    grade: Option<Grade>,
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

impl GradeFacts {
    pub fn parse(stored: &serde_json::Value) -> GradeFacts {
        match StoredGrade::from_json(stored) {
            Ok(stored) => GradeFacts {
                grade: Some(stored.grade),
            },
            Err(e) => {
                tracing::warn!(error = %e, "certifying from the grade row alone");
                GradeFacts::default()
            }
        }
    }

    pub fn rubric_id(&self) -> Option<&str> {
        Some(self.grade.as_ref()?.rubric.id.as_str())
    }

    pub fn rubric_version(&self) -> Option<u32> {
        Some(self.grade.as_ref()?.rubric.version)
    }

    pub fn pass_score(&self) -> Option<f64> {
        Some(self.grade.as_ref()?.pass_score)
    }

    pub fn criteria(&self) -> Vec<CriterionView> {
        let Some(grade) = &self.grade else {
            return Vec::new();
        };
        grade
            .criteria
            .iter()
            .map(|c| CriterionView {
                id: c.id.clone(),
                verdict: c.verdict,
                required: c.required,
                score: c.score,
                max: c.max,
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
        let Some(grade) = &self.grade else {
            return Vec::new();
        };
        grade
            .reasons
            .iter()
            .map(|r| ReviewReason {
                code: reason_code(r.code),
                criterion: r.criterion.clone(),
                message: r.message.clone(),
            })
            .collect()
    }

    /// Which side of the bar the machine's grade fell on: at or above the pass
    /// score with every required criterion met. A reviewer who decides the other
    /// way overrides the machine. A grade that cannot be read leans to fail.
    pub fn lean(&self) -> Outcome {
        let Some(grade) = &self.grade else {
            return Outcome::Fail;
        };
        let required_ok = grade
            .criteria
            .iter()
            .all(|c| !c.required || c.verdict == Verdict::Met);
        Outcome::from_pass(grade.score >= grade.pass_score && required_ok)
    }
}

/// A reason's code as the grade JSON spells it (`above_bar`, …): review rows
/// keep the grade's words, not a second spelling.
fn reason_code(code: crate::score::decide::ReasonCode) -> String {
    match serde_json::to_value(code) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{code:?}"),
    }
}
