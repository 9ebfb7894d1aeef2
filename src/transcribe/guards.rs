//! Hallucination guards, applied to every backend's output.
//!
//! Whisper-family models invent text in silence ("Thank you for watching"),
//! loop on a phrase, or emit words past the end of the audio. Such words would
//! inflate pace and could "hit" a talking point, so they are removed here and
//! recorded in `Transcript::dropped` with the reason, so a reviewer can see them.

use serde::{Deserialize, Serialize};

use super::draft::DraftSegment;
use super::energy::SpeechEnergy;
use super::fillers::normalize;
use super::DroppedSegment;

/// Thresholds; the defaults are Whisper's own (`no_speech_threshold` 0.6,
/// `logprob_threshold` -1.0, `compression_ratio_threshold` 2.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GuardConfig {
    /// A segment is silence when its no-speech probability is above this...
    pub max_no_speech_prob: f32,
    /// ...and its average token log-probability is below this.
    pub min_avg_logprob: f32,
    /// Above this the text is repetitive enough to be a decoding loop.
    pub max_compression_ratio: f32,
    /// A run of one n-gram repeated 3+ times covering this many words is a loop.
    pub loop_min_words: usize,
    /// Slack past the end of the audio before a word counts as invented.
    pub end_tolerance_seconds: f64,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            max_no_speech_prob: 0.6,
            min_avg_logprob: -1.0,
            max_compression_ratio: 2.4,
            loop_min_words: 8,
            end_tolerance_seconds: 0.25,
        }
    }
}

/// Splits segments into kept and dropped. Kept segments have their invented or
/// unusable words removed and times clamped to the audio.
pub(crate) fn apply(
    segments: Vec<DraftSegment>,
    duration: f64,
    cfg: &GuardConfig,
    energy: &SpeechEnergy,
) -> (Vec<DraftSegment>, Vec<DroppedSegment>) {
    let mut kept: Vec<DraftSegment> = Vec::with_capacity(segments.len());
    let mut dropped = Vec::new();
    let mut same_text_run = 0;
    let mut previous_text = String::new();
    for mut seg in segments {
        let text_key = normalized_words(&seg).join(" ");
        same_text_run = if !text_key.is_empty() && text_key == previous_text {
            same_text_run + 1
        } else {
            1
        };
        previous_text = text_key;

        let reason = word_reason(seg.start, seg.end, duration, cfg)
            .or_else(|| segment_reason(&seg, cfg))
            .or_else(|| {
                (!energy.has_speech(seg.start, seg.end))
                    .then(|| "no sound in the audio under this text".to_string())
            })
            .or_else(|| {
                (same_text_run > 2)
                    .then(|| format!("same text repeated in {same_text_run} segments in a row"))
            });
        if let Some(reason) = reason {
            dropped.push(drop_record(&seg.text, seg.start, seg.end, reason));
            continue;
        }
        let words = std::mem::take(&mut seg.words);
        for mut word in words {
            match word_reason(word.start, word.end, duration, cfg) {
                Some(reason) => dropped.push(drop_record(&word.text, word.start, word.end, reason)),
                None => {
                    word.start = word.start.max(0.0).min(duration);
                    word.end = word.end.max(word.start).min(duration);
                    seg.words.push(word);
                }
            }
        }
        if seg.words.is_empty() {
            // Empty, or every word was invalid (each is recorded above).
            continue;
        }
        seg.start = seg.start.max(0.0).min(duration);
        seg.end = seg.end.max(seg.start).min(duration);
        kept.push(seg);
    }
    (kept, dropped)
}

fn drop_record(text: &str, start: f64, end: f64, reason: String) -> DroppedSegment {
    tracing::debug!(text, start, reason, "hallucination guard dropped text");
    DroppedSegment {
        text: text.trim().to_string(),
        start,
        end,
        reason,
    }
}

fn segment_reason(seg: &DraftSegment, cfg: &GuardConfig) -> Option<String> {
    if is_annotation(&seg.text) {
        return Some("non-speech annotation".into());
    }
    if let (Some(ns), Some(lp)) = (seg.no_speech_prob, seg.avg_logprob) {
        if ns > cfg.max_no_speech_prob && lp < cfg.min_avg_logprob {
            return Some(format!(
                "no_speech_prob {ns:.2} > {:.2} with avg_logprob {lp:.2} < {:.2}",
                cfg.max_no_speech_prob, cfg.min_avg_logprob
            ));
        }
    }
    if let Some(cr) = seg.compression_ratio {
        if cr > cfg.max_compression_ratio {
            return Some(format!(
                "compression_ratio {cr:.2} > {:.2}",
                cfg.max_compression_ratio
            ));
        }
    }
    let words = normalized_words(seg);
    repetition_loop(&words, cfg.loop_min_words)
        .map(|(phrase, reps)| format!("repetition loop: {phrase:?} x{reps}"))
}

/// Whisper's captions for sounds, not speech: "[BLANK_AUDIO]", "(music)", "♪".
fn is_annotation(text: &str) -> bool {
    let t = text.trim();
    !t.is_empty()
        && ((t.starts_with('[') && t.ends_with(']'))
            || (t.starts_with('(') && t.ends_with(')'))
            || t.chars().all(|c| matches!(c, '♪' | '♫' | ' ' | '*')))
}

fn word_reason(start: f64, end: f64, duration: f64, cfg: &GuardConfig) -> Option<String> {
    if !start.is_finite() || !end.is_finite() {
        return Some("word time is not a number".into());
    }
    if start > duration + cfg.end_tolerance_seconds || end < 0.0 {
        return Some(format!("outside the audio (0-{duration:.2} s)"));
    }
    None
}

fn normalized_words(seg: &DraftSegment) -> Vec<String> {
    let source: Vec<&str> = if seg.words.is_empty() {
        seg.text.split_whitespace().collect()
    } else {
        seg.words.iter().map(|w| w.text.as_str()).collect()
    };
    source
        .into_iter()
        .map(normalize)
        .filter(|w| !w.is_empty())
        .collect()
}

/// The longest run of one n-gram (n <= 8) repeated back to back at least 3
/// times and covering at least `min_words` words, as (phrase, repetitions).
/// "no no no" is speech; "thank you thank you thank you thank you" is a loop.
pub fn repetition_loop(words: &[String], min_words: usize) -> Option<(String, usize)> {
    let mut best: Option<(String, usize, usize)> = None;
    for n in 1..=8.min(words.len() / 2) {
        for start in 0..words.len().saturating_sub(2 * n - 1) {
            let unit = &words[start..start + n];
            let mut reps = 1;
            while start + (reps + 1) * n <= words.len()
                && &words[start + reps * n..start + (reps + 1) * n] == unit
            {
                reps += 1;
            }
            let covered = reps * n;
            if reps >= 3 && covered >= min_words && best.as_ref().is_none_or(|b| covered > b.2) {
                best = Some((unit.join(" "), reps, covered));
            }
        }
    }
    best.map(|(phrase, reps, _)| (phrase, reps))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcribe::Word;

    fn seg(text: &str, start: f64, end: f64) -> DraftSegment {
        let n = text.split_whitespace().count().max(1) as f64;
        let step = (end - start) / n;
        let words = text
            .split_whitespace()
            .enumerate()
            .map(|(i, t)| Word {
                text: t.into(),
                start: start + i as f64 * step,
                end: start + (i + 1) as f64 * step,
                confidence: None,
                is_filler: false,
            })
            .collect();
        DraftSegment {
            text: text.into(),
            start,
            end,
            words,
            ..Default::default()
        }
    }

    /// Sound everywhere, so only the rule under test can drop anything.
    fn loud() -> SpeechEnergy {
        SpeechEnergy::new(&vec![0.3; 16_000 * 20])
    }

    fn strings(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn silence_segment_needs_both_no_speech_and_low_logprob() {
        let cfg = GuardConfig::default();
        let mut silent = seg("Thank you for watching.", 5.0, 7.0);
        silent.no_speech_prob = Some(0.9);
        silent.avg_logprob = Some(-1.4);
        let mut confident = seg("We cut onboarding to a day.", 0.0, 2.0);
        confident.no_speech_prob = Some(0.9);
        confident.avg_logprob = Some(-0.2);
        let (kept, dropped) = apply(vec![confident, silent], 10.0, &cfg, &loud());
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].text, "We cut onboarding to a day.");
        assert_eq!(dropped.len(), 1);
        assert!(
            dropped[0].reason.starts_with("no_speech_prob 0.90"),
            "{}",
            dropped[0].reason
        );
    }

    #[test]
    fn compression_ratio_and_loops_are_dropped() {
        let cfg = GuardConfig::default();
        let mut squeezed = seg("our platform our platform", 0.0, 2.0);
        squeezed.compression_ratio = Some(3.1);
        let looping = seg("thank you thank you thank you thank you", 2.0, 4.0);
        let speech = seg("no no no we never charge twice", 4.0, 6.0);
        let (kept, dropped) = apply(vec![squeezed, looping, speech], 10.0, &cfg, &loud());
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].text, "no no no we never charge twice");
        assert!(dropped[0].reason.contains("compression_ratio 3.10"));
        assert_eq!(dropped[1].reason, "repetition loop: \"thank you\" x4");
    }

    #[test]
    fn text_over_digital_silence_is_dropped() {
        let mut samples = vec![0.0f32; 16_000 * 4];
        samples[..16_000]
            .iter_mut()
            .enumerate()
            .for_each(|(i, s)| *s = (i as f32 * 0.3).sin() * 0.4);
        let energy = SpeechEnergy::new(&samples);
        let segs = vec![seg("real pitch", 0.0, 1.0), seg("you", 2.0, 4.0)];
        let (kept, dropped) = apply(segs, 4.0, &GuardConfig::default(), &energy);
        assert_eq!(kept.len(), 1);
        assert_eq!(dropped[0].text, "you");
        assert_eq!(dropped[0].reason, "no sound in the audio under this text");
    }

    #[test]
    fn sound_captions_are_not_speech() {
        let segs = vec![
            seg("[BLANK_AUDIO]", 0.0, 1.0),
            seg("(upbeat music)", 1.0, 2.0),
            seg("♪ ♪", 2.0, 3.0),
            seg("(Yes) we can", 3.0, 4.0),
        ];
        let (kept, dropped) = apply(segs, 10.0, &GuardConfig::default(), &loud());
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].text, "(Yes) we can");
        assert!(dropped.iter().all(|d| d.reason == "non-speech annotation"));
    }

    #[test]
    fn repeated_identical_segments_keep_only_two() {
        let segs = (0..5)
            .map(|i| seg("Thank you.", i as f64, i as f64 + 1.0))
            .collect();
        let (kept, dropped) = apply(segs, 10.0, &GuardConfig::default(), &loud());
        assert_eq!(kept.len(), 2);
        assert_eq!(dropped.len(), 3);
    }

    #[test]
    fn words_past_the_audio_are_dropped_and_times_clamped() {
        let mut s = seg("real words here", 8.0, 11.0); // words at 8-9, 9-10, 10-11
        s.words[2].start = 10.5;
        let late = seg("invented tail", 12.0, 13.0);
        let (kept, dropped) = apply(vec![s, late], 10.0, &GuardConfig::default(), &loud());
        assert_eq!(kept.len(), 1);
        let kept_words: Vec<_> = kept[0].words.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(kept_words, ["real", "words"]);
        assert_eq!(kept[0].words[1].end, 10.0);
        assert_eq!(kept[0].end, 10.0);
        let texts: Vec<_> = dropped.iter().map(|d| d.text.as_str()).collect();
        assert_eq!(texts, ["here", "invented tail"]);
    }

    #[test]
    fn nan_times_never_reach_the_transcript() {
        let mut s = seg("one two", 0.0, 1.0);
        s.words[0].start = f64::NAN;
        let (kept, dropped) = apply(vec![s], 5.0, &GuardConfig::default(), &loud());
        assert_eq!(kept[0].words.len(), 1);
        assert_eq!(dropped[0].reason, "word time is not a number");
    }

    #[test]
    fn loop_detector_prefers_the_longest_run() {
        assert_eq!(
            repetition_loop(&strings("a a a a a a a a"), 8),
            Some(("a".into(), 8))
        );
        assert_eq!(repetition_loop(&strings("a a a a a a a"), 8), None);
        assert_eq!(
            repetition_loop(&strings("so the deal so the deal so the deal ok"), 8),
            Some(("so the deal".into(), 3))
        );
        assert_eq!(repetition_loop(&strings("short"), 8), None);
        assert_eq!(repetition_loop(&[], 8), None);
    }
}
