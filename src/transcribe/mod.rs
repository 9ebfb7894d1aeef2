//! Stage 3: speech to words with times, behind one [`Transcriber`] trait.
//!
//! Backends: `local` (whisper.cpp via whisper-rs, the offline default),
//! `openai` (any OpenAI-compatible `/v1/audio/transcriptions`), `deepgram`.

pub mod transcript;

pub use transcript::{Capabilities, DroppedSegment, Segment, Transcript, Word};

use crate::ingest::Pcm;

/// What the caller wants from any backend.
#[derive(Debug, Clone, Default)]
pub struct TranscribeOptions {
    /// Product and competitor names that should be spelled right (prompt or keywords).
    pub vocabulary: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TranscribeError {
    /// Retrying will not help (bad key, unsupported request, missing model).
    #[error("{backend}: {message}")]
    Permanent { backend: String, message: String },
    /// Worth retrying later (5xx, 429 after our own retries, timeouts).
    #[error("{backend} (transient): {message}")]
    Transient { backend: String, message: String },
}

impl TranscribeError {
    pub fn is_transient(&self) -> bool {
        matches!(self, TranscribeError::Transient { .. })
    }
}

/// Speech-to-text. Implementations must return times in seconds from the start
/// of `audio` and must not panic on any audio.
#[async_trait::async_trait]
pub trait Transcriber: Send + Sync {
    /// Backend name as recorded in the grade ("local", "openai", "deepgram").
    fn name(&self) -> &str;
    /// Model as recorded in the grade.
    fn model(&self) -> &str;
    async fn transcribe(
        &self,
        audio: &Pcm,
        options: &TranscribeOptions,
    ) -> Result<Transcript, TranscribeError>;
}
