//! `pitchgrade rubric lint|schema|test|calibrate|replay`: tools for the enablement team.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::ingest::Limits;
use crate::pipeline::backends::{JudgeArgs, TranscriberArgs};
use crate::pipeline::{delivery_input, Pipeline};
use crate::rubric::{self, LoadedRubric};
use crate::score::agreement::Thresholds;
use crate::score::judge::Judge;
use crate::score::rubric_test::{run_cases_with, CaseError, CaseGrader, TypedGrader};
use crate::score::{grade, DeliveryInput, Grade};
use crate::transcribe::Transcript;

// `Test` carries every bar flag; the enum is parsed once per process, so its
// size costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum RubricCommand {
    /// Report every problem in rubric files with file:line:column.
    Lint {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Also refuse a file whose bytes changed under a version this
        /// database already graded with (bump `version` instead).
        #[arg(long, env = "PITCHGRADE_DATABASE_URL")]
        database_url: Option<String>,
    },
    /// Print the JSON Schema of the rubric format.
    Schema,
    /// Grade a folder of labelled pitches (NAME.txt + NAME.expect.toml) and
    /// report agreement with the labels: per-criterion kappa and accuracy,
    /// decisions, false passes and fails, review rate. Exits 1 when a bar
    /// (the rubric's `[agreement]` or a flag) is missed; with no bar set, on
    /// any mismatch.
    Test {
        dir: PathBuf,
        /// The rubric: a TOML file, or an installed rubric's id.
        #[arg(long)]
        rubric: PathBuf,
        #[command(flatten)]
        judge: JudgeArgs,
        /// Grade recordings of the cases (DIR/NAME.wav, .mp3, .m4a, .ogg, .webm,
        /// .flac) through the whole pipeline instead of the typed text. Each
        /// transcript is kept beside its recording (NAME.transcript.json) and
        /// reused while the recording and the transcriber are unchanged.
        #[arg(long)]
        audio_dir: Option<PathBuf>,
        /// With --audio-dir: transcribe again even when a kept transcript exists.
        #[arg(long, requires = "audio_dir")]
        retranscribe: bool,
        #[command(flatten)]
        transcriber: TranscriberArgs,
        #[command(flatten)]
        bars: BarArgs,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Fit the offline judge's similarity bars to this rubric from its own
    /// labelled pitches (the folder `rubric test` reads): tries one shift of
    /// the met/partial bars from -0.10 to +0.06, and reports the figures as
    /// written, fitted (in sample) and cross-validated. --write stores the
    /// fitted shift in the rubric file as `[judge_bars]` and bumps `version`,
    /// only when the cross-validated figures beat the file's own.
    Calibrate {
        dir: PathBuf,
        /// The rubric file to fit (and, with --write, to rewrite).
        #[arg(long)]
        rubric: PathBuf,
        #[command(flatten)]
        judge: JudgeArgs,
        /// Fit on recordings of the cases, as `rubric test --audio-dir`.
        #[arg(long)]
        audio_dir: Option<PathBuf>,
        #[command(flatten)]
        transcriber: TranscriberArgs,
        /// Folds of the cross-validation.
        #[arg(long, default_value_t = crate::score::calibrate::DEFAULT_FOLDS)]
        folds: usize,
        /// Store the fitted shift in the rubric file and bump its version.
        #[arg(long)]
        write: bool,
        #[arg(long)]
        json: bool,
    },
    /// Re-score past submissions of this rubric's id with this file (and the
    /// judge chosen) from their stored transcripts and audio figures, without
    /// transcribing again, and print what would change: decisions (pass/fail,
    /// into and out of review) with the criteria that flip and why, the score
    /// shift, the first-attempt pass rate against the healthy band, and the
    /// certifications and firm tiers it would move. Changes nothing unless
    /// --apply, which stores the re-scored grades beside the originals
    /// (audited) and still changes no certification.
    Replay {
        /// The new rubric file (or an installed rubric's id, to compare judges).
        rubric: PathBuf,
        /// Only submissions made on or after this day (YYYY-MM-DD) or instant (RFC 3339).
        #[arg(long, value_parser = parse_since)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// Only this firm's reps.
        #[arg(long, value_name = "FIRM")]
        firm: Option<String>,
        /// Replay at most this many grades, oldest first.
        #[arg(long)]
        max_grades: Option<u32>,
        #[command(flatten)]
        judge: JudgeArgs,
        #[command(flatten)]
        program: super::program_args::ProgramArgs,
        /// Store the re-scored grades as grade versions beside the originals.
        #[arg(long)]
        apply: bool,
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// One row per changed decision and flipped criterion.
        #[arg(long)]
        csv: bool,
    },
}

fn parse_since(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| format!("{s:?} is neither a day (2026-01-31) nor an RFC 3339 instant"))
}

/// Agreement bars on the command line; each overrides the rubric's `[agreement]`.
#[derive(Debug, Clone, Args)]
pub struct BarArgs {
    /// Least share (0-1) of grade decisions equal to the label.
    #[arg(long)]
    pub min_decision_agreement: Option<f64>,
    /// Least share (0-1) of label-rule decisions (from the judge's verdicts) equal to the label.
    #[arg(long)]
    pub min_label_rule_agreement: Option<f64>,
    /// Least Cohen's kappa of the worst criterion.
    #[arg(long)]
    pub min_kappa: Option<f64>,
    /// Least median kappa over the criteria.
    #[arg(long)]
    pub min_median_kappa: Option<f64>,
    /// Most cases labelled fail or borderline that may pass.
    #[arg(long)]
    pub max_false_passes: Option<usize>,
    /// Most cases labelled pass that may fail.
    #[arg(long)]
    pub max_false_fails: Option<usize>,
    /// Largest share (0-1) of cases sent to review.
    #[arg(long)]
    pub max_review_rate: Option<f64>,
}

impl BarArgs {
    fn thresholds(&self) -> Thresholds {
        Thresholds {
            min_decision_agreement: self.min_decision_agreement,
            min_label_rule_agreement: self.min_label_rule_agreement,
            min_kappa: self.min_kappa,
            min_median_kappa: self.min_median_kappa,
            max_false_passes: self.max_false_passes,
            max_false_fails: self.max_false_fails,
            max_review_rate: self.max_review_rate,
        }
    }
}

pub async fn run(command: RubricCommand) -> anyhow::Result<ExitCode> {
    Ok(match command {
        RubricCommand::Lint {
            files,
            database_url,
        } => match (lint(&files), database_url) {
            (true, Some(url)) => lint_history(&files, &url).await?,
            (true, None) => ExitCode::SUCCESS,
            (false, _) => ExitCode::FAILURE,
        },
        RubricCommand::Schema => {
            println!("{}", rubric::schema::rubric_schema_json());
            ExitCode::SUCCESS
        }
        RubricCommand::Replay {
            rubric,
            since,
            firm,
            max_grades,
            judge,
            program,
            apply,
            json,
            csv,
        } => {
            let rubric = rubric::load_named(&rubric)?;
            let judge = judge.build()?;
            let (program, repo) = program.open().await?;
            let now = chrono::Utc::now();
            if let Some(firm) = &firm {
                if repo.get_firm(firm).await?.is_none() {
                    anyhow::bail!("no firm {firm:?} in this database");
                }
            }
            // A version already graded with under other bytes would make the
            // stored versions lie about their text.
            if let Err(e) =
                rubric::history::check_files(repo.as_ref(), std::slice::from_ref(&rubric)).await
            {
                if apply {
                    anyhow::bail!("{e}");
                }
                eprintln!("warning: {e}");
            }
            let options = crate::certify::replay::ReplayOptions {
                since,
                firm,
                max_grades,
            };
            let replay = crate::certify::replay::replay(
                repo.as_ref(),
                Some(&program),
                &rubric,
                judge.as_ref(),
                &options,
                now,
            )
            .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&replay)?);
            } else if csv {
                print!("{}", crate::certify::replay::to_csv(&replay));
            } else {
                print!("{}", crate::certify::replay::to_text(&replay));
            }
            if apply {
                rubric::history::record(repo.as_ref(), &rubric, now).await?;
                let stored =
                    crate::certify::replay::apply(repo.as_ref(), &replay, "cli:rubric-replay", now)
                        .await?;
                eprintln!(
                    "applied: {stored} re-scored grades stored beside the originals; no certification changed"
                );
            }
            ExitCode::SUCCESS
        }
        RubricCommand::Calibrate {
            dir,
            rubric: path,
            judge,
            audio_dir,
            transcriber,
            folds,
            write,
            json,
        } => {
            let rubric = rubric::load(&path)?;
            let judge = judge.build()?;
            if judge.name() != "offline" {
                anyhow::bail!(
                    "calibrate fits the offline judge's bars; the {} judge has none",
                    judge.name()
                );
            }
            let grader = set_grader(judge, audio_dir, &transcriber, false)?;
            let calibration =
                crate::score::calibrate::calibrate(&dir, &rubric, grader.as_ref(), folds).await?;
            if json {
                let mut out = serde_json::to_value(&calibration)?;
                let cases = calibration
                    .cross_validated_cases
                    .to_json(&Default::default())["cases"]
                    .take();
                out["cases"] = cases;
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                print!("{}", crate::score::calibrate::to_text(&calibration));
            }
            if !write {
                ExitCode::SUCCESS
            } else if !calibration.holds() {
                eprintln!("not written: the fit does not hold on held-back pitches");
                ExitCode::FAILURE
            } else {
                let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
                let text = crate::score::calibrate::write_shift(&rubric.text, &calibration, &day)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                // The rewritten file must still be a valid rubric before it replaces the old one.
                rubric::parse(&path.display().to_string(), text.as_bytes())?;
                // Written beside it and renamed over it: an interrupted write
                // never leaves half a rubric.
                let tmp = path.with_extension("toml.calibrate-tmp");
                std::fs::write(&tmp, &text)
                    .with_context(|| format!("writing {}", tmp.display()))?;
                std::fs::rename(&tmp, &path)
                    .with_context(|| format!("replacing {}", path.display()))?;
                eprintln!(
                    "wrote {}: [judge_bars] shift = {:.2}, version {} -> {}",
                    path.display(),
                    calibration.shift_fitted,
                    rubric.rubric.version,
                    rubric.rubric.version + 1
                );
                ExitCode::SUCCESS
            }
        }
        RubricCommand::Test {
            dir,
            rubric,
            judge,
            audio_dir,
            retranscribe,
            transcriber,
            bars,
            json,
        } => {
            let rubric = rubric::load_named(&rubric)?;
            let judge = judge.build()?;
            let grader = set_grader(judge, audio_dir, &transcriber, retranscribe)?;
            let report = run_cases_with(&dir, &rubric, grader.as_ref()).await?;
            let thresholds = rubric
                .rubric
                .agreement
                .clone()
                .unwrap_or_default()
                .overlaid(&bars.thresholds());
            let failures = thresholds.failures(&report.summary());
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report.to_json(&thresholds))?
                );
            } else {
                print!("{}", report.table());
                for f in &failures {
                    println!("BAR MISSED: {f}");
                }
            }
            let ok = if thresholds.is_empty() {
                report.all_passed()
            } else {
                failures.is_empty()
            };
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    })
}

/// What grades a labelled set's cases: their typed text, or (with
/// `audio_dir`) recordings of them through the whole pipeline.
fn set_grader(
    judge: Box<dyn Judge>,
    audio_dir: Option<PathBuf>,
    transcriber: &TranscriberArgs,
    retranscribe: bool,
) -> anyhow::Result<Box<dyn CaseGrader>> {
    Ok(match audio_dir {
        None => Box::new(OwnedTypedGrader(judge)),
        Some(dir) => Box::new(AudioGrader {
            pipeline: Pipeline {
                limits: Limits::default(),
                transcriber: transcriber.build()?,
                judge,
            },
            dir,
            retranscribe,
        }),
    })
}

/// [`TypedGrader`] holding its judge, so one boxed grader serves either way.
struct OwnedTypedGrader(Box<dyn Judge>);

#[async_trait::async_trait]
impl CaseGrader for OwnedTypedGrader {
    async fn grade_case(
        &self,
        rubric: &LoadedRubric,
        name: &str,
        text: &Path,
    ) -> Result<Grade, CaseError> {
        TypedGrader {
            judge: self.0.as_ref(),
        }
        .grade_case(rubric, name, text)
        .await
    }
}

/// Recordings a case may have, in the order they are looked for.
const AUDIO_EXTENSIONS: [&str; 7] = ["wav", "flac", "ogg", "opus", "mp3", "m4a", "webm"];

/// Grades a recording of each case through the whole pipeline. Transcription
/// is most of the time, and a judge change needs none: the transcript and
/// delivery figures are kept beside the recording and reused while the
/// recording is older than them and the same transcriber made them.
struct AudioGrader {
    pipeline: Pipeline,
    dir: PathBuf,
    retranscribe: bool,
}

impl AudioGrader {
    fn recording(&self, name: &str) -> Option<PathBuf> {
        AUDIO_EXTENSIONS
            .iter()
            .map(|ext| self.dir.join(format!("{name}.{ext}")))
            .find(|p| p.is_file())
    }

    fn kept(&self, name: &str, recording: &Path) -> Option<(Transcript, DeliveryInput)> {
        if self.retranscribe {
            return None;
        }
        let t_path = self.dir.join(format!("{name}.transcript.json"));
        let d_path = self.dir.join(format!("{name}.delivery.json"));
        let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let audio_time = modified(recording)?;
        if modified(&t_path)? < audio_time || modified(&d_path)? < audio_time {
            return None;
        }
        let transcript: Transcript = serde_json::from_slice(&std::fs::read(&t_path).ok()?).ok()?;
        let delivery: DeliveryInput = serde_json::from_slice(&std::fs::read(&d_path).ok()?).ok()?;
        (transcript.model == self.pipeline.transcriber.model()
            && transcript.backend == self.pipeline.transcriber.name())
        .then_some((transcript, delivery))
    }
}

#[async_trait::async_trait]
impl CaseGrader for AudioGrader {
    async fn grade_case(
        &self,
        rubric: &LoadedRubric,
        name: &str,
        _text: &Path,
    ) -> Result<Grade, CaseError> {
        let failed = |message: String| CaseError::Grading {
            case: name.to_string(),
            message,
        };
        let recording = self.recording(name).ok_or_else(|| {
            failed(format!(
                "no recording {name}.{{{}}} in {}",
                AUDIO_EXTENSIONS.join(","),
                self.dir.display()
            ))
        })?;
        if let Some((transcript, delivery)) = self.kept(name, &recording) {
            return Ok(grade(
                rubric,
                &transcript,
                Some(&delivery),
                self.pipeline.judge.as_ref(),
            )
            .await);
        }
        let run = self
            .pipeline
            .grade_file(&recording, rubric)
            .await
            .map_err(|e| failed(format!("{}: {e}", recording.display())))?;
        let keep = |file: String, json: serde_json::Result<Vec<u8>>| {
            let path = self.dir.join(file);
            json.map_err(|e| e.to_string())
                .and_then(|bytes| std::fs::write(&path, bytes).map_err(|e| e.to_string()))
                .map_err(|e| failed(format!("cannot keep {}: {e}", path.display())))
        };
        keep(
            format!("{name}.transcript.json"),
            serde_json::to_vec(&run.transcript),
        )?;
        keep(
            format!("{name}.delivery.json"),
            serde_json::to_vec(&delivery_input(&run.audio)),
        )?;
        Ok(run.grade)
    }
}

/// Prints every problem; exit 1 when there are any.
/// The lint's second half: each file against the versions graded with.
async fn lint_history(files: &[PathBuf], database_url: &str) -> anyhow::Result<ExitCode> {
    let repo = crate::store::connect(database_url)
        .await
        .map_err(|e| anyhow::anyhow!("opening the database: {e}"))?;
    let loaded = files
        .iter()
        .map(|f| rubric::load(f))
        .collect::<Result<Vec<_>, _>>()?;
    match rubric::history::check_files(repo.as_ref(), &loaded).await {
        Ok(()) => {
            println!(
                "{} rubric file(s) agree with the versions graded with",
                files.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(rubric::history::HistoryError::Changed(conflicts)) => {
            for c in conflicts {
                println!("{c}");
            }
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e.into()),
    }
}

/// Prints every problem; true when there were none.
fn lint(files: &[PathBuf]) -> bool {
    let problems = rubric::lint_files(files);
    for p in &problems {
        println!("{p}");
    }
    if problems.is_empty() {
        println!("{} rubric file(s) ok", files.len());
    }
    problems.is_empty()
}
