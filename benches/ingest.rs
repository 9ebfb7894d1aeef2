//! Ingest benchmark: decode + delivery features against `ffmpeg -f null`, and
//! peak memory of a 10- vs a 60-minute recording. Run with
//! `cargo bench --bench ingest`; results go in BENCHMARKS.md ("## Ingest").
//!
//! The product's bars (docs/architecture.md, BENCHMARKS.md): at most 1.5x
//! ffmpeg's decode time; the 60-minute file
//! needs no more than 2x the peak RSS of the 10-minute one.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pitchgrade::ingest::{analyze_file, Limits};

const RUNS: usize = 3;

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    eprintln!("generating test recordings in {} ...", dir.path().display());
    let speech = base_speech(dir.path());
    let m4a10 = encode(
        &speech,
        10,
        &["-c:a", "aac", "-b:a", "96k"],
        &dir.path().join("10min.m4a"),
    );
    let mp310 = encode(
        &speech,
        10,
        &["-c:a", "libmp3lame", "-b:a", "128k"],
        &dir.path().join("10min.mp3"),
    );
    let m4a60 = encode(
        &speech,
        60,
        &["-c:a", "aac", "-b:a", "96k"],
        &dir.path().join("60min.m4a"),
    );

    let limits = Limits {
        max_seconds: 2.0 * 3600.0,
        max_bytes: u64::MAX,
    };
    println!("| file | audio | pitchgrade decode+features | ffmpeg -f null | ratio (bar ≤ 1.5) | × real time |");
    println!("|---|---|---|---|---|---|");
    for (name, path) in [
        ("10-min M4A (AAC 96k, 44.1 kHz stereo)", &m4a10),
        ("10-min MP3 (128k, 44.1 kHz stereo)", &mp310),
    ] {
        let ours = best_of(|| {
            let a = analyze_file(path, &limits, false).expect("analysis");
            assert!(a.report.duration_seconds > 590.0);
        });
        let ffmpeg = best_of(|| {
            let st = Command::new("ffmpeg")
                .args(["-hide_banner", "-loglevel", "error", "-i"])
                .arg(path)
                .args(["-f", "null", "-"])
                .status()
                .unwrap();
            assert!(st.success());
        });
        println!(
            "| {name} | 600 s | {:.3} s | {:.3} s | {:.2}× | {:.0}× |",
            ours.as_secs_f64(),
            ffmpeg.as_secs_f64(),
            ours.as_secs_f64() / ffmpeg.as_secs_f64(),
            600.0 / ours.as_secs_f64()
        );
    }

    println!();
    println!("| file | peak RSS of `pitchgrade analyze --json` |");
    println!("|---|---|");
    let rss10 = peak_rss_kib(&m4a10);
    let rss60 = peak_rss_kib(&m4a60);
    println!("| 10-min M4A | {:.1} MiB |", rss10 as f64 / 1024.0);
    println!("| 60-min M4A | {:.1} MiB |", rss60 as f64 / 1024.0);
    println!(
        "| ratio 60/10 (bar ≤ 2) | {:.2}× |",
        rss60 as f64 / rss10 as f64
    );
}

/// The espeak-ng pitch used by the tests, at a typical upload's 44.1 kHz stereo.
fn base_speech(dir: &Path) -> PathBuf {
    let text = "Thanks for taking the time today. Our platform closes the books three times faster. \
                Finance teams like yours save two days every month. Shall we book a pilot next week?";
    let raw = dir.join("raw.wav");
    run(
        "espeak-ng",
        &["-v", "en-us", "-w", raw.to_str().unwrap(), text],
    );
    let out = dir.join("speech.wav");
    run(
        "sox",
        &[
            "-R",
            raw.to_str().unwrap(),
            "-r",
            "44100",
            "-c",
            "2",
            out.to_str().unwrap(),
            "pad",
            "0",
            "1.5",
        ],
    );
    out
}

/// Loops `speech` to `minutes` and encodes it.
fn encode(speech: &Path, minutes: u32, codec: &[&str], out: &Path) -> PathBuf {
    let mut args = vec![
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-stream_loop",
        "-1",
        "-i",
        speech.to_str().unwrap(),
    ];
    let t = (minutes * 60).to_string();
    args.extend_from_slice(&["-t", &t]);
    args.extend_from_slice(codec);
    args.push(out.to_str().unwrap());
    run("ffmpeg", &args);
    out.to_path_buf()
}

fn best_of(mut f: impl FnMut()) -> Duration {
    (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

/// Runs the release binary on `file` and reads its own peak RSS from `wait4`.
// The child is reaped by `wait4` below, which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn peak_rss_kib(file: &Path) -> i64 {
    let child = Command::new(env!("CARGO_BIN_EXE_pitchgrade"))
        .args(["analyze", "--json", "--max-minutes", "120"])
        .arg(file)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn pitchgrade");
    let mut status = 0;
    // SAFETY: wait4 on our own child's pid with valid out-pointers.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "pitchgrade analyze failed on {}",
        file.display()
    );
    usage.ru_maxrss
}

fn run(program: &str, args: &[&str]) {
    let st = Command::new(program)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(st.success(), "{program} {args:?}");
}
