//! Median pitch and pitch variation (monotone detection), in constant memory.
//!
//! McLeod's method on a 2:1 decimated signal: speech F0 lies in 60–400 Hz, so
//! 8 kHz loses nothing and halves the FFT work. Values go into a histogram of
//! 0.1-semitone bins (median) and a running variance (variation), so a
//! 60-minute recording costs the same memory as a 1-minute one.
//!
//! The normalized square difference is computed here, exactly as
//! `pitch-detection`'s `McLeodDetector` computes it, with its two FFTs
//! planned once: the crate plans them again on every frame, and planning
//! (twiddle factors: `sincos`) was a sixth of a 10-minute file's ingest CPU.
//! Peak picking is still the crate's.

use std::sync::Arc;

use pitch_detection::detector::internals::pitch_from_peaks;
use pitch_detection::utils::peak::PeakCorrection;
use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

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
    detector: Nsdf,
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
            detector: Nsdf::new(WINDOW, WINDOW / 2),
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
        let Some(p) = self.detector.pitch(&self.window, RATE, CLARITY) else {
            return;
        };
        let hz = f64::from(p);
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

/// McLeod's normalized square difference of one window, zero-padded by
/// `padding`, and the pitch its peaks give; the arithmetic of
/// `pitch_detection::detector::internals::normalized_square_difference`
/// step for step (so the figures do not move), with the FFTs planned once.
struct Nsdf {
    forward: Arc<dyn Fft<f32>>,
    inverse: Arc<dyn Fft<f32>>,
    spectrum: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    m: Vec<f32>,
    nsdf: Vec<f32>,
}

impl Nsdf {
    fn new(size: usize, padding: usize) -> Nsdf {
        let n = size + padding;
        let mut planner = FftPlanner::new();
        let forward = planner.plan_fft_forward(n);
        let inverse = planner.plan_fft_inverse(n);
        let scratch = forward
            .get_inplace_scratch_len()
            .max(inverse.get_inplace_scratch_len())
            .max(n);
        Nsdf {
            forward,
            inverse,
            spectrum: vec![Complex::default(); n],
            scratch: vec![Complex::default(); scratch],
            m: vec![0.0; n],
            nsdf: vec![0.0; n],
        }
    }

    /// The frame's pitch in Hz, when it is clear enough.
    fn pitch(&mut self, signal: &[f32], rate: usize, clarity: f32) -> Option<f32> {
        // Autocorrelation: |FFT|², back again (unnormalised, as the crate's).
        for (i, c) in self.spectrum.iter_mut().enumerate() {
            *c = Complex::new(signal.get(i).copied().unwrap_or(0.0), 0.0);
        }
        self.forward
            .process_with_scratch(&mut self.spectrum, &mut self.scratch);
        for c in &mut self.spectrum {
            *c = Complex::new(c.re * c.re + c.im * c.im, 0.0);
        }
        self.inverse
            .process_with_scratch(&mut self.spectrum, &mut self.scratch);
        // m(τ), from the autocorrelation at 0, as the crate's `m_of_tau`.
        let start = 2.0 * self.spectrum[0].re;
        self.m[0] = start;
        let mut last = start;
        for (m, &s) in self.m[1..].iter_mut().zip(signal) {
            last -= s * s;
            *m = last;
        }
        self.m[signal.len()..].iter_mut().for_each(|m| *m = last);
        for ((n, c), m) in self.nsdf.iter_mut().zip(&self.spectrum).zip(&self.m) {
            *n = 2.0 * c.re / *m;
        }
        pitch_from_peaks(&self.nsdf, rate, clarity, PeakCorrection::Quadratic).map(|p| p.frequency)
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

    /// The same numbers as the crate's detector, frame for frame, to the bit.
    #[test]
    fn the_planned_once_nsdf_matches_pitch_detection_exactly() {
        use pitch_detection::detector::mcleod::McLeodDetector;
        use pitch_detection::detector::PitchDetector;
        let mut ours = Nsdf::new(WINDOW, WINDOW / 2);
        let mut theirs = McLeodDetector::<f32>::new(WINDOW, WINDOW / 2);
        let mut seed = 7u32;
        let mut found = 0;
        for frame in 0..200 {
            let hz = 70.0 + frame as f64 * 1.7;
            let window: Vec<f32> = (0..WINDOW)
                .map(|i| {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    let noise = (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
                    let t = i as f64 / RATE as f64;
                    (0.3 * (2.0 * std::f64::consts::PI * hz * t).sin()) as f32
                        + 0.1 * (frame % 5) as f32 * noise
                })
                .collect();
            let power = window.iter().map(|s| s * s).sum::<f32>() * 0.5;
            let a = ours.pitch(&window, RATE, CLARITY);
            let b = theirs
                .get_pitch(&window, RATE, power, CLARITY)
                .map(|p| p.frequency);
            assert_eq!(
                a.map(f32::to_bits),
                b.map(f32::to_bits),
                "frame {frame}: {a:?} vs {b:?}"
            );
            found += usize::from(a.is_some());
        }
        assert!(found > 100, "most frames are voiced: {found}");
    }

    #[test]
    fn silence_has_no_pitch() {
        let mut p = Pitch::new();
        p.push(&vec![0.0; 48_000]);
        assert_eq!(p.median_hz(), None);
        assert_eq!(p.variation_semitones(), None);
    }
}
