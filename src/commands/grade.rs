//! `pitchgrade grade FILE --rubric R`: the whole pipeline on one recording,
//! or on a typed transcript with `--transcript`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::BAD_FILE;
use crate::ingest::Limits;
use crate::pipeline::backends::{JudgeArgs, TranscriberArgs};
use crate::pipeline::{Pipeline, PipelineError};
use crate::rubric;
use crate::score::transcript_input::load_transcript;
use crate::score::{grade, report, Grade};

#[derive(Debug, Args)]
pub struct GradeArgs {
    /// The recording to grade (WAV, MP3, M4A/MP4, FLAC, OGG, WebM…).
    #[arg(required_unless_present = "transcript", conflicts_with = "transcript")]
    pub file: Option<PathBuf>,
    /// Grade a typed pitch (plain text) or a transcript JSON instead; audio-only criteria are unscored.
    #[arg(long)]
    pub transcript: Option<PathBuf>,
    /// The rubric: a TOML file, or an installed rubric's id
    /// (`ledgerly-sales-pitch`).
    #[arg(long)]
    pub rubric: PathBuf,
    #[command(flatten)]
    pub judge: JudgeArgs,
    #[command(flatten)]
    pub transcriber: TranscriberArgs,
    /// Print the grade as JSON (docs/grade-json.md).
    #[arg(long)]
    pub json: bool,
    /// Also print the time spent in each stage (stderr).
    #[arg(long)]
    pub timings: bool,
}

pub async fn run(args: GradeArgs) -> anyhow::Result<ExitCode> {
    let rubric = rubric::load_named(&args.rubric)?;
    let judge = args.judge.build()?;
    let graded: Grade = match (&args.file, &args.transcript) {
        (_, Some(path)) => {
            let transcript = load_transcript(path)?;
            grade(&rubric, &transcript, None, judge.as_ref()).await
        }
        (Some(file), None) => {
            let pipeline = Pipeline {
                limits: Limits::default(),
                transcriber: args.transcriber.build()?,
                judge,
            };
            match pipeline.grade_file(file, &rubric).await {
                Ok(run) => {
                    if args.timings {
                        let t = run.timings;
                        eprintln!(
                            "stages: decode+features {:.2}s · transcription {:.2}s · scoring {:.2}s",
                            t.decode_and_features.as_secs_f64(),
                            t.transcription.as_secs_f64(),
                            t.scoring.as_secs_f64()
                        );
                    }
                    run.grade
                }
                Err(PipelineError::Audio(e)) if e.is_permanent() => {
                    eprintln!("{}: {e}", file.display());
                    return Ok(ExitCode::from(BAD_FILE));
                }
                Err(e) => return Err(e.into()),
            }
        }
        (None, None) => anyhow::bail!("give a recording or --transcript FILE"),
    };
    if args.json {
        println!("{}", graded.to_json());
    } else {
        print!("{}", report::render(&graded));
    }
    Ok(ExitCode::SUCCESS)
}
