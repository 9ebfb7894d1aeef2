//! The local backend with the real tiny.en Whisper model on real (espeak-ng)
//! speech generated here: accuracy against the script, and word times.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use pitchgrade::transcribe::wer::{normalize_words, word_error_rate};
use pitchgrade::transcribe::{
    build_transcriber, TranscribeOptions, Transcriber, TranscriberConfig,
};

const SCRIPT: &[&str] = &[
    "Please schedule the quarterly budget review meeting for next Tuesday at three in the afternoon.",
    "Speech recognition converts spoken language into written text, and it works offline on this computer.",
    "We agreed to ship version two of the product in March, after the security audit is complete.",
    "Our customers reduced their onboarding time by half within the first month.",
    "The new dashboard shows every open deal and the next step for each account.",
];

fn shared_model() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/models/ggml-tiny.en.bin")
}

/// Loaded once: loading and hashing the model is the slow part.
fn local() -> &'static dyn Transcriber {
    static LOCAL: OnceLock<Box<dyn Transcriber>> = OnceLock::new();
    LOCAL
        .get_or_init(|| {
            let cfg = TranscriberConfig {
                model_path: Some(shared_model()),
                ..Default::default()
            };
            build_transcriber(&cfg).unwrap()
        })
        .as_ref()
}

#[tokio::test]
async fn word_error_rate_on_espeak_speech_is_within_the_bar() {
    let dir = tempfile::tempdir().unwrap();
    let (mut errors, mut words) = (0.0, 0usize);
    for (i, line) in SCRIPT.iter().enumerate() {
        let audio = common::speech(dir.path(), &format!("clip{i}"), line);
        let t = local()
            .transcribe(&audio, &TranscribeOptions::default())
            .await
            .unwrap();
        let wer = word_error_rate(line, &t.text);
        let n = normalize_words(line).len();
        println!("clip {i}: WER {wer:.2} | {}", t.text);
        errors += wer * n as f64;
        words += n;
        assert_eq!(t.backend, "local");
        // Pieces (one per thread by default) can change what a long recording
        // is heard as, so the model name says so.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let expected = match threads {
            1 => "ggml-tiny.en.bin, beam 5".to_string(),
            n => format!("ggml-tiny.en.bin, beam 5, in up to {} pieces", n.min(64)),
        };
        assert_eq!(t.model, expected);
        assert!(t.filler_count_is_lower_bound);
    }
    let total = errors / words as f64;
    println!("overall WER {total:.3} over {words} words");
    // faster-whisper with the same tiny.en weights gets ~15-17% on espeak voices.
    assert!(total <= 0.25, "WER {total:.3} above 25%");
}

#[tokio::test]
async fn word_times_increase_stay_inside_and_follow_a_pause() {
    let dir = tempfile::tempdir().unwrap();
    let first = common::speech(dir.path(), "first", SCRIPT[0]);
    let second = common::speech(dir.path(), "second", SCRIPT[3]);
    let gap_start = first.duration_seconds();
    let gap_end = gap_start + 2.0;
    let audio = common::concat(&[&first, &common::silence(2.0), &second]);
    let t = local()
        .transcribe(&audio, &TranscribeOptions::default())
        .await
        .unwrap();
    let duration = audio.duration_seconds();

    assert!(t.words.len() >= 20, "{}", t.text);
    for pair in t.words.windows(2) {
        assert!(
            pair[1].start > pair[0].start,
            "{:?} then {:?}",
            pair[0],
            pair[1]
        );
    }
    for w in &t.words {
        assert!(
            0.0 <= w.start && w.start < w.end && w.end <= duration,
            "{w:?} outside 0..{duration}"
        );
    }
    // Nothing starts in the silence, and speech after it starts after it.
    let after: Vec<_> = t.words.iter().filter(|w| w.end > gap_end).collect();
    let before: Vec<_> = t.words.iter().filter(|w| w.end <= gap_end).collect();
    assert!(!after.is_empty() && !before.is_empty());
    assert!(
        after[0].start >= gap_end - 0.15,
        "first word after the pause starts at {}",
        after[0].start
    );
    assert!(
        after[0].start <= gap_end + 0.6,
        "first word after the pause starts at {}",
        after[0].start
    );
    assert!(
        before.last().unwrap().start < gap_start,
        "last word before the pause {:?}",
        before.last()
    );
    // The first word of the recording starts near its beginning.
    assert!(t.words[0].start < 0.5, "{:?}", t.words[0]);
    assert!(normalize_words(
        &after
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    )
    .contains(&"month".to_string()));
}

#[tokio::test]
async fn silence_gives_no_words() {
    let audio = common::silence(8.0);
    let t = local()
        .transcribe(&audio, &TranscribeOptions::default())
        .await
        .unwrap();
    assert!(
        t.words.is_empty(),
        "invented words in silence: {:?} (dropped {:?})",
        t.text,
        t.dropped
    );
}

#[test]
fn missing_or_damaged_model_is_refused_with_instructions() {
    let dir = tempfile::tempdir().unwrap();
    let missing = TranscriberConfig {
        model_path: Some(dir.path().join("ggml-tiny.en.bin")),
        ..Default::default()
    };
    let err = build_transcriber(&missing).err().unwrap();
    assert!(!err.is_transient());
    assert!(
        err.to_string().contains("not found") && err.to_string().contains("fetch-models.sh"),
        "{err}"
    );

    let damaged = dir.path().join("ggml-tiny.en.bin");
    std::fs::write(&damaged, b"lmgg truncated").unwrap();
    let cfg = TranscriberConfig {
        model_path: Some(damaged),
        ..Default::default()
    };
    let err = build_transcriber(&cfg).err().unwrap();
    assert!(err.to_string().contains("expected ed0eed28"), "{err}");
}

/// A recording long enough to be decoded as two pieces side by side: the
/// pieces' words come back in order, at their true times in the whole
/// recording, and heard as well as in one decode.
#[tokio::test]
async fn a_long_recording_in_two_pieces_keeps_its_words_in_order_and_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let clips: Vec<_> = SCRIPT
        .iter()
        .enumerate()
        .map(|(i, line)| common::speech(dir.path(), &format!("clip{i}"), line))
        .collect();
    let pause = common::silence(1.0);
    let mut parts = Vec::new();
    let mut reference = Vec::new();
    for _ in 0..4 {
        for (clip, line) in clips.iter().zip(SCRIPT) {
            parts.push(clip);
            parts.push(&pause);
            reference.push(*line);
        }
    }
    let audio = common::concat(&parts);
    let duration = audio.duration_seconds();
    assert!(duration > 95.0, "two pieces need over 90 s, got {duration}");
    let cfg = TranscriberConfig {
        model_path: Some(shared_model()),
        threads: Some(2),
        parts: Some(2),
        ..Default::default()
    };
    let pieces = build_transcriber(&cfg).unwrap();
    let t = pieces
        .transcribe(&audio, &TranscribeOptions::default())
        .await
        .unwrap();
    let wer = word_error_rate(&reference.join(" "), &t.text);
    assert!(wer <= 0.2, "WER {wer:.3}: {}", t.text);
    for pair in t.words.windows(2) {
        assert!(
            pair[1].start >= pair[0].start,
            "{:?} then {:?}",
            pair[0],
            pair[1]
        );
    }
    assert!(t.words.iter().all(|w| 0.0 <= w.start && w.end <= duration));
    // The second piece's words sit in the second half, not back at zero.
    let late = t.words.iter().filter(|w| w.start > duration * 0.6).count();
    assert!(late >= 40, "{late} words in the last 40% of the recording");
    assert!(
        t.words.last().is_some_and(|w| w.end > duration - 8.0),
        "{:?}",
        t.words.last()
    );
}
