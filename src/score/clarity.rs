//! How clearly the recording was heard, so that a fail never rests on a
//! recording the machine could not hear.
//!
//! A small recogniser mishears a hard recording (a phone line, a fast or
//! accented voice) confidently word by word: a reference customer's name
//! comes out as three ordinary words, and no single word looks doubtful. But its doubt summed
//! over the whole transcript tracks how much it misheard. Of the 39
//! development recordings (espeak-ng voices, some on a phone band), 10 had
//! more than 15% of their words below confidence 0.5, and 8 of those had lost
//! a third of their words or more against the script; of the 29 below that
//! bar only one had (at 14.9%). In such a transcript
//! a point the judge could not find may well have been said, and only a
//! person listening can tell; so a grade that would fail the rep goes to a
//! reviewer instead. A pass is left alone: mishearing hides points, it does
//! not invent them.
//!
//! Typed transcripts carry no confidences and are never unclear.

use serde::{Deserialize, Serialize};

use crate::score::untrusted::mm_ss;
use crate::transcribe::{Transcript, Word};

/// A word the recogniser gave less than this is one it was unsure of.
pub const UNSURE_WORD: f32 = 0.5;
/// The share of unsure words from which a recording counts as heard
/// unclearly. Whisper's word confidences on a clear recording leave
/// 3–12% of the words below [`UNSURE_WORD`] (the development recordings).
pub const MAX_UNSURE_SHARE: f64 = 0.15;
/// For backends that give no word confidences but a log-probability per
/// segment (OpenAI's verbose JSON): the mean, weighted by words, below which
/// a recording counts as heard unclearly. On the development recordings it
/// crosses −0.35 where the unsure-word share crosses 15%.
pub const MIN_MEAN_LOGPROB: f64 = -0.35;
/// How many of the least clear passages a grade points the reviewer to.
const PASSAGES: usize = 3;
/// A passage is worth pointing to when at least this share of its words are unsure.
const UNCLEAR_PASSAGE_SHARE: f64 = 0.3;

/// What the transcript says of how well the recording was heard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Clarity {
    /// Share of the spoken words (fillers aside) heard with a confidence
    /// below [`UNSURE_WORD`]; `None` when the backend gives no word confidences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsure_word_share: Option<f64>,
    /// Mean log-probability of the segments, weighted by their words; `None`
    /// when the backend gives none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_logprob: Option<f64>,
    /// The least clear passages (seconds), worst first, for a reviewer to listen to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unclear_passages: Vec<Passage>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Passage {
    pub start: f64,
    pub end: f64,
}

impl Clarity {
    /// `None` when the transcript says nothing of how it was heard (typed
    /// text, or a backend with neither signal).
    pub fn of(t: &Transcript) -> Option<Self> {
        let unsure_word_share = unsure_share(&t.words).map(round3);
        let (sum, words) = t
            .segments
            .iter()
            .filter_map(|s| s.avg_logprob.map(|lp| (lp as f64, s.words.len())))
            .fold((0.0, 0usize), |(sum, n), (lp, w)| {
                (sum + lp * w as f64, n + w)
            });
        let mean_logprob = (words > 0).then(|| round3(sum / words as f64));
        if unsure_word_share.is_none() && mean_logprob.is_none() {
            return None;
        }

        // Passages to listen to: the segments with the largest share of
        // unsure words, when their words carry confidences.
        let mut passages: Vec<(f64, Passage)> = t
            .segments
            .iter()
            .filter_map(|s| {
                let share = unsure_share(t.words.get(s.words.clone())?)?;
                (share >= UNCLEAR_PASSAGE_SHARE).then_some((
                    share,
                    Passage {
                        start: s.start,
                        end: s.end,
                    },
                ))
            })
            .collect();
        passages.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.start.total_cmp(&b.1.start)));
        Some(Self {
            unsure_word_share,
            mean_logprob,
            unclear_passages: passages.into_iter().take(PASSAGES).map(|p| p.1).collect(),
        })
    }

    /// Heard too unclearly for a fail to stand without a person listening.
    /// Word confidences decide when there are any; the log-probability only
    /// stands in for them.
    pub fn is_unclear(&self) -> bool {
        match (self.unsure_word_share, self.mean_logprob) {
            (Some(share), _) => share > MAX_UNSURE_SHARE,
            (None, Some(lp)) => lp < MIN_MEAN_LOGPROB,
            (None, None) => false,
        }
    }

    /// What a reviewer reads: the measure and where to listen.
    pub fn describe(&self) -> String {
        let measure = match (self.unsure_word_share, self.mean_logprob) {
            (Some(share), _) => format!(
                "{:.0}% of its words were heard with confidence below {UNSURE_WORD}",
                100.0 * share
            ),
            (None, Some(lp)) => format!("its mean log-probability is {lp:.2}"),
            (None, None) => "it carries no confidences".to_string(),
        };
        let places: Vec<String> = self
            .unclear_passages
            .iter()
            .map(|p| format!("{}–{}", mm_ss(p.start), mm_ss(p.end)))
            .collect();
        if places.is_empty() {
            format!("the recording was heard unclearly: {measure}")
        } else {
            format!(
                "the recording was heard unclearly: {measure}; least clear at {}",
                places.join(", ")
            )
        }
    }
}

/// Share of the spoken words (fillers aside) below [`UNSURE_WORD`], over
/// those that carry a confidence; `None` when none does.
fn unsure_share(words: &[Word]) -> Option<f64> {
    let (unsure, known) = words
        .iter()
        .filter(|w| !w.is_filler && !w.text.trim().is_empty())
        .filter_map(|w| w.confidence)
        .fold((0usize, 0usize), |(u, n), c| {
            (u + usize::from(c < UNSURE_WORD), n + 1)
        });
    (known > 0).then(|| unsure as f64 / known as f64)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcribe::Segment;

    /// Two segments of ten words; `unsure[i]` words of segment `i` heard at 0.2.
    fn heard(unsure: [usize; 2], logprob: Option<f32>, confidences: bool) -> Transcript {
        let mut words = Vec::new();
        let mut segments = Vec::new();
        for (s, n_unsure) in unsure.iter().enumerate() {
            let first = words.len();
            for i in 0..10 {
                let at = (s * 10 + i) as f64;
                words.push(Word {
                    text: format!(" w{s}{i}"),
                    start: at,
                    end: at + 0.8,
                    confidence: confidences.then_some(if i < *n_unsure { 0.2 } else { 0.9 }),
                    is_filler: false,
                });
            }
            segments.push(Segment {
                text: String::new(),
                start: (s * 10) as f64,
                end: (s * 10 + 10) as f64,
                words: first..words.len(),
                no_speech_prob: None,
                avg_logprob: logprob,
            });
        }
        Transcript::heard_for_tests(words, segments)
    }

    #[test]
    fn a_clear_recording_is_not_unclear() {
        let c = Clarity::of(&heard([1, 1], Some(-0.2), true)).expect("has confidences");
        assert_eq!(c.unsure_word_share, Some(0.1));
        assert_eq!(c.mean_logprob, Some(-0.2));
        assert!(!c.is_unclear());
        assert!(c.unclear_passages.is_empty());
    }

    #[test]
    fn many_unsure_words_make_it_unclear_and_point_to_the_worst_passage() {
        let c = Clarity::of(&heard([0, 4], Some(-0.2), true)).expect("has confidences");
        assert_eq!(c.unsure_word_share, Some(0.2));
        assert!(c.is_unclear());
        assert_eq!(
            c.unclear_passages,
            vec![Passage {
                start: 10.0,
                end: 20.0
            }]
        );
        let said = c.describe();
        assert!(said.contains("20% of its words"), "{said}");
        assert!(said.contains("00:10–00:20"), "{said}");
    }

    #[test]
    fn the_share_at_the_bar_is_still_clear() {
        // 3 of 20 words is 15%: the bar itself is clear; one word more is not.
        assert!(!Clarity::of(&heard([3, 0], None, true))
            .unwrap()
            .is_unclear());
        assert!(Clarity::of(&heard([3, 1], None, true))
            .unwrap()
            .is_unclear());
    }

    #[test]
    fn without_word_confidences_the_log_probability_decides() {
        let low = Clarity::of(&heard([0, 0], Some(-0.5), false)).unwrap();
        assert_eq!(low.unsure_word_share, None);
        assert!(low.is_unclear());
        assert!(low.describe().contains("log-probability is -0.50"));
        let high = Clarity::of(&heard([0, 0], Some(-0.2), false)).unwrap();
        assert!(!high.is_unclear());
        // Word confidences, when there are some, outrank a low log-probability.
        assert!(!Clarity::of(&heard([1, 1], Some(-0.9), true))
            .unwrap()
            .is_unclear());
    }

    #[test]
    fn a_typed_transcript_says_nothing_of_clarity() {
        let mut t = heard([0, 0], None, false);
        t.backend = "text".into();
        assert_eq!(Clarity::of(&t), None);
    }
}
