//! The `pitchgrade` command line: subcommands only, no logic.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pitchgrade::commands;

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
    /// Write, check and test rubric files.
    Rubric {
        #[command(subcommand)]
        command: RubricCommand,
    },
    /// Grade a pitch against a rubric.
    Grade {
        /// A typed pitch (plain text) or a transcript JSON; audio-only criteria are unscored.
        #[arg(long)]
        transcript: PathBuf,
        #[arg(long)]
        rubric: PathBuf,
        #[arg(long, default_value = "offline")]
        judge: String,
        /// The offline judge's sentence-embedding model (all-MiniLM-L6-v2).
        #[arg(
            long,
            env = "PITCHGRADE_JUDGE_MODEL",
            default_value = "models/all-MiniLM-L6-v2"
        )]
        judge_model_dir: PathBuf,
        /// Print the grade as JSON (docs/grade-json.md).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum RubricCommand {
    /// Report every problem in rubric files with file:line:column.
    Lint {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the JSON Schema of the rubric format.
    Schema,
    /// Grade a folder of labelled pitches (NAME.txt + NAME.expect.toml) and compare.
    Test {
        dir: PathBuf,
        #[arg(long)]
        rubric: PathBuf,
        #[arg(long, default_value = "offline")]
        judge: String,
        #[arg(
            long,
            env = "PITCHGRADE_JUDGE_MODEL",
            default_value = "models/all-MiniLM-L6-v2"
        )]
        judge_model_dir: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    Ok(match cli.command {
        Command::Rubric { command } => match command {
            RubricCommand::Lint { files } => commands::rubric_lint(&files),
            RubricCommand::Schema => commands::rubric_schema(),
            RubricCommand::Test {
                dir,
                rubric,
                judge,
                judge_model_dir,
            } => commands::rubric_test(&dir, &rubric, &judge, &judge_model_dir).await?,
        },
        Command::Grade {
            transcript,
            rubric,
            judge,
            judge_model_dir,
            json,
        } => {
            commands::grade_transcript(&transcript, &rubric, &judge, &judge_model_dir, json).await?
        }
    })
}
