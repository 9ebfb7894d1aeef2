//! How loud the recording is, 10 ms at a time: where speech starts after a
//! pause, and whether there is any sound at all under a piece of text.

use crate::ingest::SAMPLE_RATE;

const FRAME: usize = (SAMPLE_RATE / 100) as usize;
/// About -66 dBFS: quieter than any microphone's noise floor, so a recording of
/// pure digital silence has no "speech" however its loudness spreads.
const MIN_SPEECH_RMS: f32 = 0.0005;

/// 10 ms frame energies of the recording, to find where speech resumes.
pub(crate) struct SpeechEnergy {
    rms: Vec<f32>,
    threshold: f32,
}

impl SpeechEnergy {
    pub fn new(samples: &[f32]) -> Self {
        let rms: Vec<f32> = samples
            .chunks(FRAME)
            .map(|f| (f.iter().map(|s| s * s).sum::<f32>() / f.len() as f32).sqrt())
            .collect();
        let mut sorted = rms.clone();
        sorted.sort_by(f32::total_cmp);
        let pick = |q: f64| {
            sorted
                .get(((sorted.len() as f64 - 1.0) * q) as usize)
                .copied()
                .unwrap_or(0.0)
        };
        let (floor, peak) = (pick(0.10), pick(0.95));
        // 5% of the way from the noise floor to loud speech: quiet consonants
        // count as speech, room noise does not.
        Self {
            rms,
            threshold: (floor + 0.05 * (peak - floor)).max(MIN_SPEECH_RMS),
        }
    }

    /// The 10 ms frames that overlap `[from, to)`.
    fn frames(&self, from: f64, to: f64) -> std::ops::Range<usize> {
        let first = (from.max(0.0) * 100.0).floor() as usize;
        let last = ((to.max(0.0) * 100.0).ceil() as usize).min(self.rms.len());
        first..last
    }

    /// First moment in `[from, to)` with speech energy; `from` when there is none.
    pub fn onset(&self, from: f64, to: f64) -> f64 {
        self.frames(from, to)
            .find(|&i| self.rms[i] >= self.threshold)
            .map_or(from, |i| (i as f64 / 100.0).max(from))
    }

    /// Where the first silence of at least `min_seconds` that follows some
    /// speech in `[from, to)` begins; `None` when there is no such silence
    /// (or no speech before it).
    pub fn pause_after_speech(&self, from: f64, to: f64, min_seconds: f64) -> Option<f64> {
        let frames = self.frames(from, to);
        let min_frames = (min_seconds * 100.0).ceil().max(1.0) as usize;
        let (mut heard, mut quiet_from, mut quiet) = (false, frames.start, 0);
        for i in frames {
            if self.rms[i] >= self.threshold {
                heard = true;
                quiet = 0;
            } else if heard {
                if quiet == 0 {
                    quiet_from = i;
                }
                quiet += 1;
                if quiet >= min_frames {
                    return Some((quiet_from as f64 / 100.0).max(from));
                }
            }
        }
        None
    }

    /// Whether any frame in `[from, to]` sounds like speech. Text placed over
    /// digital silence was invented by the model.
    pub fn has_speech(&self, from: f64, to: f64) -> bool {
        let first = (from.max(0.0) * 100.0).floor() as usize;
        let last = ((to.max(0.0) * 100.0).ceil() as usize + 1).min(self.rms.len());
        (first..last).any(|i| self.rms[i] >= self.threshold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digital_silence_has_no_speech_and_tone_has() {
        let mut samples = vec![0.0f32; 3 * 16_000];
        for (i, s) in samples[16_000..32_000].iter_mut().enumerate() {
            *s = (i as f32 * 0.3).sin() * 0.4;
        }
        let e = SpeechEnergy::new(&samples);
        assert!(!e.has_speech(0.0, 0.95));
        assert!(e.has_speech(0.5, 1.2));
        assert!(!e.has_speech(2.05, 3.0));
        assert!(!SpeechEnergy::new(&vec![0.0; 16_000]).has_speech(0.0, 1.0));
        assert!(SpeechEnergy::new(&vec![0.2; 16_000]).has_speech(0.0, 1.0));
        assert!((e.onset(0.0, 3.0) - 1.0).abs() < 0.011);
        // The tone runs 1.0–2.0 s: the pause after it, wherever the span ends.
        assert!((e.pause_after_speech(0.0, 3.0, 0.3).unwrap() - 2.0).abs() < 0.011);
        assert!((e.pause_after_speech(1.5, 2.5, 0.3).unwrap() - 2.0).abs() < 0.011);
        assert_eq!(e.pause_after_speech(1.5, 2.2, 0.3), None, "too short");
        assert_eq!(e.pause_after_speech(2.1, 3.0, 0.3), None, "no speech first");
    }
}
