//! `pitchgrade transcribe FILE`: decode and transcribe, nothing else.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::BAD_FILE;
use crate::ingest::{analyze_file, Limits};
use crate::pipeline::backends::TranscriberArgs;
use crate::score::untrusted::mm_ss;
use crate::transcribe::TranscribeOptions;

#[derive(Debug, Args)]
pub struct TranscribeArgs {
    /// The recording (any supported container; detected from its bytes).
    pub file: PathBuf,
    #[command(flatten)]
    pub transcriber: TranscriberArgs,
    /// Product or competitor names to spell right (repeat or comma-separate).
    #[arg(long, value_delimiter = ',')]
    pub vocabulary: Vec<String>,
    /// Print the transcript object as JSON (text, words with start/end, backend, model).
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: TranscribeArgs) -> anyhow::Result<ExitCode> {
    let transcriber = args.transcriber.build()?;
    let file = args.file.clone();
    let analysis =
        tokio::task::spawn_blocking(move || analyze_file(&file, &Limits::default(), true)).await?;
    let analysis = match analysis {
        Ok(a) => a,
        Err(e) if e.is_permanent() => {
            eprintln!("{}: {e}", args.file.display());
            return Ok(ExitCode::from(BAD_FILE));
        }
        Err(e) => return Err(e.into()),
    };
    let pcm = analysis.pcm.unwrap_or_default();
    let options = TranscribeOptions {
        vocabulary: args.vocabulary,
    };
    let transcript = transcriber.transcribe(&pcm, &options).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&transcript)?);
    } else {
        for s in &transcript.segments {
            println!("[{}] {}", mm_ss(s.start), s.text.trim());
        }
        println!(
            "\n{} words · {} · {}",
            transcript.words.len(),
            transcript.backend,
            transcript.model
        );
    }
    Ok(ExitCode::SUCCESS)
}
