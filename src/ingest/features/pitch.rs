//! Median pitch and pitch variation (monotone detection), in constant memory.
//!
//! McLeod's method (`pitch-detection`) on a 2:1 decimated signal: speech F0
//! lies in 60–400 Hz, so 8 kHz loses nothing and halves the FFT work. Values
//! go into a histogram of 0.1-semitone bins (median) and a running variance
//! (variation), so a 60-minute recording costs the same memory as a 1-minute one.

use pitch_detection::detector::mcleod::McLeodDetector;
use pitch_detection::detector::PitchDetector;

const RATE: usize = crate::ingest::SAMPLE_RATE as usize / 2;
/// 64 ms: three periods of a 50 Hz voice.
const WINDOW: usize = 512;
/// 40 ms between analyses; pitch moves slower than that in speech.
const HOP: usize = 320;
const MIN_HZ: f64 = 60.0;
const MAX_HZ: f64 = 500.0;
/// Frames with RMS below -50 dBFS are silence; skip them before the FFT.
const MIN_MEAN_SQUARE: f32 = 1e-5;
/// How periodic a frame must be to count as voiced.
const CLARITY: f32 = 0.8;
/// Fewer voiced frames than this (0.4 s) give no meaningful median.
const MIN_VOICED: u64 = 10;
const BINS_PER_SEMITONE: f64 = 10.0;

pub struct Pitch {
    detector: McLeodDetector<f32>,
    half: Option<f32>,
    window: Vec<f32>,
    histogram: Vec<u64>,
    voiced: u64,
    mean: f64,
    m2: f64,
}

impl Default for Pitch {
    fn default() -> Self {
        Self::new()
    }
}

impl Pitch {
    pub fn new() -> Self {
        let bins = (semitones(MAX_HZ) * BINS_PER_SEMITONE).ceil() as usize + 1;
        Pitch {
            detector: McLeodDetector::new(WINDOW, WINDOW / 2),
            half: None,
            window: Vec::with_capacity(WINDOW + HOP),
            histogram: vec![0; bins],
            voiced: 0,
            mean: 0.0,
            m2: 0.0,
        }
    }

    /// Feeds 16 kHz mono samples.
    pub fn push(&mut self, samples: &[f32]) {
        for &s in samples {
            // Average pairs: a cheap low-pass before dropping every other sample.
            match self.half.take() {
                None => self.half = Some(s),
                Some(prev) => {
                    self.window.push(0.5 * (prev + s));
                    if self.window.len() == WINDOW {
                        self.analyse();
                        self.window.drain(..HOP);
                    }
                }
            }
        }
    }

    fn analyse(&mut self) {
        let mean_square = self.window.iter().map(|s| s * s).sum::<f32>() / WINDOW as f32;
        if mean_square < MIN_MEAN_SQUARE {
            return;
        }
        let power = mean_square * WINDOW as f32 * 0.5;
        let Some(p) = self.detector.get_pitch(&self.window, RATE, power, CLARITY) else {
            return;
        };
        let hz = p.frequency as f64;
        if !(MIN_HZ..=MAX_HZ).contains(&hz) {
            return;
        }
        let st = semitones(hz);
        let bin = ((st * BINS_PER_SEMITONE).round() as usize).min(self.histogram.len() - 1);
        self.histogram[bin] += 1;
        self.voiced += 1;
        let delta = st - self.mean;
        self.mean += delta / self.voiced as f64;
        self.m2 += delta * (st - self.mean);
    }

    pub fn median_hz(&self) -> Option<f64> {
        if self.voiced < MIN_VOICED {
            return None;
        }
        let half = self.voiced.div_ceil(2);
        let mut seen = 0;
        for (bin, &count) in self.histogram.iter().enumerate() {
            seen += count;
            if seen >= half {
                let hz = MIN_HZ * 2f64.powf(bin as f64 / BINS_PER_SEMITONE / 12.0);
                return Some((hz * 10.0).round() / 10.0);
            }
        }
        None
    }

    /// Standard deviation of pitch in semitones.
    pub fn variation_semitones(&self) -> Option<f64> {
        (self.voiced >= MIN_VOICED)
            .then(|| ((self.m2 / self.voiced as f64).sqrt() * 100.0).round() / 100.0)
    }
}

fn semitones(hz: f64) -> f64 {
    12.0 * (hz / MIN_HZ).log2()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(hz: f64, seconds: f64) -> Vec<f32> {
        let n = (seconds * 16_000.0) as usize;
        (0..n)
            .map(|i| (0.3 * (2.0 * std::f64::consts::PI * hz * i as f64 / 16_000.0).sin()) as f32)
            .collect()
    }

    #[test]
    fn a_steady_tone_has_its_pitch_and_no_variation() {
        let mut p = Pitch::new();
        p.push(&sine(150.0, 3.0));
        let hz = p.median_hz().unwrap();
        assert!((hz - 150.0).abs() < 2.0, "{hz}");
        assert!(p.variation_semitones().unwrap() < 0.2);
    }

    #[test]
    fn a_tone_that_jumps_an_octave_varies_by_six_semitones() {
        let mut p = Pitch::new();
        p.push(&sine(110.0, 3.0));
        p.push(&sine(220.0, 3.0));
        let v = p.variation_semitones().unwrap();
        assert!((v - 6.0).abs() < 0.5, "{v}");
    }

    #[test]
    fn silence_has_no_pitch() {
        let mut p = Pitch::new();
        p.push(&vec![0.0; 48_000]);
        assert_eq!(p.median_hz(), None);
        assert_eq!(p.variation_semitones(), None);
    }
}
