//! `--transcript FILE`: grade a typed pitch or a saved transcript instead of audio.
//!
//! Enablement teams write test pitches as plain text; a saved transcript JSON
//! replays a real grading without re-running transcription.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::transcribe::{Capabilities, Segment, Transcript, Word};

/// Seconds per word for synthetic times: 150 words a minute, a typical pitch pace.
pub const SYNTHETIC_SECONDS_PER_WORD: f64 = 0.4;

/// A pitch of an hour is ~9,000 words; nothing legitimate comes near this.
pub const MAX_TRANSCRIPT_BYTES: u64 = 4 * 1024 * 1024;

/// Words a typed transcript counts as fillers. Only sounds that are never content
/// words: "like" or "so" would need context a plain word list does not have.
const FILLERS: [&str; 10] = [
    "um", "umm", "uh", "uhh", "uhm", "erm", "er", "ah", "hmm", "mm",
];

#[derive(Debug, thiserror::Error)]
pub enum TranscriptInputError {
    #[error("{path}: cannot read transcript: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: larger than {MAX_TRANSCRIPT_BYTES} bytes; not a pitch transcript")]
    TooLarge { path: PathBuf },
    #[error("{path}: not UTF-8 text")]
    NotUtf8 { path: PathBuf },
    #[error("{path}:{line}:{column}: not a transcript JSON: {message}")]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: invalid transcript: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{path}: the transcript has no words")]
    Empty { path: PathBuf },
}

/// Loads a transcript JSON (the `Transcript` type; chosen when the file is
/// `.json` or starts with `{`) or plain text.
pub fn load_transcript(path: &Path) -> Result<Transcript, TranscriptInputError> {
    let io = |source| TranscriptInputError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(MAX_TRANSCRIPT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_TRANSCRIPT_BYTES {
        return Err(TranscriptInputError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let text = String::from_utf8(bytes).map_err(|_| TranscriptInputError::NotUtf8 {
        path: path.to_path_buf(),
    })?;
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        || text.trim_start().starts_with('{');
    let transcript = if is_json {
        let t: Transcript =
            serde_json::from_str(&text).map_err(|e| TranscriptInputError::Json {
                path: path.to_path_buf(),
                line: e.line(),
                column: e.column(),
                message: e.to_string(),
            })?;
        check(&t).map_err(|message| TranscriptInputError::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
        t
    } else {
        from_text(&text)
    };
    if transcript.words.is_empty() {
        return Err(TranscriptInputError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(transcript)
}

/// A typed pitch as a transcript: words get synthetic times at 150 wpm
/// (`capabilities.word_times = false` says so), one segment per sentence.
pub fn from_text(text: &str) -> Transcript {
    let mut words = Vec::new();
    let mut segments = Vec::new();
    let mut sentence_start = 0;
    for (i, token) in text.split_whitespace().enumerate() {
        let start = i as f64 * SYNTHETIC_SECONDS_PER_WORD;
        let bare: String = token
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        words.push(Word {
            text: token.to_string(),
            start,
            end: start + SYNTHETIC_SECONDS_PER_WORD * 0.9,
            confidence: None,
            is_filler: FILLERS.contains(&bare.as_str()),
        });
        if token.ends_with(['.', '!', '?']) {
            segments.push(segment(&words, sentence_start..words.len()));
            sentence_start = words.len();
        }
    }
    if sentence_start < words.len() {
        segments.push(segment(&words, sentence_start..words.len()));
    }
    Transcript {
        text: words
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        words,
        segments,
        dropped: Vec::new(),
        backend: "text".into(),
        model: "typed".into(),
        capabilities: Capabilities {
            word_times: false,
            keeps_fillers: true,
        },
        filler_count_is_lower_bound: false,
        duration_seconds: None,
    }
}

fn segment(words: &[Word], range: std::ops::Range<usize>) -> Segment {
    let slice = &words[range.clone()];
    Segment {
        text: slice
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        start: slice.first().map_or(0.0, |w| w.start),
        end: slice.last().map_or(0.0, |w| w.end),
        words: range,
        no_speech_prob: None,
        avg_logprob: None,
    }
}

/// Rejects what would make later stages misbehave: non-finite or reversed
/// times, segment ranges outside the word list.
fn check(t: &Transcript) -> Result<(), String> {
    for (i, w) in t.words.iter().enumerate() {
        if !(w.start.is_finite() && w.end.is_finite() && w.start >= 0.0 && w.end >= w.start) {
            return Err(format!(
                "word {i} ({:?}) has bad times {}..{}",
                w.text, w.start, w.end
            ));
        }
        if w.confidence.is_some_and(|c| !(0.0..=1.0).contains(&c)) {
            return Err(format!(
                "word {i} ({:?}) has a confidence outside 0..1",
                w.text
            ));
        }
    }
    for (i, s) in t.segments.iter().enumerate() {
        if s.words.start > s.words.end || s.words.end > t.words.len() {
            return Err(format!(
                "segment {i} points at words {}..{} but there are {}",
                s.words.start,
                s.words.end,
                t.words.len()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_gets_synthetic_times_fillers_and_sentences() {
        let t = from_text("Um, we close books fast. Uh really?\nYes.");
        assert_eq!(t.words.len(), 8);
        assert!(!t.capabilities.word_times);
        assert_eq!(t.filler_count(), 2);
        assert_eq!(t.segments.len(), 3);
        assert_eq!(t.segments[1].words, 5..7);
        assert!((t.words[5].start - 2.0).abs() < 1e-9);
    }
}
