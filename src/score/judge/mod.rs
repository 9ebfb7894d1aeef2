//! Judged criteria (talking points, objection handling, tone) behind one trait.
//!
//! A judge answers one criterion at a time with a level and quotes. It never
//! decides weights, the pass bar or the decision: those are code in `score`.

pub mod anthropic;
pub mod llm;
pub mod offline;
pub mod openai;

use serde::{Deserialize, Serialize};

use crate::rubric::Rubric;
use crate::transcribe::Transcript;

/// Which kind of judged criterion a question is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JudgedKind {
    TalkingPoint,
    Objection,
    Tone,
}

/// One judged criterion, as put to a judge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Question {
    pub criterion_id: String,
    pub kind: JudgedKind,
    /// What the criterion asks, from the rubric.
    pub description: String,
    /// For objections: how the buyer raised it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raised_as: Option<String>,
    #[serde(default)]
    pub examples: Vec<String>,
}

/// A quote the judge rests on. Times are filled in by code from the
/// transcript, never trusted from the judge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub quote: String,
    pub start: f64,
    pub end: f64,
}

/// A judge's answer to one question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    pub criterion_id: String,
    /// Fraction of the criterion's weight earned, 0.0..=1.0 (partial credit).
    pub credit: f64,
    /// Level name, e.g. "met", "partial", "missed".
    pub level: String,
    /// Quotes already checked against the transcript.
    pub evidence: Vec<Evidence>,
    /// Why, in a sentence a rep can read.
    pub rationale: String,
    /// Raw model output kept for audit (LLM judges).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// Why this verdict may be wrong in the rep's disfavour: the closest
    /// evidence fell just short of the next level, or a claim could not be
    /// verified. A criterion short of met for an unsure reason never fails a
    /// grade by itself: the decision sends it to a reviewer instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsure: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    #[error("{judge}: transport: {message}")]
    Transport { judge: String, message: String },
    #[error("{judge}: refused: {message}")]
    Refused {
        judge: String,
        message: String,
        raw: String,
    },
    #[error("{judge}: malformed output: {message}")]
    Malformed {
        judge: String,
        message: String,
        raw: String,
    },
    #[error("{judge}: samples disagree: {message}")]
    Disagreement {
        judge: String,
        message: String,
        raw: String,
    },
    #[error("{judge}: {message}")]
    Setup { judge: String, message: String },
}

/// Judges one criterion at a time (one criterion per question keeps answers
/// focused and lets a failure leave only that criterion unscored).
#[async_trait::async_trait]
pub trait Judge: Send + Sync {
    fn name(&self) -> &str;
    fn model(&self) -> &str;
    async fn judge(
        &self,
        rubric: &Rubric,
        question: &Question,
        transcript: &Transcript,
    ) -> Result<Judgement, JudgeError>;
}
