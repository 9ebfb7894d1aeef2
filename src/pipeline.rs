//! The stages in order, shared by `pitchgrade grade FILE` and the service's
//! workers: decode + delivery features → transcription → scoring → decision.
//!
//! The pipeline only sequences; every stage is a plain function or a trait
//! object owned elsewhere. It also times each stage, because "where did the
//! 40 seconds go" is the first question an operator asks.

pub mod backends;
pub mod stored;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use tracing::{info_span, Instrument};

use crate::ingest::{self, AudioReport, IngestError, Limits};
use crate::rubric::LoadedRubric;
use crate::score::judge::Judge;
use crate::score::{grade, DeliveryInput, Grade};
use crate::transcribe::{TranscribeError, TranscribeOptions, Transcriber, Transcript};

/// Why a recording could not be graded. `is_permanent` tells a worker whether
/// retrying could ever help (a corrupt file: no; a backend 503: yes).
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The recording itself is unusable; the message is for the rep.
    #[error("{0}")]
    Audio(#[from] IngestError),
    #[error("transcription failed: {0}")]
    Transcription(#[from] TranscribeError),
    /// A blocking stage panicked or was cancelled: our fault, not the file's.
    #[error("internal error in stage {stage}: {message}")]
    Internal {
        stage: &'static str,
        message: String,
    },
}

impl PipelineError {
    pub fn is_permanent(&self) -> bool {
        match self {
            PipelineError::Audio(e) => e.is_permanent(),
            PipelineError::Transcription(e) => !e.is_transient(),
            PipelineError::Internal { .. } => false,
        }
    }
}

/// Wall time spent in each stage of one run.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct StageTimings {
    pub decode_and_features: Duration,
    pub transcription: Duration,
    pub scoring: Duration,
}

/// Everything one run produced: the grade plus what it was built from.
#[derive(Debug, Clone)]
pub struct Run {
    pub grade: Grade,
    pub audio: AudioReport,
    pub transcript: Transcript,
    pub timings: StageTimings,
}

/// The configured stages. Build once (model loading is slow) and reuse.
pub struct Pipeline {
    pub limits: Limits,
    pub transcriber: Box<dyn Transcriber>,
    pub judge: Box<dyn Judge>,
}

impl Pipeline {
    /// Grades the recording at `path` against `rubric`.
    pub async fn grade_file(
        &self,
        path: &Path,
        rubric: &LoadedRubric,
    ) -> Result<Run, PipelineError> {
        let mut timings = StageTimings::default();

        let started = Instant::now();
        let analysis = decode(path.to_path_buf(), self.limits.clone())
            .instrument(info_span!("decode"))
            .await?;
        timings.decode_and_features = started.elapsed();
        let pcm = analysis.pcm.unwrap_or_default();
        let audio = analysis.report;

        let started = Instant::now();
        let options = TranscribeOptions {
            vocabulary: rubric.rubric.vocabulary.clone(),
        };
        let transcript = self
            .transcriber
            .transcribe(&pcm, &options)
            .instrument(info_span!("transcribe", backend = self.transcriber.name()))
            .await?;
        timings.transcription = started.elapsed();
        drop(pcm);

        let started = Instant::now();
        let delivery = delivery_input(&audio);
        let grade = grade(rubric, &transcript, Some(&delivery), self.judge.as_ref())
            .instrument(info_span!("score", judge = self.judge.name()))
            .await;
        timings.scoring = started.elapsed();

        Ok(Run {
            grade,
            audio,
            transcript,
            timings,
        })
    }
}

/// Decoding is CPU-bound and synchronous: keep it off the async workers.
async fn decode(path: PathBuf, limits: Limits) -> Result<ingest::Analysis, PipelineError> {
    // The blocking thread does not inherit the caller's span; carry it over so
    // what decoding logs still names its submission.
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        span.in_scope(|| ingest::analyze_file(&path, &limits, true))
    })
    .await
    .map_err(|e| PipelineError::Internal {
        stage: "decode",
        message: e.to_string(),
    })?
    .map_err(PipelineError::from)
}

/// The delivery figures scoring needs, taken from the audio analysis.
pub fn delivery_input(audio: &AudioReport) -> DeliveryInput {
    DeliveryInput {
        duration_seconds: audio.duration_seconds,
        speech_seconds: audio.speech_seconds,
        pauses: audio.pauses.iter().map(|p| (p.start, p.end)).collect(),
        pitch_variation_semitones: audio.pitch_variation_semitones,
    }
}
