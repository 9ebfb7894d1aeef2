//! Delivery features measured from the 16 kHz mono stream, all streaming and
//! in memory that does not grow with the recording (pauses excepted: one
//! entry per pause, at most one per second).

pub mod clipping;
pub mod loudness;
pub mod pauses;
pub mod pitch;
pub mod vad;

use super::IngestError;
use loudness::Loudness;
use pauses::Segmenter;
use pitch::Pitch;
use vad::Vad;

/// Everything computed from the resampled mono stream.
pub struct Features {
    vad: Vad,
    segmenter: Segmenter,
    loudness: Loudness,
    pitch: Pitch,
    peak: f32,
}

/// The finished measurements; the caller adds format facts to make a report.
pub struct DeliveryMeasures {
    pub speech_seconds: f64,
    pub pauses: Vec<crate::ingest::Pause>,
    pub loudness_lufs: Option<f64>,
    pub pitch_median_hz: Option<f64>,
    pub pitch_variation_semitones: Option<f64>,
    /// Largest absolute sample of the mono mix.
    pub peak: f32,
}

impl Features {
    pub fn new() -> Result<Self, IngestError> {
        Ok(Features {
            vad: Vad::new(),
            segmenter: Segmenter::new(vad::FRAME_SECONDS),
            loudness: Loudness::new()?,
            pitch: Pitch::new(),
            peak: 0.0,
        })
    }

    pub fn push(&mut self, mono16k: &[f32]) -> Result<(), IngestError> {
        let segmenter = &mut self.segmenter;
        self.vad.push(mono16k, |speech| segmenter.frame(speech));
        self.loudness.push(mono16k)?;
        self.pitch.push(mono16k);
        self.peak = mono16k.iter().fold(self.peak, |m, s| m.max(s.abs()));
        Ok(())
    }

    pub fn finish(self) -> DeliveryMeasures {
        DeliveryMeasures {
            speech_seconds: self.segmenter.speech_seconds(),
            loudness_lufs: self.loudness.lufs().map(|l| (l * 10.0).round() / 10.0),
            pitch_median_hz: self.pitch.median_hz(),
            pitch_variation_semitones: self.pitch.variation_semitones(),
            pauses: self.segmenter.into_pauses(),
            peak: self.peak,
        }
    }
}
