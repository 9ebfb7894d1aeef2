//! The `pitchgrade` command line: subcommands only, no logic.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pitchgrade::commands::{
    analyze, grade, migrate, rep, report, rubric, serve, submit, sweep, token, transcribe, worker,
};

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
    /// Grade a recording (or a typed transcript) against a rubric.
    Grade(grade::GradeArgs),
    /// Decode a recording and print its delivery features (duration, speech, pauses, loudness, pitch).
    Analyze(analyze::AnalyzeArgs),
    /// Decode and transcribe a recording (words with times).
    Transcribe(transcribe::TranscribeArgs),
    /// Write, check and test rubric files.
    Rubric {
        #[command(subcommand)]
        command: rubric::RubricCommand,
    },
    /// Run grading workers only (scale out over PostgreSQL + S3).
    Worker(worker::WorkerCommandArgs),
    /// Bring the database schema up to date.
    Migrate(migrate::MigrateArgs),
    /// Certification program report: pass rates, coverage, reviewer agreement, tier forecast.
    Report(report::ReportArgs),
    /// What the certification sweep would fire at an instant (dry run), or one real pass.
    Sweep(sweep::SweepArgs),
    /// Run the HTTP API with an in-process pool of grading workers.
    Serve(serve::ServeArgs),
    /// Upload a recording to a pitchgrade server and wait for its grade.
    Submit(submit::SubmitArgs),
    /// Print a submission's status and grade (after `submit --no-wait`, or
    /// when its wait ran out).
    Result(submit::ResultArgs),
    /// Reps and their data: `rep erase REP` (the right to be forgotten).
    Rep {
        #[command(subcommand)]
        command: rep::RepCommand,
    },
    /// Create or revoke API tokens.
    Token {
        #[command(subcommand)]
        command: token::TokenCommand,
    },
}

/// `pitchgrade result ID | head` closes our stdout early. Rust ignores
/// SIGPIPE, so the next `println!` panics with "failed printing to stdout";
/// a command-line tool should stop quietly instead, as ripgrep does (exit 0:
/// the reader had what it wanted).
fn quiet_on_closed_stdout() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        report(info)
    }));
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    quiet_on_closed_stdout();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PITCHGRADE_LOG")
                // symphonia warns about recoverable junk it skips; a rep cannot act on that.
                .unwrap_or_else(|_| "warn,symphonia_core=error,symphonia=error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Grade(args) => grade::run(args).await,
        Command::Analyze(args) => analyze::run_analyze(args),
        Command::Transcribe(args) => transcribe::run(args).await,
        Command::Rubric { command } => rubric::run(command).await,
        Command::Worker(args) => worker::run(args).await,
        Command::Migrate(args) => migrate::run(args).await,
        Command::Report(args) => report::run(args).await,
        Command::Sweep(args) => sweep::run(args).await,
        Command::Serve(args) => serve::run(args).await,
        Command::Submit(args) => submit::run(args).await,
        Command::Result(args) => submit::run_result(args).await,
        Command::Rep { command } => rep::run(command).await,
        Command::Token { command } => token::run(command).await,
    }
}
