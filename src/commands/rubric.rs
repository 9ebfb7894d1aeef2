//! `pitchgrade rubric lint|schema|test`: tools for the enablement team.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::pipeline::backends::JudgeArgs;
use crate::rubric;
use crate::score::rubric_test::run_cases;

#[derive(Debug, Subcommand)]
pub enum RubricCommand {
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
        #[command(flatten)]
        judge: JudgeArgs,
    },
}

pub async fn run(command: RubricCommand) -> anyhow::Result<ExitCode> {
    Ok(match command {
        RubricCommand::Lint { files } => lint(&files),
        RubricCommand::Schema => {
            println!("{}", rubric::schema::rubric_schema_json());
            ExitCode::SUCCESS
        }
        RubricCommand::Test { dir, rubric, judge } => {
            let rubric = rubric::load(&rubric)?;
            let judge = judge.build()?;
            let report = run_cases(&dir, &rubric, judge.as_ref()).await?;
            print!("{}", report.table());
            if report.all_passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    })
}

/// Prints every problem; exit 1 when there are any.
fn lint(files: &[PathBuf]) -> ExitCode {
    let problems = rubric::lint_files(files);
    for p in &problems {
        println!("{p}");
    }
    if problems.is_empty() {
        println!("{} rubric file(s) ok", files.len());
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
