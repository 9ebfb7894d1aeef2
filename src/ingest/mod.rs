//! Stage 1 and 2: decode any recording a rep can upload into 16 kHz mono PCM,
//! streaming, and measure delivery features from the audio itself.
//!
//! (Owned by the ingest work; the public contract used by later stages is
//! [`Pcm`], [`Limits`], [`AudioReport`] and [`analyze`].)

/// The one sample rate every later stage works at (Whisper's).
pub const SAMPLE_RATE: u32 = 16_000;

/// Mono audio at [`SAMPLE_RATE`], samples in -1..1.
#[derive(Debug, Clone, Default)]
pub struct Pcm {
    pub samples: Vec<f32>,
}

impl Pcm {
    pub fn duration_seconds(&self) -> f64 {
        self.samples.len() as f64 / SAMPLE_RATE as f64
    }
}
