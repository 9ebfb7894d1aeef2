//! `pitchgrade transcribe FILE --json` through the real binary, local Whisper:
//! the contract later stages and users read (text, timed words, backend, model).

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{run, Workdir};

fn model(name: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let local = root.join("models").join(name);
    if local.exists() {
        local
    } else {
        root.join("../shared/models").join(name)
    }
}

#[test]
fn transcribe_json_gives_timed_words_from_an_mp3() {
    let work = Workdir::new();
    let wav = work.path("clip.wav");
    run(
        "espeak-ng",
        &[
            "-v",
            "en-us",
            "-w",
            wav.to_str().unwrap(),
            "Please schedule the quarterly budget review meeting for next Tuesday.",
        ],
    );
    let mp3 = work.ffmpeg(&wav, &["-c:a", "libmp3lame", "-b:a", "64k"], "clip.mp3");
    let out = Command::new(env!("CARGO_BIN_EXE_pitchgrade"))
        .args(["transcribe", "--json", "--backend", "local"])
        .arg(&mp3)
        .env("PITCHGRADE_WHISPER_MODEL", model("ggml-tiny.en.bin"))
        .output()
        .expect("runs");
    assert!(out.status.success(), "{out:?}");
    let t: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(t["backend"], "local");
    assert!(t["model"].as_str().unwrap_or("").contains("tiny.en"), "{t}");
    let text = t["text"].as_str().unwrap_or("").to_lowercase();
    assert!(
        text.contains("budget") && text.contains("tuesday"),
        "{text}"
    );
    let words = t["words"].as_array().expect("words");
    assert!(words.len() >= 8, "{words:?}");
    let mut last = 0.0;
    for w in words {
        let (start, end) = (w["start"].as_f64().unwrap(), w["end"].as_f64().unwrap());
        assert!(
            start >= last - 1e-6 && end >= start,
            "times increase: {words:?}"
        );
        last = start;
    }
}

#[test]
fn transcribe_refuses_a_file_with_no_audio_with_exit_2() {
    let work = Workdir::new();
    let png = work.write("clip.m4a", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR not audio");
    let out = Command::new(env!("CARGO_BIN_EXE_pitchgrade"))
        .args(["transcribe"])
        .arg(&png)
        .env("PITCHGRADE_WHISPER_MODEL", model("ggml-tiny.en.bin"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr)
        .to_lowercase()
        .contains("png"));
}
