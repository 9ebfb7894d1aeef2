//! What a backend hands over before the shared clean-up, and that clean-up.
//!
//! Every backend converts its own answer into a [`Draft`]; `finish` then runs
//! the same hallucination guards and filler marking for all of them, so no
//! backend can skip a rule and scoring sees one behaviour.

use super::energy::SpeechEnergy;
use super::guards::{self, GuardConfig};
use super::{fillers, Capabilities, Segment, Transcript, Word};
use crate::ingest::Pcm;

/// A backend segment before the guards, with the signals they judge by.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DraftSegment {
    pub text: String,
    pub start: f64,
    pub end: f64,
    pub words: Vec<Word>,
    pub no_speech_prob: Option<f32>,
    pub avg_logprob: Option<f32>,
    /// gzip ratio of the text as OpenAI-style servers report it; high = looping.
    pub compression_ratio: Option<f32>,
}

#[derive(Debug, Clone)]
pub struct Draft {
    pub backend: String,
    pub model: String,
    pub capabilities: Capabilities,
    /// Seconds of audio that were sent; words past it cannot be real.
    pub duration: f64,
    pub segments: Vec<DraftSegment>,
}

impl Draft {
    /// Guards, fillers and indexes. `audio` is what was transcribed: the
    /// guards check the text against its loudness.
    pub fn finish(self, guard: &GuardConfig, audio: &Pcm) -> Transcript {
        let energy = SpeechEnergy::new(&audio.samples);
        let (kept, dropped) = guards::apply(self.segments, self.duration, guard, &energy);
        let mut words: Vec<Word> = Vec::new();
        let mut segments = Vec::with_capacity(kept.len());
        for seg in kept {
            let first = words.len();
            words.extend(seg.words);
            segments.push(Segment {
                text: seg.text.trim().to_string(),
                start: seg.start,
                end: seg.end,
                words: first..words.len(),
                no_speech_prob: seg.no_speech_prob,
                avg_logprob: seg.avg_logprob,
            });
        }
        fillers::mark_fillers(&mut words);
        let text = words
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        Transcript {
            text,
            words,
            segments,
            dropped,
            backend: self.backend,
            model: self.model,
            capabilities: self.capabilities,
            filler_count_is_lower_bound: !self.capabilities.keeps_fillers,
            duration_seconds: Some(self.duration),
        }
    }
}

/// Words spread evenly over `[start, end]` by character count, for servers that
/// return text without word times. `Capabilities::word_times` must then be false.
pub fn interpolate_words(text: &str, start: f64, end: f64) -> Vec<Word> {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let total: usize = tokens.iter().map(|t| t.chars().count()).sum();
    if total == 0 || end.is_nan() || start.is_nan() || end <= start {
        return Vec::new();
    }
    let per_char = (end - start) / total as f64;
    let mut at = start;
    tokens
        .into_iter()
        .map(|t| {
            let len = t.chars().count() as f64 * per_char;
            let word = Word {
                text: t.to_string(),
                start: at,
                end: at + len,
                confidence: None,
                is_filler: false,
            };
            at += len;
            word
        })
        .collect()
}

/// Groups words into sentence-like segments at `.`, `?` and `!`, for backends
/// that return words but no segments.
pub fn segments_from_words(words: Vec<Word>) -> Vec<DraftSegment> {
    let mut segments = Vec::new();
    let mut current: Vec<Word> = Vec::new();
    for word in words {
        let ends_sentence = word.text.ends_with(['.', '?', '!']);
        current.push(word);
        if ends_sentence {
            segments.push(segment_of(std::mem::take(&mut current)));
        }
    }
    if !current.is_empty() {
        segments.push(segment_of(current));
    }
    segments
}

fn segment_of(words: Vec<Word>) -> DraftSegment {
    DraftSegment {
        text: words
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        start: words.first().map_or(0.0, |w| w.start),
        end: words.last().map_or(0.0, |w| w.end),
        words,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(text: &str, start: f64) -> Word {
        Word {
            text: text.into(),
            start,
            end: start + 0.3,
            confidence: None,
            is_filler: false,
        }
    }

    #[test]
    fn finish_indexes_segments_marks_fillers_and_reports_lower_bound() {
        let draft = Draft {
            backend: "openai".into(),
            model: "whisper-1".into(),
            capabilities: Capabilities {
                word_times: true,
                keeps_fillers: false,
            },
            duration: 5.0,
            segments: segments_from_words(vec![
                word("Um,", 0.0),
                word("hello.", 0.5),
                word("We", 1.0),
                word("ship.", 1.5),
            ]),
        };
        let t = draft.finish(
            &GuardConfig::default(),
            &Pcm {
                samples: vec![0.3; 80_000],
            },
        );
        assert_eq!(t.text, "Um, hello. We ship.");
        assert_eq!(t.segments.len(), 2);
        assert_eq!(t.segments[1].words, 2..4);
        assert_eq!(t.segments[1].text, "We ship.");
        assert_eq!(t.filler_count(), 1);
        assert!(t.filler_count_is_lower_bound);
        assert_eq!(t.duration_seconds, Some(5.0));
    }

    #[test]
    fn interpolated_words_cover_the_span_in_order() {
        let w = interpolate_words("a bb ccc", 1.0, 7.0);
        assert_eq!(w.len(), 3);
        assert_eq!(w[0].start, 1.0);
        assert!((w[1].start - 2.0).abs() < 1e-9);
        assert!((w[2].end - 7.0).abs() < 1e-9);
        assert!(interpolate_words("text", 2.0, 2.0).is_empty());
        assert!(interpolate_words("   ", 0.0, 1.0).is_empty());
    }
}
