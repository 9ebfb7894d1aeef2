//! Delivery features against signals whose answer is known by construction.

mod common;

use common::{analyze, sox, Workdir};
use pitchgrade::ingest::{analyze_file, Limits, SAMPLE_RATE};

#[test]
fn sine_of_known_pitch() {
    let w = Workdir::new();
    let tone = w.lavfi(
        "sine=frequency=150:sample_rate=44100:duration=5",
        &["-c:a", "flac"],
        "150hz.flac",
    );
    let r = analyze(&tone).unwrap().report;
    let hz = r.pitch_median_hz.expect("a pitch");
    assert!((hz - 150.0).abs() < 2.0, "median {hz} Hz");
    assert!(r.pitch_variation_semitones.unwrap() < 0.3, "{r:?}");
}

#[test]
fn a_voice_that_moves_an_octave_varies_by_six_semitones() {
    let w = Workdir::new();
    let out = w.path("octave.wav");
    sox(&[
        "-n",
        "-r",
        "16000",
        "-b",
        "16",
        out.to_str().unwrap(),
        "synth",
        "3",
        "sine",
        "110",
        ":",
        "synth",
        "3",
        "sine",
        "220",
    ]);
    let r = analyze(&out).unwrap().report;
    let v = r.pitch_variation_semitones.unwrap();
    assert!((v - 6.0).abs() < 0.5, "variation {v}");
}

#[test]
fn gap_of_known_length_is_one_pause_with_its_times() {
    let w = Workdir::new();
    // Two sentences with their own leading/trailing silence trimmed, 3.0 s apart.
    let mut parts = Vec::new();
    for (i, text) in [
        "Our platform closes the books three times faster.",
        "Shall we book a pilot next week?",
    ]
    .iter()
    .enumerate()
    {
        let raw = w.path(&format!("raw{i}.wav"));
        common::run("espeak-ng", &["-w", raw.to_str().unwrap(), text]);
        let trimmed = w.path(&format!("trim{i}.wav"));
        sox(&[
            raw.to_str().unwrap(),
            trimmed.to_str().unwrap(),
            "silence",
            "1",
            "0.02",
            "0.5%",
            "reverse",
            "silence",
            "1",
            "0.02",
            "0.5%",
            "reverse",
        ]);
        parts.push(trimmed);
    }
    let first_len = duration_of(&parts[0]);
    let gap = w.path("gap.wav");
    sox(&[
        "-n",
        "-r",
        "22050",
        "-c",
        "1",
        "-b",
        "16",
        gap.to_str().unwrap(),
        "trim",
        "0",
        "3.0",
    ]);
    let out = w.path("gap-3s.wav");
    sox(&[
        parts[0].to_str().unwrap(),
        gap.to_str().unwrap(),
        parts[1].to_str().unwrap(),
        out.to_str().unwrap(),
    ]);

    let r = analyze(&out).unwrap().report;
    assert_eq!(r.pauses.len(), 1, "{:?}", r.pauses);
    let p = r.pauses[0];
    assert!((p.seconds() - 3.0).abs() < 0.25, "{p:?}");
    assert!(
        (p.start - first_len).abs() < 0.25,
        "{p:?} after {first_len} s of speech"
    );
    assert!((r.longest_pause_seconds - p.seconds()).abs() < 1e-9);
}

#[test]
fn tone_of_known_loudness() {
    let w = Workdir::new();
    // BS.1770: a full-scale 997 Hz sine in one channel reads -3.01 LUFS, so
    // the same tone at -20 dBFS peak reads -23.0 LUFS.
    let mono = w.lavfi(
        "sine=frequency=997:sample_rate=48000:duration=6",
        &["-af", "volume=0.8", "-c:a", "pcm_s16le"],
        "tone.wav",
    );
    let r = analyze(&mono).unwrap().report;
    let lufs = r.loudness_lufs.expect("loudness");
    assert!((lufs - (-23.0)).abs() < 0.5, "{lufs} LUFS");
    // 6 dB quieter reads 6 LU lower.
    let quiet = w.lavfi(
        "sine=frequency=997:sample_rate=48000:duration=6",
        &["-af", "volume=0.4", "-c:a", "pcm_s16le"],
        "quiet.wav",
    );
    let q = analyze(&quiet).unwrap().report.loudness_lufs.unwrap();
    assert!((lufs - q - 6.02).abs() < 0.2, "{lufs} vs {q}");
}

#[test]
fn clipping_ratio_of_an_overdriven_tone() {
    let w = Workdir::new();
    // ffmpeg's sine is at 1/8 full scale; x16 gives amplitude 2, clipped on
    // the two thirds of each period where |sin| >= 0.5.
    let hot = w.lavfi(
        "sine=frequency=200:sample_rate=16000:duration=4",
        &["-af", "volume=16", "-c:a", "pcm_s16le"],
        "hot.wav",
    );
    let r = analyze(&hot).unwrap().report;
    assert!(
        (r.clipping_ratio - 2.0 / 3.0).abs() < 0.02,
        "{}",
        r.clipping_ratio
    );
    let clean = w.lavfi(
        "sine=frequency=200:sample_rate=16000:duration=4",
        &["-c:a", "pcm_s16le"],
        "clean.wav",
    );
    assert_eq!(analyze(&clean).unwrap().report.clipping_ratio, 0.0);
}

#[test]
fn pcm_is_16_khz_mono_of_the_full_duration() {
    let w = Workdir::new();
    let wav = w.speech_wav();
    let a = analyze_file(&wav, &Limits::default(), true).unwrap();
    let pcm = a.pcm.expect("pcm kept");
    let expected = a.report.duration_seconds * SAMPLE_RATE as f64;
    assert!(
        (pcm.samples.len() as f64 - expected).abs() <= 2.0,
        "{} vs {expected}",
        pcm.samples.len()
    );
    assert!(pcm.samples.iter().all(|s| s.is_finite() && s.abs() <= 1.5));
    assert!(analyze_file(&wav, &Limits::default(), false)
        .unwrap()
        .pcm
        .is_none());
}

#[test]
fn json_report_has_the_documented_fields_and_no_nan() {
    let w = Workdir::new();
    let out = assert_cmd::Command::cargo_bin("pitchgrade")
        .unwrap()
        .args(["analyze", "--json"])
        .arg(w.speech_wav())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for field in [
        "format",
        "codec",
        "sample_rate",
        "channels",
        "duration_seconds",
        "speech_seconds",
        "pauses",
        "longest_pause_seconds",
        "loudness_lufs",
        "pitch_median_hz",
        "pitch_variation_semitones",
        "clipping_ratio",
    ] {
        assert!(v.get(field).is_some(), "missing {field} in {v}");
    }
    assert_eq!(v["pauses"].as_array().unwrap().len(), 2);
    assert!(v["pauses"][0]["start"].as_f64().unwrap() < v["pauses"][0]["end"].as_f64().unwrap());
}

fn duration_of(path: &std::path::Path) -> f64 {
    let out = std::process::Command::new("soxi")
        .arg("-D")
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}
