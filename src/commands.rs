//! What the CLI subcommands do, so `main.rs` holds no logic. Each function
//! prints its output and returns the process exit code.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::rubric::{self, RubricError};
use crate::score::judge::offline::OfflineJudge;
use crate::score::judge::{Judge, JudgeError};
use crate::score::rubric_test::{run_cases, CaseError};
use crate::score::transcript_input::{load_transcript, TranscriptInputError};
use crate::score::{grade, report};

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Rubric(#[from] RubricError),
    #[error(transparent)]
    Cases(#[from] CaseError),
    #[error(transparent)]
    Transcript(#[from] TranscriptInputError),
    #[error("cannot start the judge: {0}")]
    Judge(#[from] JudgeError),
    #[error("unknown judge {0:?}; this command supports: offline")]
    UnknownJudge(String),
}

/// `pitchgrade rubric lint FILE…`: prints every problem; exit 1 when there are any.
pub fn rubric_lint(files: &[PathBuf]) -> ExitCode {
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

/// `pitchgrade rubric schema`.
pub fn rubric_schema() -> ExitCode {
    println!("{}", rubric::schema::rubric_schema_json());
    ExitCode::SUCCESS
}

/// The judge to grade with. Only the offline judge is wired here; the LLM
/// judges need keys and endpoints the service configuration provides.
pub fn make_judge(name: &str, model_dir: &Path) -> Result<Box<dyn Judge>, CommandError> {
    match name {
        "offline" => Ok(Box::new(OfflineJudge::load(model_dir)?)),
        other => Err(CommandError::UnknownJudge(other.to_string())),
    }
}

/// `pitchgrade rubric test DIR --rubric R`: table of cases; exit 1 on any mismatch.
pub async fn rubric_test(
    dir: &Path,
    rubric_path: &Path,
    judge: &str,
    model_dir: &Path,
) -> Result<ExitCode, CommandError> {
    let rubric = rubric::load(rubric_path)?;
    let judge = make_judge(judge, model_dir)?;
    let report = run_cases(dir, &rubric, judge.as_ref()).await?;
    print!("{}", report.table());
    Ok(if report.all_passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `pitchgrade grade --transcript FILE --rubric R [--json]`.
pub async fn grade_transcript(
    transcript: &Path,
    rubric_path: &Path,
    judge: &str,
    model_dir: &Path,
    json: bool,
) -> Result<ExitCode, CommandError> {
    let rubric = rubric::load(rubric_path)?;
    let transcript = load_transcript(transcript)?;
    let judge = make_judge(judge, model_dir)?;
    let g = grade(&rubric, &transcript, None, judge.as_ref()).await;
    if json {
        println!("{}", g.to_json());
    } else {
        print!("{}", report::render(&g));
    }
    Ok(ExitCode::SUCCESS)
}
