//! Stage 4: measured criteria — timing, pace, fillers, longest pause, pitch
//! variation — computed by code, never asked of a model.
//!
//! Partial credit: full marks inside the rubric's band, falling linearly to
//! zero at the hard limit, so a pitch 5 seconds too long loses a little, not all.

use serde::{Deserialize, Serialize};

use super::untrusted::mm_ss;
use crate::rubric::criteria::CriterionKind;
use crate::rubric::{CriterionSpec, Rubric};
use crate::transcribe::Transcript;

/// What the audio says about delivery. The pipeline fills it from the ingest
/// stage's audio analysis; a typed transcript has none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryInput {
    /// Length of the recording.
    pub duration_seconds: f64,
    /// Time with voice activity (pace is words over this, so pauses don't count as slow speech).
    pub speech_seconds: f64,
    /// Silences between speech, `(start, end)` in seconds, measured from the audio.
    pub pauses: Vec<(f64, f64)>,
    /// Spread of the voice's pitch; `None` when it could not be tracked.
    pub pitch_variation_semitones: Option<f64>,
}

/// What was observed, in the unit the rubric states its band in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub value: f64,
    pub unit: String,
    /// The band for full marks, as a rep would read it.
    pub target: String,
}

/// The outcome of one measured criterion.
#[derive(Debug, Clone, PartialEq)]
pub enum Measured {
    Scored {
        /// 0.0..=1.0 of the criterion's weight.
        credit: f64,
        observation: Observation,
        /// One sentence on how the figure was obtained (e.g. "filler count is a lower bound").
        note: String,
        /// Set when credit < 1: what to do differently.
        coaching: Option<String>,
    },
    /// This input cannot measure it (e.g. pace from a typed transcript).
    NeedsAudio { why: String },
}

/// Full credit inside `[lo, hi]`, linear to zero at `[min, max]`.
pub fn band_credit(x: f64, [lo, hi]: [f64; 2], [min, max]: [f64; 2]) -> f64 {
    if x.is_nan() {
        return 0.0;
    }
    if x < lo {
        ramp(x, min, lo)
    } else if x > hi {
        ramp(-x, -max, -hi)
    } else {
        1.0
    }
}

/// Full credit at or below `best`, zero at or above `zero_at`.
pub fn ceiling_credit(x: f64, best: f64, zero_at: f64) -> f64 {
    if x.is_nan() {
        return 0.0;
    }
    if x <= best {
        1.0
    } else {
        ramp(-x, -zero_at, -best)
    }
}

/// Full credit at or above `best`, zero at or below `zero_at`.
pub fn floor_credit(x: f64, zero_at: f64, best: f64) -> f64 {
    if x.is_nan() {
        return 0.0;
    }
    if x >= best {
        1.0
    } else {
        ramp(x, zero_at, best)
    }
}

/// 0 at or below `zero`, 1 at or above `full`, linear between.
fn ramp(x: f64, zero: f64, full: f64) -> f64 {
    if full <= zero {
        return if x >= full { 1.0 } else { 0.0 };
    }
    ((x - zero) / (full - zero)).clamp(0.0, 1.0)
}

/// Measures one measured criterion of `rubric`. Judged kinds are not for this
/// function and come back as `NeedsAudio` with an explanation.
pub fn measure(
    rubric: &Rubric,
    spec: &CriterionSpec,
    transcript: &Transcript,
    delivery: Option<&DeliveryInput>,
) -> Measured {
    let needs_audio = |what: &str| Measured::NeedsAudio {
        why: format!("{what} is measured from the audio; this grade had only a transcript"),
    };
    match spec.kind {
        CriterionKind::Timing => {
            let Some(timing) = &rubric.timing else {
                return missing_section("timing");
            };
            let Some(d) = delivery else {
                return needs_audio("timing");
            };
            let secs = d.duration_seconds;
            let credit = band_credit(secs, timing.target_seconds, timing.limit_seconds);
            let [lo, hi] = timing.target_seconds;
            let coaching = (credit < 1.0).then(|| {
                if secs > hi {
                    format!(
                        "Your pitch ran {}; the target is {}–{}. Cut what does not serve the buyer's problem and land the next step sooner.",
                        mm_ss(secs), mm_ss(lo), mm_ss(hi)
                    )
                } else {
                    format!(
                        "Your pitch ran {}; the target is {}–{}. Take time to cover every talking point and answer each objection fully.",
                        mm_ss(secs), mm_ss(lo), mm_ss(hi)
                    )
                }
            });
            Measured::Scored {
                credit,
                observation: Observation {
                    value: secs,
                    unit: "seconds".into(),
                    target: format!("{}–{}", mm_ss(lo), mm_ss(hi)),
                },
                note: "length of the recording".into(),
                coaching,
            }
        }
        CriterionKind::Pace => {
            let Some(del) = &rubric.delivery else {
                return missing_section("delivery");
            };
            let Some(d) = delivery else {
                return needs_audio("pace");
            };
            let words = transcript.words.iter().filter(|w| !w.is_filler).count() as f64;
            let (seconds, basis) = if d.speech_seconds > 0.0 {
                (
                    d.speech_seconds,
                    "words per minute of speech (pauses excluded)",
                )
            } else {
                (
                    d.duration_seconds,
                    "words per minute of recording (no speech time measured)",
                )
            };
            let wpm = if seconds > 0.0 {
                words * 60.0 / seconds
            } else {
                0.0
            };
            let band = del.words_per_minute;
            let credit = band_credit(wpm, band, del.pace_limits());
            let coaching = (credit < 1.0).then(|| {
                if wpm > band[1] {
                    format!(
                        "You spoke at {wpm:.0} words a minute; aim for {:.0}–{:.0}. Pause after each claim so the buyer can take it in.",
                        band[0], band[1]
                    )
                } else {
                    format!(
                        "You spoke at {wpm:.0} words a minute; aim for {:.0}–{:.0}. Rehearse until the points flow without searching for words.",
                        band[0], band[1]
                    )
                }
            });
            Measured::Scored {
                credit,
                observation: Observation {
                    value: wpm,
                    unit: "words/minute".into(),
                    target: format!("{:.0}–{:.0}", band[0], band[1]),
                },
                note: basis.into(),
                coaching,
            }
        }
        CriterionKind::Fillers => {
            let Some(del) = &rubric.delivery else {
                return missing_section("delivery");
            };
            let total = transcript.words.len();
            let fillers = transcript.filler_count();
            let ratio = if total == 0 {
                // No words at all is not fluent delivery; it earns nothing.
                1.0
            } else {
                fillers as f64 / total as f64
            };
            let credit = ceiling_credit(ratio, del.max_filler_ratio, del.filler_limit());
            let mut note = format!("{fillers} filler words in {total} words");
            if transcript.filler_count_is_lower_bound {
                note.push_str("; the transcriber may drop fillers, so this count is a lower bound");
            }
            let coaching = (credit < 1.0).then(|| {
                format!(
                    "{:.1}% of your words were fillers (um, uh); keep it under {:.1}%. Replace them with a silent pause.",
                    ratio * 100.0,
                    del.max_filler_ratio * 100.0
                )
            });
            Measured::Scored {
                credit,
                observation: Observation {
                    value: ratio,
                    unit: "ratio".into(),
                    target: format!("≤ {:.3}", del.max_filler_ratio),
                },
                note,
                coaching,
            }
        }
        CriterionKind::LongestPause => {
            let Some(del) = &rubric.delivery else {
                return missing_section("delivery");
            };
            let Some(d) = delivery else {
                return needs_audio("the longest pause");
            };
            let (longest, at) = d
                .pauses
                .iter()
                .map(|&(s, e)| ((e - s).max(0.0), s))
                .filter(|(len, _)| len.is_finite())
                .fold(
                    (0.0_f64, 0.0_f64),
                    |best, p| if p.0 > best.0 { p } else { best },
                );
            let credit = ceiling_credit(longest, del.max_pause_seconds, del.pause_limit());
            let coaching = (credit < 1.0).then(|| {
                format!(
                    "You went silent for {longest:.1} s at {}; keep pauses under {:.0} s. Know your next point before you finish the current one.",
                    mm_ss(at),
                    del.max_pause_seconds
                )
            });
            Measured::Scored {
                credit,
                observation: Observation {
                    value: longest,
                    unit: "seconds".into(),
                    target: format!("≤ {:.1}", del.max_pause_seconds),
                },
                note: "longest silence measured from the audio".into(),
                coaching,
            }
        }
        CriterionKind::PitchVariation => {
            let Some((floor, min)) = rubric.delivery.as_ref().and_then(|d| d.pitch_band()) else {
                return missing_section("delivery.min_pitch_variation_semitones");
            };
            let Some(d) = delivery else {
                return needs_audio("pitch variation");
            };
            let Some(semitones) = d.pitch_variation_semitones else {
                return Measured::NeedsAudio {
                    why: "the voice's pitch could not be tracked in this recording".into(),
                };
            };
            let credit = floor_credit(semitones, floor, min);
            let coaching = (credit < 1.0).then(|| {
                format!(
                    "Your voice varied by {semitones:.1} semitones; aim for at least {min:.0}. Stress the number or outcome in each claim so it stands out."
                )
            });
            Measured::Scored {
                credit,
                observation: Observation {
                    value: semitones,
                    unit: "semitones".into(),
                    target: format!("≥ {min:.1}"),
                },
                note: "spread of the voice's pitch".into(),
                coaching,
            }
        }
        CriterionKind::TalkingPoint | CriterionKind::Objection | CriterionKind::Tone => {
            Measured::NeedsAudio {
                why: format!("{} is a judged criterion, not a measured one", spec.id),
            }
        }
    }
}

fn missing_section(section: &str) -> Measured {
    Measured::NeedsAudio {
        why: format!("the rubric has no {section} section"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_credit_is_full_inside_and_falls_linearly_to_the_limits() {
        let band = [180.0, 300.0];
        let limits = [120.0, 420.0];
        assert_eq!(band_credit(180.0, band, limits), 1.0);
        assert_eq!(band_credit(300.0, band, limits), 1.0);
        assert!((band_credit(150.0, band, limits) - 0.5).abs() < 1e-9);
        assert!((band_credit(390.0, band, limits) - 0.25).abs() < 1e-9);
        assert_eq!(band_credit(120.0, band, limits), 0.0);
        assert_eq!(band_credit(500.0, band, limits), 0.0);
        assert_eq!(band_credit(f64::NAN, band, limits), 0.0);
    }

    #[test]
    fn ceiling_and_floor_credit_at_their_edges() {
        assert_eq!(ceiling_credit(0.04, 0.04, 0.08), 1.0);
        assert!((ceiling_credit(0.06, 0.04, 0.08) - 0.5).abs() < 1e-9);
        assert_eq!(ceiling_credit(0.08, 0.04, 0.08), 0.0);
        assert_eq!(floor_credit(4.0, 2.0, 4.0), 1.0);
        assert!((floor_credit(3.0, 2.0, 4.0) - 0.5).abs() < 1e-9);
        assert_eq!(floor_credit(2.0, 2.0, 4.0), 0.0);
    }
}
