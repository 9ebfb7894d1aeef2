//! The delivery report: what later stages (measured criteria) and users read.
//! Field meanings are a contract, documented in `docs/audio-report.md`.

use serde::{Deserialize, Serialize};

use super::error::clock;

/// A silence between two stretches of speech, in seconds from the start.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pause {
    pub start: f64,
    pub end: f64,
}

impl Pause {
    pub fn seconds(&self) -> f64 {
        self.end - self.start
    }
}

/// Facts about one recording, measured from its decoded audio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioReport {
    /// Container detected from the bytes: `wav`, `mp3`, `mp4`, `flac`, `ogg`, `webm`, ...
    pub format: String,
    /// Audio codec of the analysed track: `pcm`, `mp3`, `aac`, `flac`, `vorbis`, `opus`, ...
    pub codec: String,
    /// Sample rate of the track as decoded, in Hz (before resampling to 16 kHz).
    pub sample_rate: u32,
    /// Channel count of the track as decoded (all channels are mixed to mono).
    pub channels: usize,
    /// Length of the decoded audio; counted from samples, never from headers.
    pub duration_seconds: f64,
    /// Time in which voice activity was detected.
    pub speech_seconds: f64,
    /// Silences of at least `pause_threshold_seconds` between speech.
    pub pauses: Vec<Pause>,
    /// The minimum silence counted as a pause.
    pub pause_threshold_seconds: f64,
    /// Longest entry of `pauses`, 0 when there is none.
    pub longest_pause_seconds: f64,
    /// Integrated loudness (EBU R128) of the mono mix; null when it is below
    /// the -70 LUFS gate (no audible signal).
    pub loudness_lufs: Option<f64>,
    /// Median fundamental frequency of voiced frames; null when too few.
    pub pitch_median_hz: Option<f64>,
    /// Standard deviation of the pitch in semitones; low values mean monotone.
    pub pitch_variation_semitones: Option<f64>,
    /// Share of decoded samples at or beyond full scale (0..1).
    pub clipping_ratio: f64,
}

impl AudioReport {
    /// The short human summary `pitchgrade analyze` prints without `--json`.
    pub fn summary(&self) -> String {
        let opt = |v: Option<f64>, unit: &str| match v {
            Some(v) => format!("{v:.1} {unit}"),
            None => "n/a".to_string(),
        };
        let mut s = format!(
            "{} / {}, {} Hz, {} ch\nduration   {} ({:.1} s)\nspeech     {:.1} s ({:.0}%)\npauses     {} over {:.1} s, longest {:.1} s\nloudness   {}\npitch      median {}, variation {}\nclipping   {:.3}%\n",
            self.format,
            self.codec,
            self.sample_rate,
            self.channels,
            clock(self.duration_seconds),
            self.duration_seconds,
            self.speech_seconds,
            100.0 * self.speech_seconds / self.duration_seconds.max(f64::EPSILON),
            self.pauses.len(),
            self.pause_threshold_seconds,
            self.longest_pause_seconds,
            opt(self.loudness_lufs, "LUFS"),
            opt(self.pitch_median_hz, "Hz"),
            opt(self.pitch_variation_semitones, "semitones"),
            100.0 * self.clipping_ratio,
        );
        for p in &self.pauses {
            s.push_str(&format!(
                "  pause {} – {} ({:.1} s)\n",
                clock(p.start),
                clock(p.end),
                p.seconds()
            ));
        }
        s
    }
}
