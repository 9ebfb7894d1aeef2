//! Real audio for the ingest tests, generated at test time with espeak-ng,
//! sox and ffmpeg into a temporary directory (nothing binary is checked in).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use pitchgrade::ingest::{analyze_file, Analysis, IngestError, Limits};

/// The reference pitch: three spoken sentences separated by silences of
/// known length, so every encoding of it must show the same two pauses.
pub const SENTENCES: [&str; 3] = [
    "Thanks for taking the time today. Our platform closes the books three times faster.",
    "Finance teams like yours save two days every month, and the auditors love the trail.",
    "Shall we book a pilot with your controller next week?",
];
/// Silence inserted after sentence one and after sentence two.
pub const GAPS: [f64; 2] = [2.5, 1.5];

pub struct Workdir {
    pub dir: tempfile::TempDir,
}

impl Workdir {
    pub fn new() -> Self {
        Workdir {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The reference speech as 16-bit 22.05 kHz mono WAV (espeak-ng's own rate).
    pub fn speech_wav(&self) -> PathBuf {
        let out = self.path("speech.wav");
        if out.exists() {
            return out;
        }
        let mut parts = Vec::new();
        for (i, text) in SENTENCES.iter().enumerate() {
            let p = self.path(&format!("sentence{i}.wav"));
            run(
                "espeak-ng",
                &["-v", "en-us", "-s", "150", "-w", p.to_str().unwrap(), text],
            );
            parts.push(p);
            if let Some(gap) = GAPS.get(i) {
                let g = self.path(&format!("gap{i}.wav"));
                sox(&[
                    "-n",
                    "-r",
                    "22050",
                    "-c",
                    "1",
                    "-b",
                    "16",
                    g.to_str().unwrap(),
                    "trim",
                    "0",
                    &gap.to_string(),
                ]);
                parts.push(g);
            }
        }
        let mut args: Vec<&str> = parts.iter().map(|p| p.to_str().unwrap()).collect();
        args.push(out.to_str().unwrap());
        sox(&args);
        out
    }

    /// Runs ffmpeg with `args` between `-i input` and the output file.
    pub fn ffmpeg(&self, input: &Path, args: &[&str], out_name: &str) -> PathBuf {
        let out = self.path(out_name);
        let mut all = vec![
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-i",
            input.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        all.push(out.to_str().unwrap());
        run("ffmpeg", &all);
        out
    }

    /// ffmpeg from a lavfi source (`sine=...`, `anullsrc=...`).
    pub fn lavfi(&self, source: &str, args: &[&str], out_name: &str) -> PathBuf {
        let out = self.path(out_name);
        let mut all = vec![
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            source,
        ];
        all.extend_from_slice(args);
        all.push(out.to_str().unwrap());
        run("ffmpeg", &all);
        out
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).expect("write");
        p
    }
}

/// sox in repeatable mode (`-R`): its dither is seeded the same every run, so
/// a test that fails can be re-run on the very same samples.
pub fn sox(args: &[&str]) {
    let mut all = vec!["-R"];
    all.extend_from_slice(args);
    run("sox", &all);
}

pub fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn analyze(path: &Path) -> Result<Analysis, IngestError> {
    analyze_file(path, &Limits::default(), false)
}
