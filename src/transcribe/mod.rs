//! Stage 3: speech to words with times, behind one [`Transcriber`] trait.
//!
//! Backends: `local` (whisper.cpp via whisper-rs, the offline default),
//! `openai` (any OpenAI-compatible `/v1/audio/transcriptions`), `deepgram`.
//! The hosted two send through [`crate::backend_http`], the retry policy they
//! share with the LLM judges.

mod chunk;
pub mod config;
pub mod deepgram;
pub mod draft;
mod energy;
pub mod fillers;
pub mod guards;
pub mod local;
pub mod openai;
pub mod prompt;
pub mod transcript;
mod wav;
pub mod wer;

pub use config::{ApiKey, BackendKind, DeepgramConfig, OpenAiConfig, TranscriberConfig};
pub use guards::GuardConfig;
pub use transcript::{Capabilities, DroppedSegment, Segment, Transcript, Word};

use crate::backend_http::{BackendHttpError, RetryPolicy};
use crate::ingest::Pcm;

/// The backend `cfg` names, ready to use. The local backend verifies and
/// loads its model here, so call this once and keep the transcriber.
pub fn build_transcriber(cfg: &TranscriberConfig) -> Result<Box<dyn Transcriber>, TranscribeError> {
    Ok(match cfg.backend {
        BackendKind::Local => Box::new(local::LocalTranscriber::load(cfg)?),
        BackendKind::Openai => Box::new(openai::OpenAiTranscriber::new(cfg)?),
        BackendKind::Deepgram => Box::new(deepgram::DeepgramTranscriber::new(cfg)?),
    })
}

/// Empty audio is a caller mistake, not something to send to a paid API.
fn ensure_audio(backend: &str, audio: &Pcm) -> Result<(), TranscribeError> {
    if audio.samples.is_empty() {
        return Err(TranscribeError::Permanent {
            backend: backend.into(),
            message: "the audio is empty".into(),
        });
    }
    Ok(())
}

fn http_client(backend: &str, cfg: &TranscriberConfig) -> Result<reqwest::Client, TranscribeError> {
    reqwest::Client::builder()
        .timeout(cfg.timeout())
        .connect_timeout(cfg.timeout().min(std::time::Duration::from_secs(30)))
        .user_agent(concat!("pitchgrade/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| TranscribeError::Permanent {
            backend: backend.into(),
            message: format!("HTTP client: {e}"),
        })
}

/// Bodies larger than this are refused: a transcript of hours of speech is a
/// few MB of JSON, so anything bigger is a broken or hostile server.
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// The shared retry policy from the transcriber's settings (`max_retries`,
/// `initial_backoff_ms`, `max_backoff_ms`).
fn retry_policy(cfg: &TranscriberConfig) -> RetryPolicy {
    RetryPolicy {
        max_retries: cfg.max_retries,
        initial_backoff: std::time::Duration::from_millis(cfg.initial_backoff_ms),
        max_backoff: std::time::Duration::from_millis(cfg.max_backoff_ms),
    }
}

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

/// The shared HTTP error keeps its permanent/transient split, which is what
/// the worker's retry-or-fail decision reads through [`TranscribeError::is_transient`].
impl From<BackendHttpError> for TranscribeError {
    fn from(e: BackendHttpError) -> Self {
        match e {
            BackendHttpError::Permanent { backend, message } => {
                TranscribeError::Permanent { backend, message }
            }
            BackendHttpError::Transient { backend, message } => {
                TranscribeError::Transient { backend, message }
            }
        }
    }
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
