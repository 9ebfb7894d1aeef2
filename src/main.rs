//! The `pitchgrade` command line: subcommands only, no logic.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "pitchgrade",
    version,
    about = "Grade recorded sales pitches against enablement rubrics"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Decode a recording and print its delivery features (duration, speech, pauses, loudness, pitch).
    Analyze(pitchgrade::ingest::cli::AnalyzeArgs),
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Analyze(args) => pitchgrade::ingest::cli::run_analyze(args),
    }
}
