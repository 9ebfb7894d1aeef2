//! Pipeline overhead and worker scaling: what the service adds around the
//! real work of grading a pitch.
//!
//! Each job is a real recording (espeak-ng speech, AAC in M4A) in the object
//! store and a real queue row, run by the real `Worker`: claim, fetch, real
//! decode + delivery features, transcription, scoring, grade write. Only the
//! two model stages are stand-ins with a fixed, realistic cost, so the figures
//! show the service's own share and do not drift with model speed:
//!
//! - transcription sleeps 1/30 of the audio length, what a hosted or GPU
//!   Whisper server takes (local tiny.en on CPU is slower, which would only
//!   make the overhead share smaller), and returns the pitch's words;
//! - the judge sleeps 5 ms per criterion and quotes the first words.
//!
//! Overhead = everything a job's wall time holds beyond decode, transcription
//! and judging: claim (queue), fetch (storage), the grade write and the rest
//! of the database work, aggregation (scoring minus judging) and the glue.
//! The bar (the product's bars: docs/architecture.md, BENCHMARKS.md): overhead
//! ≤ 5% of decode + transcription.
//!
//! Run: `cargo bench --bench pipeline_overhead` (PostgreSQL on 127.0.0.1:5432
//! as for the tests; `PITCHGRADE_BENCH_JOBS` jobs per run, default 12; with
//! `PITCHGRADE_TEST_S3_BUCKET` and the AWS_* variables set, S3 runs too).

#[path = "../tests/common/store.rs"]
#[allow(dead_code)] // the bench uses only the databases
mod harness;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use harness::TestDb;
use pitchgrade::ingest::{Limits, Pcm};
use pitchgrade::pipeline::Pipeline;
use pitchgrade::rubric::{Rubric, RubricCatalog};
use pitchgrade::score::judge::{Evidence, Judge, JudgeError, Judgement, Question};
use pitchgrade::service::{Metrics, ServiceParts, Worker, WorkerSettings};
use pitchgrade::store::db::{JobKind, NewJob, NewSubmission};
use pitchgrade::store::{connect_objects, ObjectKey};
use pitchgrade::transcribe::{
    Capabilities, Segment, TranscribeError, TranscribeOptions, Transcriber, Transcript, Word,
};

const RUBRIC: &str = "ledgerly-sales-pitch";
const PITCH: &str = "Hi Dana, how many days does your close take today? \
Ledgerly shortens your month end close, so your team closes the books in four days instead of nine. \
It matches your bank transactions to the ledger automatically, so nobody ticks and ties spreadsheets anymore. \
Every reconciliation records who prepared it and who approved it, so your auditors can test the controls themselves. \
You said the price is higher than your spreadsheets. That is a fair concern, but the weekend overtime already costs more than the subscription. \
Switching sounds risky, but Ledgerly plugs into NetSuite, so you keep your ERP and your chart of accounts. \
Halvorsen Tools, a manufacturer about your size, went from an eleven day close to five days in their first quarter. \
Can we book ninety minutes next Tuesday to run last month's bank reconciliation with your controller?";
/// Transcription stand-in: seconds of work per second of audio.
const TRANSCRIBE_COST: f64 = 1.0 / 30.0;
const JUDGE_COST: Duration = Duration::from_millis(5);

struct StandInTranscriber;

#[async_trait::async_trait]
impl Transcriber for StandInTranscriber {
    fn name(&self) -> &str {
        "stand-in"
    }
    fn model(&self) -> &str {
        "fixed-cost"
    }
    async fn transcribe(
        &self,
        audio: &Pcm,
        _options: &TranscribeOptions,
    ) -> Result<Transcript, TranscribeError> {
        let duration = audio.duration_seconds();
        tokio::time::sleep(Duration::from_secs_f64(duration * TRANSCRIBE_COST)).await;
        // The pitch's words, repeated to fill the recording at 2.5 words a second.
        let vocabulary: Vec<&str> = PITCH.split_whitespace().collect();
        let count = (duration * 2.5) as usize;
        let step = duration / count.max(1) as f64;
        let words: Vec<Word> = (0..count)
            .map(|i| Word {
                text: vocabulary[i % vocabulary.len()].to_string(),
                start: i as f64 * step,
                end: i as f64 * step + step * 0.8,
                confidence: Some(0.9),
                is_filler: false,
            })
            .collect();
        let text = words
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Transcript {
            segments: vec![Segment {
                text: text.clone(),
                start: 0.0,
                end: duration,
                words: 0..words.len(),
                no_speech_prob: None,
                avg_logprob: None,
            }],
            text,
            words,
            dropped: Vec::new(),
            backend: "stand-in".into(),
            model: "fixed-cost".into(),
            capabilities: Capabilities {
                word_times: true,
                keeps_fillers: true,
            },
            filler_count_is_lower_bound: false,
            duration_seconds: Some(duration),
        })
    }
}

/// Credits every criterion, quoting the first five words; counts its own time
/// so it can be told apart from aggregation.
#[derive(Default)]
struct StandInJudge {
    busy_nanos: AtomicU64,
}

#[async_trait::async_trait]
impl Judge for StandInJudge {
    fn name(&self) -> &str {
        "stand-in"
    }
    fn model(&self) -> &str {
        "fixed-cost"
    }
    async fn judge(
        &self,
        _rubric: &Rubric,
        q: &Question,
        t: &Transcript,
    ) -> Result<Judgement, JudgeError> {
        let started = Instant::now();
        tokio::time::sleep(JUDGE_COST).await;
        let quoted = &t.words[..t.words.len().min(5)];
        let evidence = match (quoted.first(), quoted.last()) {
            (Some(first), Some(last)) => vec![Evidence {
                quote: quoted
                    .iter()
                    .map(|w| w.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                start: first.start,
                end: last.end,
            }],
            _ => Vec::new(),
        };
        let verdict = Judgement {
            criterion_id: q.criterion_id.clone(),
            credit: 0.8,
            level: "met".into(),
            evidence,
            rationale: "stand-in".into(),
            raw: None,
            unsure: None,
        };
        self.busy_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        Ok(verdict)
    }
}

/// Lets the pipeline own a judge while the bench keeps reading its clock.
struct SharedJudge(Arc<StandInJudge>);

#[async_trait::async_trait]
impl Judge for SharedJudge {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn model(&self) -> &str {
        self.0.model()
    }
    async fn judge(
        &self,
        rubric: &Rubric,
        q: &Question,
        t: &Transcript,
    ) -> Result<Judgement, JudgeError> {
        self.0.judge(rubric, q, t).await
    }
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// About two minutes of speech (the pitch spoken three times), as AAC in M4A.
fn recording(dir: &Path) -> PathBuf {
    let text = format!("{PITCH} {PITCH} {PITCH}");
    let wav = dir.join("pitch.wav");
    let m4a = dir.join("pitch.m4a");
    let wav_s = wav.to_str().unwrap();
    run(
        "espeak-ng",
        &["-v", "en-us", "-s", "140", "-w", wav_s, &text],
    );
    run(
        "ffmpeg",
        &[
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-i",
            wav_s,
            "-ac",
            "1",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
            m4a.to_str().unwrap(),
        ],
    );
    m4a
}

/// Sum of one stage's histogram, from the Prometheus text the service exports.
fn stage_sum(metrics: &str, stage: &str) -> f64 {
    let prefix = format!("pitchgrade_job_stage_seconds_sum{{stage=\"{stage}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

struct Row {
    jobs_per_second: f64,
    decode: f64,
    transcription: f64,
    judge: f64,
    claim: f64,
    fetch: f64,
    write: f64,
    aggregation: f64,
    other: f64,
}

impl Row {
    fn overhead(&self) -> f64 {
        self.claim + self.fetch + self.write + self.aggregation + self.other
    }
}

async fn measure(database: &str, storage: &str, workers: usize, jobs: usize, m4a: &Path) -> Row {
    let db = match database {
        "sqlite" => TestDb::sqlite().await,
        _ => TestDb::postgres().await,
    };
    let objects_dir = tempfile::tempdir().unwrap();
    let storage_url = match storage {
        "s3" => format!(
            "s3://{}/bench/{}",
            std::env::var("PITCHGRADE_TEST_S3_BUCKET").unwrap(),
            uuid::Uuid::now_v7().simple()
        ),
        _ => url::Url::from_directory_path(objects_dir.path())
            .unwrap()
            .to_string(),
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let parts = ServiceParts {
        repo: db.repo.clone(),
        objects: connect_objects(&storage_url).await.expect("object store"),
        rubrics: Arc::new(RubricCatalog::load_dir(&root.join("rubrics")).expect("rubrics")),
        metrics: Arc::new(Metrics::new()),
    };

    let byte_size = std::fs::metadata(m4a).unwrap().len();
    for i in 0..jobs {
        let now = Utc::now();
        let key = ObjectKey::new_upload(now);
        parts
            .objects
            .put_file(&key, m4a, "audio/mp4")
            .await
            .expect("upload");
        parts
            .repo
            .create_submission_with_job(
                &NewSubmission {
                    rep_id: format!("rep-{i}"),
                    rubric_id: RUBRIC.into(),
                    object_key: key.as_str().into(),
                    content_type: "audio/mp4".into(),
                    byte_size,
                    idempotency_key: None,
                },
                &NewJob {
                    kind: JobKind::Grade,
                    max_attempts: 3,
                    run_at: now,
                },
                now,
            )
            .await
            .expect("enqueue");
    }

    let judge = Arc::new(StandInJudge::default());
    let pipeline = Arc::new(Pipeline {
        limits: Limits::default(),
        transcriber: Box::new(StandInTranscriber),
        judge: Box::new(SharedJudge(judge.clone())),
    });
    let scratch = tempfile::tempdir().unwrap();
    let settings = WorkerSettings {
        concurrency: workers,
        scratch_dir: scratch.path().to_path_buf(),
        name: "bench".into(),
        ..WorkerSettings::default()
    };
    let worker = Arc::new(Worker::new(parts.clone(), pipeline, settings));

    let started = Instant::now();
    let slots: Vec<_> = (0..workers)
        .map(|slot| {
            let worker = worker.clone();
            tokio::spawn(async move {
                let mut wall = Duration::ZERO;
                loop {
                    let t = Instant::now();
                    let outcome = worker.run_once(&slot.to_string()).await.expect("queue");
                    match outcome {
                        Some(o) => {
                            assert!(
                                matches!(o, pitchgrade::service::JobOutcome::Graded { .. }),
                                "{o:?}"
                            );
                            wall += t.elapsed();
                        }
                        None => break wall,
                    }
                }
            })
        })
        .collect();
    let mut wall = 0.0;
    for s in slots {
        wall += s.await.unwrap().as_secs_f64();
    }
    let elapsed = started.elapsed().as_secs_f64();

    let text = parts.metrics.render();
    let n = jobs as f64;
    let total = stage_sum(&text, "total");
    let decode = stage_sum(&text, "decode");
    let transcription = stage_sum(&text, "transcription");
    let scoring = stage_sum(&text, "scoring");
    let fetch = stage_sum(&text, "fetch");
    let write = stage_sum(&text, "store");
    let judge = judge.busy_nanos.load(Ordering::Relaxed) as f64 / 1e9;
    Row {
        jobs_per_second: n / elapsed,
        decode: decode / n,
        transcription: transcription / n,
        judge: judge / n,
        claim: (wall - total) / n,
        fetch: fetch / n,
        write: write / n,
        aggregation: (scoring - judge).max(0.0) / n,
        other: (total - decode - transcription - scoring - fetch - write).max(0.0) / n,
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let jobs: usize = std::env::var("PITCHGRADE_BENCH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let dir = tempfile::tempdir().unwrap();
    let m4a = recording(dir.path());
    let mut targets = vec![("postgres", "local"), ("sqlite", "local")];
    if std::env::var("PITCHGRADE_TEST_S3_BUCKET").is_ok() {
        targets.insert(1, ("postgres", "s3"));
    }
    println!(
        "{jobs} jobs per run; recording {} KB; transcription stand-in {:.3} s per audio s; judge stand-in {} ms per criterion",
        std::fs::metadata(&m4a).unwrap().len() / 1024,
        TRANSCRIBE_COST,
        JUDGE_COST.as_millis()
    );
    println!();
    println!("| database | storage | workers | jobs/s | decode s/job | transcription s/job | judge ms/job | claim ms | fetch ms | grade write ms | aggregation ms | other ms | overhead / (decode + transcription) |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (database, storage) in targets {
        for workers in [1usize, 2, 4] {
            let r = measure(database, storage, workers, jobs, &m4a).await;
            let ms = |s: f64| s * 1000.0;
            println!(
                "| {database} | {storage} | {workers} | {:.2} | {:.3} | {:.3} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2}% |",
                r.jobs_per_second,
                r.decode,
                r.transcription,
                ms(r.judge),
                ms(r.claim),
                ms(r.fetch),
                ms(r.write),
                ms(r.aggregation),
                ms(r.other),
                100.0 * r.overhead() / (r.decode + r.transcription),
            );
        }
    }
}
