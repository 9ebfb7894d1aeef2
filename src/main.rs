//! The `pitchgrade` command line: subcommands only, no logic.

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
enum Command {}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {}
}
