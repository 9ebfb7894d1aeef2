//! Fuzzes the decode entry point (`ingest::analyze_file`, which intake's quick
//! check and every worker call on what a rep uploads) with mutated
//! recordings, for as long as asked, and prints a table.
//!
//! `fuzz-ingest [--minutes N] [--seed S] [--crashes DIR] [SEED_FILE…]`
//!
//! Seeds: every file named, plus short recordings made with ffmpeg at start
//! (WAV, AIFF, FLAC, MP3, AAC in M4A and ADTS, Vorbis and Opus in Ogg, Opus in
//! WebM). A crash is a panic that escapes `analyze_file`, or an input it
//! takes longer than 30 s on (a hang); each is saved to the crashes folder
//! with its seed and round, so `--seed` reproduces it. Refusals (`Err`) are
//! the expected answer to garbage and are counted by kind; an input refused
//! as `Internal` (retried as transient, where garbage should be permanent)
//! is saved beside the crashes as `internal-*.bin`.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use pitchgrade::ingest::mutate::{mutate, Rng};
use pitchgrade::ingest::{analyze_file, IngestError, Limits};

const HANG: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    let mut minutes = 1.0f64;
    let mut seed = 0x5EED_u64;
    let mut crashes = PathBuf::from("fuzz-crashes");
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--minutes" => minutes = args.next().and_then(|v| v.parse().ok()).unwrap_or(minutes),
            "--seed" => seed = args.next().and_then(|v| v.parse().ok()).unwrap_or(seed),
            "--crashes" => crashes = args.next().map(PathBuf::from).unwrap_or(crashes),
            _ => files.push(PathBuf::from(a)),
        }
    }
    let scratch = tempfile::tempdir().expect("a scratch folder");
    let mut seeds: Vec<(String, Vec<u8>)> = files
        .iter()
        .filter_map(|f| std::fs::read(f).ok().map(|b| (f.display().to_string(), b)))
        .collect();
    seeds.extend(generated(scratch.path()));
    if seeds.is_empty() {
        eprintln!("no seeds: name files, or install ffmpeg (scripts/setup.sh)");
        return ExitCode::FAILURE;
    }
    eprintln!(
        "fuzz-ingest: {} seeds, {minutes} min, seed {seed}",
        seeds.len()
    );

    let limits = Limits::default();
    let input = scratch.path().join("input");
    let mut rng = Rng::new(seed);
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(minutes * 60.0);
    let (mut execs, mut ok, mut found) = (0u64, 0u64, 0u64);
    let mut refused: BTreeMap<String, u64> = BTreeMap::new();
    let mut slowest = Duration::ZERO;
    while Instant::now() < deadline {
        let (name, bytes) = &seeds[rng.below(seeds.len())];
        let other = &seeds[rng.below(seeds.len())].1;
        let data = mutate(bytes, other, &mut rng);
        if std::fs::write(&input, &data).is_err() {
            eprintln!("cannot write the scratch input");
            return ExitCode::FAILURE;
        }
        let t = Instant::now();
        let outcome = run_one(&input, &limits);
        slowest = slowest.max(t.elapsed());
        execs += 1;
        match outcome {
            Classification::Ok => ok += 1,
            Classification::Refused(kind) => {
                // `Internal` is "our fault, try again": a worker retries it as
                // transient, so garbage that lands there costs a rep retries
                // instead of a clear refusal. Kept, to turn into tests.
                if kind == "Internal" {
                    let _ = std::fs::create_dir_all(&crashes);
                    let path = crashes.join(format!("internal-{seed}-{execs}.bin"));
                    let _ = std::fs::write(&path, &data);
                    eprintln!(
                        "INTERNAL from seed file {name}, round {execs}: {}",
                        path.display()
                    );
                }
                *refused.entry(kind).or_default() += 1
            }
            Classification::Crash(why) => {
                found += 1;
                let _ = std::fs::create_dir_all(&crashes);
                let path = crashes.join(format!("crash-{seed}-{execs}.bin"));
                let _ = std::fs::write(&path, &data);
                eprintln!(
                    "CRASH ({why}) from seed file {name}, round {execs}: {}",
                    path.display()
                );
                if why == "hang" {
                    // The stuck thread cannot be stopped; report and leave.
                    break;
                }
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!("| measure | value |");
    println!("|---|---|");
    println!("| seeds | {} |", seeds.len());
    println!("| wall time | {:.1} min |", secs / 60.0);
    println!("| executions | {execs} |");
    println!(
        "| executions per second | {:.1} |",
        execs as f64 / secs.max(1e-9)
    );
    println!("| decoded to the end (Ok) | {ok} |");
    for (kind, n) in &refused {
        println!("| refused: {kind} | {n} |");
    }
    println!("| slowest input | {:.2} s |", slowest.as_secs_f64());
    println!(
        "| crashes (escaped panic or hang > {} s) | {found} |",
        HANG.as_secs()
    );
    if found == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

enum Classification {
    Ok,
    Refused(String),
    Crash(&'static str),
}

/// One input on its own thread, so a panic is seen as one and a hang is
/// bounded by [`HANG`].
fn run_one(input: &Path, limits: &Limits) -> Classification {
    let (tx, rx) = mpsc::channel();
    let (input, limits) = (input.to_path_buf(), limits.clone());
    let handle = std::thread::spawn(move || {
        let r = analyze_file(&input, &limits, false);
        let _ = tx.send(r.map(|_| ()).map_err(|e| kind(&e)));
    });
    match rx.recv_timeout(HANG) {
        Ok(Ok(())) => {
            let _ = handle.join();
            Classification::Ok
        }
        Ok(Err(kind)) => {
            let _ = handle.join();
            Classification::Refused(kind)
        }
        Err(mpsc::RecvTimeoutError::Timeout) => Classification::Crash("hang"),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let _ = handle.join();
            Classification::Crash("panic")
        }
    }
}

/// The variant's name: `Truncated`, `Corrupt`, …
fn kind(e: &IngestError) -> String {
    let debug = format!("{e:?}");
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("Unknown")
        .to_string()
}

/// Short recordings of every container and codec the service takes.
fn generated(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let formats: [(&str, &[&str]); 9] = [
        ("wav", &["-c:a", "pcm_s16le"]),
        ("aiff", &["-c:a", "pcm_s16be"]),
        ("flac", &["-c:a", "flac"]),
        ("mp3", &["-c:a", "libmp3lame", "-b:a", "64k"]),
        ("m4a", &["-c:a", "aac", "-b:a", "64k"]),
        ("aac", &["-c:a", "aac", "-b:a", "64k", "-f", "adts"]),
        ("ogg", &["-c:a", "libvorbis"]),
        ("opus", &["-c:a", "libopus", "-f", "ogg"]),
        ("webm", &["-c:a", "libopus"]),
    ];
    let mut out = Vec::new();
    for (ext, codec) in formats {
        let path = dir.join(format!("seed.{ext}"));
        let made = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"])
            .args(["-i", "sine=frequency=220:duration=1.5,volume=0.5"])
            .args(["-ac", "1", "-ar", "16000"])
            .args(codec)
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        if let (true, Ok(bytes)) = (made, std::fs::read(&path)) {
            out.push((format!("generated .{ext}"), bytes));
        }
    }
    out
}
