//! Real speech for tests: espeak-ng speaks, sox converts to 16 kHz mono
//! 16-bit (repeatably: the same samples every run) and trims the synthesiser's leading/trailing silence, hound reads it.
#![allow(dead_code)] // each test binary uses a different part

use std::path::Path;
use std::process::Command;

use pitchgrade::ingest::{Pcm, SAMPLE_RATE};

/// `text` spoken by espeak-ng, trimmed to the speech itself.
pub fn speech(dir: &Path, name: &str, text: &str) -> Pcm {
    let raw = dir.join(format!("{name}-raw.wav"));
    let wav = dir.join(format!("{name}.wav"));
    let status = Command::new("espeak-ng")
        .arg("-w")
        .arg(&raw)
        .arg(text)
        .status()
        .expect("espeak-ng runs");
    assert!(status.success(), "espeak-ng failed");
    // `-R`: sox dithers when it resamples, with a new random seed each run
    // unless told to repeat; test audio must be the same every run.
    let status = Command::new("sox")
        .arg("-R")
        .arg(&raw)
        .args(["-r", "16000", "-c", "1", "-b", "16"])
        .arg(&wav)
        .args([
            "silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%", "reverse",
        ])
        .status()
        .expect("sox runs");
    assert!(status.success(), "sox failed");
    read_wav(&wav)
}

pub fn read_wav(path: &Path) -> Pcm {
    let mut reader = hound::WavReader::open(path).expect("readable wav");
    let spec = reader.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (SAMPLE_RATE, 1, 16)
    );
    let samples = reader
        .samples::<i16>()
        .map(|s| s.expect("sample") as f32 / 32768.0)
        .collect();
    Pcm { samples }
}

pub fn silence(seconds: f64) -> Pcm {
    Pcm {
        samples: vec![0.0; (seconds * SAMPLE_RATE as f64) as usize],
    }
}

pub fn concat(parts: &[&Pcm]) -> Pcm {
    Pcm {
        samples: parts
            .iter()
            .flat_map(|p| p.samples.iter().copied())
            .collect(),
    }
}
