//! Splits a transcript into sentences over its words.
//!
//! Judges reason about claims, and a claim lives in a sentence, so both the
//! prompt rendering and the offline judge's windows are built from these.
//! ASR output is not always punctuated, so long runs are cut at a word limit
//! too: a sentence never grows without bound.

use std::ops::Range;

use crate::transcribe::Transcript;

/// Longest sentence in words; unpunctuated speech is cut here.
pub const MAX_SENTENCE_WORDS: usize = 40;

/// Half-open ranges of indexes into `transcript.words`, in order, covering
/// every word exactly once.
pub fn sentence_ranges(transcript: &Transcript) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, word) in transcript.words.iter().enumerate() {
        let len = i + 1 - start;
        if ends_sentence(&word.text) || len >= MAX_SENTENCE_WORDS {
            out.push(start..i + 1);
            start = i + 1;
        }
    }
    if start < transcript.words.len() {
        out.push(start..transcript.words.len());
    }
    out
}

/// The words of a range joined with spaces.
pub fn text_of(transcript: &Transcript, range: Range<usize>) -> String {
    let words = transcript.words.get(range).unwrap_or(&[]);
    let mut out = String::new();
    for w in words {
        let t = w.text.trim();
        if t.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(t);
    }
    out
}

fn ends_sentence(word: &str) -> bool {
    let trimmed = word.trim_end_matches(['"', '\'', ')', '”', '’']);
    trimmed.ends_with(['.', '?', '!'])
}

#[cfg(test)]
pub(crate) mod test_support {
    use crate::transcribe::{Capabilities, Transcript, Word};

    /// A transcript from plain text, one word every 0.4 s.
    pub fn transcript(text: &str) -> Transcript {
        let words: Vec<Word> = text
            .split_whitespace()
            .enumerate()
            .map(|(i, w)| Word {
                text: w.to_string(),
                start: i as f64 * 0.4,
                end: i as f64 * 0.4 + 0.3,
                confidence: None,
                is_filler: false,
            })
            .collect();
        Transcript {
            text: text.to_string(),
            words,
            segments: vec![],
            dropped: vec![],
            backend: "text".into(),
            model: "none".into(),
            capabilities: Capabilities {
                word_times: false,
                keeps_fillers: true,
            },
            filler_count_is_lower_bound: false,
            duration_seconds: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::transcript;
    use super::*;

    #[test]
    fn splits_on_terminal_punctuation_and_keeps_the_tail() {
        let t = transcript("Hello there. How are you? Fine! and then some");
        let r = sentence_ranges(&t);
        assert_eq!(r, vec![0..2, 2..5, 5..6, 6..9]);
        assert_eq!(text_of(&t, 2..5), "How are you?");
    }

    #[test]
    fn cuts_unpunctuated_speech_at_the_word_limit() {
        let text = vec!["word"; MAX_SENTENCE_WORDS * 2 + 3].join(" ");
        let r = sentence_ranges(&transcript(&text));
        assert_eq!(r.len(), 3);
        assert!(r.iter().all(|s| s.len() <= MAX_SENTENCE_WORDS));
        assert_eq!(r.last().map(|s| s.end), Some(MAX_SENTENCE_WORDS * 2 + 3));
    }
}
