//! A deterministic judge shared by the scoring tests, so grade and decision
//! logic are tested without a model.

#![allow(dead_code)]

use pitchgrade::rubric::Rubric;
use pitchgrade::score::judge::{Evidence, Judge, JudgeError, Judgement, Question};
use pitchgrade::transcribe::Transcript;

/// A deterministic judge for these tests: credit per criterion id, or a failure.
pub struct ScriptedJudge {
    /// (criterion id, credit); criteria not listed get full credit.
    pub credits: Vec<(&'static str, f64)>,
    /// Criterion ids the judge fails on, with raw output.
    pub failing: Vec<&'static str>,
}

#[async_trait::async_trait]
impl Judge for ScriptedJudge {
    fn name(&self) -> &str {
        "scripted"
    }
    fn model(&self) -> &str {
        "v1"
    }
    async fn judge(
        &self,
        _rubric: &Rubric,
        q: &Question,
        t: &Transcript,
    ) -> Result<Judgement, JudgeError> {
        if self.failing.contains(&q.criterion_id.as_str()) {
            return Err(JudgeError::Malformed {
                judge: "scripted".into(),
                message: "truncated".into(),
                raw: "{\"level\": \"me".into(),
            });
        }
        let credit = self
            .credits
            .iter()
            .find(|(id, _)| *id == q.criterion_id)
            .map_or(1.0, |(_, c)| *c);
        let evidence = t
            .words
            .first()
            .map(|w| Evidence {
                quote: w.text.clone(),
                start: w.start + 1.0 / 3.0,
                end: w.end + 2.0 / 3.0,
            })
            .into_iter()
            .collect();
        Ok(Judgement {
            criterion_id: q.criterion_id.clone(),
            credit,
            level: String::new(),
            evidence,
            rationale: "scripted".into(),
            raw: None,
            unsure: None,
        })
    }
}
