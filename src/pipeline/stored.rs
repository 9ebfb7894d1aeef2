//! The grade as the service stores it: the grade itself (docs/grade-json.md)
//! with, beside it, what a reviewer needs to check it — the words with their
//! times, the audio figures and the stage timings.
//!
//! Written by the worker and read by certification, the web pages and the
//! API, always through this one type, so the document has one shape. It is
//! turned into JSON only at the store boundary ([`StoredGrade::to_json`],
//! [`StoredGrade::from_json`]).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

use super::{Run, StageTimings};
use crate::ingest::AudioReport;
use crate::score::Grade;
use crate::transcribe::Transcript;

#[derive(Debug, thiserror::Error)]
pub enum StoredGradeError {
    #[error("cannot serialise the grade: {0}")]
    Serialise(#[source] serde_json::Error),
    #[error("the stored grade cannot be read: {0}")]
    Read(#[source] serde_json::Error),
}

/// One stored grade. The extras are flattened beside the grade's own fields,
/// so the document is the grade JSON with three more keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredGrade {
    #[serde(flatten)]
    pub grade: Grade,
    /// Missing or unreadable in a row: the grade still reads, without it (the
    /// pages then show no transcript, as they always have).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub transcript: Option<Transcript>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub audio: Option<AudioReport>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub timings: Option<StoredTimings>,
}

/// Wall time of each stage, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StoredTimings {
    pub decode_and_features_s: f64,
    pub transcription_s: f64,
    pub scoring_s: f64,
}

impl From<StageTimings> for StoredTimings {
    fn from(t: StageTimings) -> StoredTimings {
        StoredTimings {
            decode_and_features_s: t.decode_and_features.as_secs_f64(),
            transcription_s: t.transcription.as_secs_f64(),
            scoring_s: t.scoring.as_secs_f64(),
        }
    }
}

impl StoredGrade {
    /// Everything of a run that is kept.
    pub fn from_run(run: Run) -> StoredGrade {
        StoredGrade {
            grade: run.grade,
            transcript: Some(run.transcript),
            audio: Some(run.audio),
            timings: Some(run.timings.into()),
        }
    }

    /// The document for the store. A field that cannot be serialised is an
    /// error, never a `null` in its place.
    pub fn to_json(&self) -> Result<serde_json::Value, StoredGradeError> {
        serde_json::to_value(self).map_err(StoredGradeError::Serialise)
    }

    /// The grade without anything the rep said, for when the transcript has
    /// outlived its purpose (retention) or the rep asked to be forgotten
    /// (erasure): the transcript, the quoted evidence (its times stay, so the
    /// grade still says where), the judges' reasoning and raw output, and the
    /// words heard near rubric terms go. The decision, score, every
    /// criterion's verdict and points, the rubric version, the backends and
    /// the audio figures stay, so the grade is still explainable in numbers.
    /// `why` replaces each judged criterion's reasoning.
    pub fn without_speech(mut self, why: &str) -> StoredGrade {
        self.transcript = None;
        for c in &mut self.grade.criteria {
            for e in &mut c.evidence {
                e.quote.clear();
            }
            if c.measured.is_none() {
                c.rationale = why.to_string();
            }
            c.judge_raw = None;
            c.unsure = None;
        }
        for e in &mut self.grade.flags.injection_evidence {
            e.quote.clear();
        }
        self.grade.flags.heard_as.clear();
        self
    }

    /// Reads a stored document; fields this type does not name are skipped.
    pub fn from_json(stored: &serde_json::Value) -> Result<StoredGrade, StoredGradeError> {
        StoredGrade::deserialize(stored).map_err(StoredGradeError::Read)
    }
}

/// An extra that does not read (written by an older worker, or by hand) is
/// absent rather than making the whole grade unreadable.
fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn grade_json() -> serde_json::Value {
        json!({
            "decision": "pass",
            "score": 87.0,
            "pass_score": 70.0,
            "borderline_band": 5.0,
            "reasons": [{"code": "above_bar", "message": "score 87.0 reaches the pass bar 70"}],
            "criteria": [{
                "id": "value_prop", "kind": "talking_point", "required": true,
                "score": 20.0, "max": 20.0, "verdict": "met", "level": "met",
                "evidence": [{"quote": "you close the books in four days", "start": 31.2, "end": 33.9}],
                "rationale": "States the faster close with a number."
            }],
            "rubric": {"id": "ledgerly-sales-pitch", "version": 1, "sha256": "fc93"},
            "backends": {"transcriber": "local", "transcriber_model": "ggml-base.en.bin",
                         "judge": "offline", "judge_model": "all-MiniLM-L6-v2"},
            "flags": {"injection_flagged": false, "injection_evidence": [],
                      "filler_count_is_lower_bound": true, "synthetic_word_times": false,
                      "audio_criteria_unscored": false, "transcript_confidence": 0.91}
        })
    }

    #[test]
    fn a_row_without_the_extras_reads_and_writes_back_the_same() {
        let stored = StoredGrade::from_json(&grade_json()).unwrap();
        assert_eq!(stored.grade.rubric.id, "ledgerly-sales-pitch");
        assert_eq!(stored.transcript, None);
        assert_eq!(stored.to_json().unwrap(), grade_json());
    }

    #[test]
    fn an_unreadable_extra_is_absent_and_the_grade_still_reads() {
        let mut row = grade_json();
        row["transcript"] = json!({"words": "not a list"});
        row["timings"] =
            json!({"decode_and_features_s": 1.5, "transcription_s": 2.0, "scoring_s": 0.25});
        let stored = StoredGrade::from_json(&row).unwrap();
        assert_eq!(stored.transcript, None);
        assert_eq!(
            stored.timings,
            Some(StoredTimings {
                decode_and_features_s: 1.5,
                transcription_s: 2.0,
                scoring_s: 0.25
            })
        );
    }

    #[test]
    fn a_row_that_is_not_a_grade_is_an_error() {
        let row = json!({"criteria": [{"id": "pain-point", "met": true}]});
        assert!(matches!(
            StoredGrade::from_json(&row),
            Err(StoredGradeError::Read(_))
        ));
    }
}
