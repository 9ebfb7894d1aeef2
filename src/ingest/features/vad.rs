//! Voice activity per 16 ms frame, with earshot: a small pure-Rust neural
//! detector that runs thousands of times faster than real time, so it costs
//! nothing next to decoding, and needs no model file on disk.

use earshot::Detector;

/// earshot's fixed frame: 256 samples at 16 kHz.
pub const FRAME: usize = 256;
/// Seconds per frame.
pub const FRAME_SECONDS: f64 = FRAME as f64 / crate::ingest::SAMPLE_RATE as f64;
/// earshot's recommended decision threshold.
const THRESHOLD: f32 = 0.5;

pub struct Vad {
    detector: Box<Detector>,
    pending: Vec<f32>,
}

impl Default for Vad {
    fn default() -> Self {
        Self::new()
    }
}

impl Vad {
    pub fn new() -> Self {
        Vad {
            detector: Detector::default_boxed(),
            pending: Vec::with_capacity(FRAME),
        }
    }

    /// Feeds 16 kHz mono samples; calls `on_frame(is_speech)` once per complete frame.
    pub fn push(&mut self, mut samples: &[f32], mut on_frame: impl FnMut(bool)) {
        if !self.pending.is_empty() {
            let take = (FRAME - self.pending.len()).min(samples.len());
            self.pending.extend_from_slice(&samples[..take]);
            samples = &samples[take..];
            if self.pending.len() == FRAME {
                on_frame(self.detector.predict_f32(&self.pending) >= THRESHOLD);
                self.pending.clear();
            }
        }
        let mut frames = samples.chunks_exact(FRAME);
        for frame in &mut frames {
            on_frame(self.detector.predict_f32(frame) >= THRESHOLD);
        }
        self.pending.extend_from_slice(frames.remainder());
    }
}
