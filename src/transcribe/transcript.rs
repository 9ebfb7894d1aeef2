//! The one transcript model every backend produces.
//!
//! Scoring never knows which backend ran: it reads words with times from here.
//! What a backend *could not* promise (word times, fillers) is recorded too, so a
//! grade can say "filler count is a lower bound" instead of pretending.

use serde::{Deserialize, Serialize};

/// One spoken word. Times are seconds from the start of the recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Word {
    pub text: String,
    pub start: f64,
    pub end: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
    #[serde(default)]
    pub is_filler: bool,
}

/// A backend segment (roughly a sentence). `words` indexes into `Transcript::words`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub text: String,
    pub start: f64,
    pub end: f64,
    /// Half-open range of indexes into `Transcript::words`.
    pub words: std::ops::Range<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_speech_prob: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avg_logprob: Option<f32>,
}

/// A segment the hallucination guards removed, kept so the grade can explain itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DroppedSegment {
    pub text: String,
    pub start: f64,
    pub end: f64,
    /// Why it was dropped, e.g. "no_speech_prob 0.82 > 0.60", "repetition loop".
    pub reason: String,
}

/// What the backend could supply. Scoring adapts its claims to these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Per-word start/end times from the backend (not interpolated).
    pub word_times: bool,
    /// The backend promises to keep disfluencies ("um", "uh"). When false,
    /// any filler count is a lower bound.
    pub keeps_fillers: bool,
}

/// The transcript of one recording, whatever produced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    /// The kept words joined with spaces (dropped segments excluded).
    pub text: String,
    pub words: Vec<Word>,
    #[serde(default)]
    pub segments: Vec<Segment>,
    #[serde(default)]
    pub dropped: Vec<DroppedSegment>,
    /// Backend name: "local", "openai", "deepgram", or "text" for a typed transcript.
    pub backend: String,
    /// Model name or file as the backend reports it.
    pub model: String,
    pub capabilities: Capabilities,
    /// True when the backend cannot promise fillers: counts are a lower bound.
    pub filler_count_is_lower_bound: bool,
    /// Length of the audio that was transcribed, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
}

impl Transcript {
    /// Mean word confidence over words that carry one; `None` when no word does.
    pub fn mean_confidence(&self) -> Option<f32> {
        let known: Vec<f32> = self.words.iter().filter_map(|w| w.confidence).collect();
        if known.is_empty() {
            None
        } else {
            Some(known.iter().sum::<f32>() / known.len() as f32)
        }
    }

    pub fn filler_count(&self) -> usize {
        self.words.iter().filter(|w| w.is_filler).count()
    }

    /// A transcript as the local recogniser would give it, for unit tests
    /// of what reads heard words.
    #[cfg(test)]
    pub(crate) fn heard_for_tests(words: Vec<Word>, segments: Vec<Segment>) -> Self {
        Self {
            text: String::new(),
            words,
            segments,
            dropped: vec![],
            backend: "local".into(),
            model: "test".into(),
            capabilities: Capabilities {
                word_times: true,
                keeps_fillers: false,
            },
            filler_count_is_lower_bound: true,
            duration_seconds: None,
        }
    }
}
