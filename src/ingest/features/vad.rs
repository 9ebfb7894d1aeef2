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
    pub fn push(&mut self, samples: &[f32], mut on_frame: impl FnMut(bool)) {
        // Lossy decoders (Opus from a browser, AAC) overshoot ±1 on loud
        // speech; the detector requires [-1, 1], so samples are clamped on the way in.
        for chunk in samples.chunks(FRAME) {
            let take = (FRAME - self.pending.len()).min(chunk.len());
            self.pending
                .extend(chunk[..take].iter().map(|s| s.clamp(-1.0, 1.0)));
            if self.pending.len() == FRAME {
                on_frame(self.detector.predict_f32(&self.pending) >= THRESHOLD);
                self.pending.clear();
            }
            let rest = &chunk[take..];
            self.pending.extend(rest.iter().map(|s| s.clamp(-1.0, 1.0)));
        }
    }
}
