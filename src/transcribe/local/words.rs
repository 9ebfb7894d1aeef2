//! Whisper tokens to timed words.
//!
//! whisper.cpp's DTW gives each token the moment it *ends* (the point where the
//! alignment moves on to the next token). That makes word ends reliable, but a
//! word's start is not simply the previous word's end: after a pause the start
//! would land at the beginning of the silence, and pauses are what delivery
//! scoring measures. So a word starts at the first frame of speech energy
//! between the previous word's end and its own end.
//!
//! The end is not always reliable either: when a pause falls inside one
//! decoded segment (beam search keeps sentences together more than greedy
//! decoding does), DTW can stretch the word before the pause over the whole
//! silence, to where speech resumes. No word holds a silence of
//! `PAUSE_IN_WORD`: the word is the longer stretch of speech on either side
//! of the first such silence, and ends `SOFT_END` into the silence when it
//! is the stretch before.

use crate::transcribe::energy::SpeechEnergy;
use crate::transcribe::Word;

const MIN_WORD_SECONDS: f64 = 0.02;
/// A silence this long is a pause, not a stop consonant inside a word.
const PAUSE_IN_WORD: f64 = 0.3;
/// Soft endings ("-s", "-th") fall below the speech threshold: a word ends
/// this far into the silence that follows it.
const SOFT_END: f64 = 0.15;

/// One text token as whisper.cpp reports it.
#[derive(Debug, Clone)]
pub struct TimedToken {
    /// Raw bytes: BPE tokens can split a UTF-8 character.
    pub bytes: Vec<u8>,
    /// Seconds from the start of the audio at which the token ends.
    pub end: f64,
    pub probability: f32,
}

/// Joins tokens into words: a token starting with a space opens a new word;
/// others (punctuation, word pieces) extend the current one.
pub fn merge_tokens(tokens: &[TimedToken]) -> Vec<(String, f64, f32)> {
    let mut words: Vec<(Vec<u8>, f64, Vec<f32>)> = Vec::new();
    for t in tokens {
        let opens = t.bytes.first() == Some(&b' ') || words.is_empty();
        if opens {
            words.push((Vec::new(), t.end, Vec::new()));
        }
        if let Some(w) = words.last_mut() {
            w.0.extend_from_slice(&t.bytes);
            w.1 = w.1.max(t.end);
            w.2.push(t.probability);
        }
    }
    words
        .into_iter()
        .filter_map(|(bytes, end, probs)| {
            let text = String::from_utf8_lossy(&bytes).trim().to_string();
            let confidence = probs.iter().sum::<f32>() / probs.len().max(1) as f32;
            (!text.is_empty()).then_some((text, end, confidence))
        })
        .collect()
}

/// Words with start/end for one segment. `previous_end` is where the last word
/// before this segment ended (0 at the start); it is updated.
pub fn timed_words(
    tokens: &[TimedToken],
    energy: &SpeechEnergy,
    previous_end: &mut f64,
) -> Vec<Word> {
    merge_tokens(tokens)
        .into_iter()
        .map(|(text, end, confidence)| {
            // DTW ends never go backwards in theory; keep them monotonic in practice.
            let end = end.max(*previous_end + MIN_WORD_SECONDS);
            let start = energy.onset(*previous_end, end).min(end - MIN_WORD_SECONDS);
            let (start, end) = match energy.pause_after_speech(start, end, PAUSE_IN_WORD) {
                // The word is the longer side of the pause: before it when DTW
                // ran the word on to where speech resumed, after it when the
                // previous word's tail was taken for this word's onset.
                Some(pause) => {
                    let resume = energy.onset(pause, end);
                    if end - resume > pause - start {
                        (resume.min(end - MIN_WORD_SECONDS), end)
                    } else {
                        (start, (pause + SOFT_END).min(end))
                    }
                }
                None => (start, end),
            };
            *previous_end = end;
            Word {
                text,
                start,
                end,
                confidence: Some(confidence),
                is_filler: false,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(text: &str, end: f64) -> TimedToken {
        TimedToken {
            bytes: text.as_bytes().to_vec(),
            end,
            probability: 0.5,
        }
    }

    #[test]
    fn pieces_and_punctuation_join_their_word() {
        let words = merge_tokens(&[
            tok(" Acme", 0.4),
            tok("Cloud", 0.6),
            tok(",", 0.62),
            tok(" ships", 1.0),
        ]);
        let texts: Vec<_> = words.iter().map(|w| w.0.as_str()).collect();
        assert_eq!(texts, ["AcmeCloud,", "ships"]);
        assert_eq!(words[0].1, 0.62);
    }

    #[test]
    fn split_utf8_characters_are_rejoined() {
        let e = "é".as_bytes();
        let t = [
            TimedToken {
                bytes: vec![b' ', b'c', b'a', b'f', e[0]],
                end: 0.3,
                probability: 1.0,
            },
            TimedToken {
                bytes: vec![e[1]],
                end: 0.4,
                probability: 1.0,
            },
        ];
        assert_eq!(merge_tokens(&t)[0].0, "café");
    }

    /// 1 s of speech-like tone, 2 s of silence, 1 s of tone.
    fn speech_pause_speech() -> SpeechEnergy {
        let mut samples = vec![0.0f32; 4 * 16_000];
        for (i, s) in samples.iter_mut().enumerate() {
            if !(16_000..48_000).contains(&i) {
                *s = ((i as f32) * 0.3).sin() * 0.4;
            }
        }
        SpeechEnergy::new(&samples)
    }

    #[test]
    fn a_word_after_silence_starts_when_speech_resumes() {
        let energy = speech_pause_speech();
        let mut prev = 0.0;
        let words = timed_words(
            &[tok(" before", 1.0), tok(" after", 3.6)],
            &energy,
            &mut prev,
        );
        assert_eq!(words[0].start, 0.0);
        assert!(
            (words[1].start - 3.0).abs() <= 0.011,
            "start {}",
            words[1].start
        );
        assert_eq!(words[1].end, 3.6);
        assert_eq!(prev, 3.6);
    }

    #[test]
    fn a_word_before_a_pause_does_not_run_on_through_it() {
        // DTW ends the first word just after speech resumes, as it did under
        // beam search.
        let energy = speech_pause_speech();
        let mut prev = 0.0;
        let words = timed_words(
            &[tok(" afternoon", 3.05), tok(" our", 3.4)],
            &energy,
            &mut prev,
        );
        assert!(
            (words[0].end - (1.0 + SOFT_END)).abs() <= 0.011,
            "{:?}",
            words[0]
        );
        assert!((words[1].start - 3.0).abs() <= 0.011, "{:?}", words[1]);
        // The other way round: the previous word ended too early, so the
        // span starts on its tail; the word is the speech after the pause.
        let mut prev = 0.7;
        let words = timed_words(&[tok(" next", 3.6)], &energy, &mut prev);
        assert!((words[0].start - 3.0).abs() <= 0.011, "{:?}", words[0]);
        assert_eq!(words[0].end, 3.6);
        // A short soft tail is left alone.
        let mut prev = 0.0;
        let words = timed_words(&[tok(" yes", 1.2)], &energy, &mut prev);
        assert_eq!(words[0].end, 1.2);
    }

    #[test]
    fn times_stay_increasing_when_dtw_goes_backwards() {
        let energy = SpeechEnergy::new(&vec![0.3; 16_000]);
        let mut prev = 0.0;
        let words = timed_words(&[tok(" a", 0.5), tok(" b", 0.4)], &energy, &mut prev);
        assert!(words[1].start > words[0].start);
        assert!(words[1].end > words[0].end);
        assert!(words.iter().all(|w| w.end > w.start));
    }
}
