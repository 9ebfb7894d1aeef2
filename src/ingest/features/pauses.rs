//! Turns per-frame voice decisions into speech time and pauses.
//!
//! A pause is measured from the audio (not from word gaps in a transcript):
//! silence between two stretches of confirmed speech. Leading and trailing
//! silence are not pauses; a rep is not penalised for a late start.

use crate::ingest::report::Pause;

/// Silences shorter than this are the gaps between words and sentences.
pub const PAUSE_THRESHOLD_SECONDS: f64 = 1.0;
/// Speech must last this many frames (48 ms) to count, so a click in a long
/// silence does not split it into two pauses.
const MIN_SPEECH_FRAMES: usize = 3;

pub struct Segmenter {
    frame_seconds: f64,
    frames: u64,
    run: usize,
    run_start: f64,
    last_speech_end: Option<f64>,
    speech_frames: u64,
    pauses: Vec<Pause>,
}

impl Segmenter {
    pub fn new(frame_seconds: f64) -> Self {
        Segmenter {
            frame_seconds,
            frames: 0,
            run: 0,
            run_start: 0.0,
            last_speech_end: None,
            speech_frames: 0,
            pauses: Vec::new(),
        }
    }

    pub fn frame(&mut self, is_speech: bool) {
        let t = self.frames as f64 * self.frame_seconds;
        self.frames += 1;
        if !is_speech {
            self.run = 0;
            return;
        }
        if self.run == 0 {
            self.run_start = t;
        }
        self.run += 1;
        if self.run < MIN_SPEECH_FRAMES {
            return;
        }
        if self.run == MIN_SPEECH_FRAMES {
            self.speech_frames += MIN_SPEECH_FRAMES as u64;
            if let Some(end) = self.last_speech_end {
                if self.run_start - end >= PAUSE_THRESHOLD_SECONDS {
                    self.pauses.push(Pause {
                        start: round_ms(end),
                        end: round_ms(self.run_start),
                    });
                }
            }
        } else {
            self.speech_frames += 1;
        }
        self.last_speech_end = Some(t + self.frame_seconds);
    }

    pub fn speech_seconds(&self) -> f64 {
        round_ms(self.speech_frames as f64 * self.frame_seconds)
    }

    pub fn into_pauses(self) -> Vec<Pause> {
        self.pauses
    }
}

fn round_ms(s: f64) -> f64 {
    (s * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pattern: &[(bool, usize)]) -> Segmenter {
        let mut s = Segmenter::new(0.01);
        for &(speech, n) in pattern {
            for _ in 0..n {
                s.frame(speech);
            }
        }
        s
    }

    #[test]
    fn a_long_gap_between_speech_is_a_pause_with_its_times() {
        let s = run(&[
            (false, 50),
            (true, 100),
            (false, 150),
            (true, 100),
            (false, 300),
        ]);
        assert!((s.speech_seconds() - 2.0).abs() < 1e-9);
        assert_eq!(
            s.into_pauses(),
            vec![Pause {
                start: 1.5,
                end: 3.0
            }]
        );
    }

    #[test]
    fn short_gaps_and_clicks_do_not_make_pauses() {
        // 0.5 s gap (below threshold), then a 2-frame click inside a 3 s silence.
        let s = run(&[
            (true, 100),
            (false, 50),
            (true, 100),
            (false, 150),
            (true, 2),
            (false, 150),
            (true, 10),
        ]);
        let pauses = s.into_pauses();
        assert_eq!(pauses.len(), 1);
        assert!((pauses[0].seconds() - 3.02).abs() < 1e-9, "{pauses:?}");
    }
}
