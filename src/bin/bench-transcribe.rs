//! Benchmark of the local backend: real-time factor and word error rate per
//! recording, one JSON line each, for `scripts/bench-transcribe.sh` to tabulate
//! next to faster-whisper. Not a test: timings depend on the machine.
//!
//! Inputs are `AUDIO=REFERENCE` pairs: 16 kHz mono s16le raw audio and the
//! script that was spoken.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Parser;
use pitchgrade::ingest::Pcm;
use pitchgrade::transcribe::{build_transcriber, wer, TranscribeOptions, TranscriberConfig};

#[derive(Parser)]
struct Args {
    /// ggml Whisper model file.
    #[arg(long, required_unless_present = "score")]
    model: Option<PathBuf>,
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Most pieces a long recording is decoded in, side by side (1 = one decode
    /// with every thread, as before pieces existed).
    #[arg(long)]
    parts: Option<usize>,
    /// 1 = greedy.
    #[arg(long, default_value_t = 1)]
    beam_size: u32,
    /// Instead of transcribing, read JSON lines with `text` and `ref` from stdin
    /// (another engine's output) and print them with `wer` added.
    #[arg(long)]
    score: bool,
    /// `audio.raw=reference.txt` pairs.
    items: Vec<String>,
}

/// One WER implementation for every engine, so the comparison is fair.
fn score_stdin() -> anyhow::Result<()> {
    for line in std::io::stdin().lines() {
        let mut row: serde_json::Value = serde_json::from_str(&line?)?;
        let text = row["text"].as_str().unwrap_or_default().to_string();
        let reference = row["ref"].as_str().unwrap_or_default().to_string();
        row["wer"] = wer::word_error_rate(&reference, &text).into();
        row["ref_words"] = wer::normalize_words(&reference).len().into();
        if let Some(obj) = row.as_object_mut() {
            obj.remove("ref");
            obj.remove("text");
        }
        println!("{row}");
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.score {
        return score_stdin();
    }
    let cfg = TranscriberConfig {
        model_path: args.model.clone(),
        threads: Some(args.threads),
        parts: args.parts,
        beam_size: args.beam_size,
        ..Default::default()
    };
    let started = Instant::now();
    let transcriber = build_transcriber(&cfg)?;
    let load_s = started.elapsed().as_secs_f64();
    for item in &args.items {
        let Some((audio_path, ref_path)) = item.split_once('=') else {
            bail!("expected AUDIO=REFERENCE, got {item:?}");
        };
        let bytes = std::fs::read(audio_path).with_context(|| format!("reading {audio_path}"))?;
        let samples = bytes
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0)
            .collect();
        let audio = Pcm { samples };
        let reference =
            std::fs::read_to_string(ref_path).with_context(|| format!("reading {ref_path}"))?;
        let started = Instant::now();
        let transcript = transcriber
            .transcribe(&audio, &TranscribeOptions::default())
            .await?;
        let wall_s = started.elapsed().as_secs_f64();
        let audio_s = audio.duration_seconds();
        println!(
            "{}",
            serde_json::json!({
                "engine": match args.parts {
                    Some(1) => "pitchgrade local (whisper-rs), one decode".to_string(),
                    _ => format!("pitchgrade local (whisper-rs), up to {} pieces", args.parts.unwrap_or(args.threads)),
                },
                "file": audio_path,
                "audio_s": audio_s,
                "wall_s": wall_s,
                "rtf": wall_s / audio_s,
                "wer": wer::word_error_rate(&reference, &transcript.text),
                "ref_words": wer::normalize_words(&reference).len(),
                "load_s": load_s,
                "words": transcript.words.len(),
                "dropped": transcript.dropped.len(),
            })
        );
    }
    Ok(())
}
