//! `pitchgrade analyze FILE`: the ingest stage on its own, for reps and support.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::BAD_FILE;
use crate::ingest::{analyze_file, Limits};

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// The recording (any supported container; detected from its bytes).
    pub file: PathBuf,
    /// Print the report as one JSON object (fields: docs/audio-report.md).
    #[arg(long)]
    pub json: bool,
    /// Largest file accepted, in megabytes.
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub max_mb: u64,
    /// Longest recording accepted, in minutes.
    #[arg(long, value_name = "N", default_value_t = 20.0)]
    pub max_minutes: f64,
}

/// Runs the analysis. A bad file prints its one-line reason on stderr and
/// exits 2; a failure on our side is returned as an error (exit 1).
pub fn run_analyze(args: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    // A decoder panic on a hostile file is caught and reported as one line;
    // keep the default hook from printing a backtrace around that line.
    std::panic::set_hook(Box::new(|info| tracing::debug!("caught panic: {info}")));
    let limits = Limits {
        max_bytes: args.max_mb.saturating_mul(1024 * 1024),
        max_seconds: args.max_minutes * 60.0,
    };
    match analyze_file(&args.file, &limits, false) {
        Ok(analysis) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&analysis.report)?);
            } else {
                print!("{}", analysis.report.summary());
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) if e.is_permanent() => {
            eprintln!("{}: {e}", args.file.display());
            Ok(ExitCode::from(BAD_FILE))
        }
        Err(e) => Err(e.into()),
    }
}
