//! The service under test, put together from real parts: a fresh SQLite or
//! PostgreSQL database, a local folder or a prefix in the Garage bucket, the
//! real OpenAI-compatible transcription client against a wiremock double, and
//! the offline judge. Submissions are enqueued exactly as the HTTP API does it:
//! the recording goes to the object store under a generated key, then the
//! submission and its job are written in one transaction.
//!
//! Include with `#[path = "common/service.rs"] mod service;` (it brings
//! `store.rs` along as `service::store`).
#![allow(dead_code)] // each test binary uses a different part

#[path = "store.rs"]
pub mod store;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use pitchgrade::ingest::Limits;
use pitchgrade::pipeline::Pipeline;
use pitchgrade::rubric::RubricCatalog;
use pitchgrade::score::judge::offline::OfflineJudge;
use pitchgrade::service::{Metrics, ServiceParts, Worker, WorkerSettings};
use pitchgrade::store::db::{
    Created, JobKind, NewJob, NewSubmission, SubmissionStatus, SubmissionView,
};
use pitchgrade::store::queue::JobBackoff;
use pitchgrade::store::{connect_objects, ConnectOptions, ObjectKey, ObjectStore};
use pitchgrade::transcribe::{build_transcriber, ApiKey, BackendKind, TranscriberConfig};
use serde_json::json;
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub use store::TestDb;

/// The rubric every test grades against (shipped in `rubrics/`).
pub const RUBRIC: &str = "ledgerly-sales-pitch";

/// A short pitch that makes most of the sales rubric's points; spoken by
/// espeak-ng for the audio, and returned word by word by the transcription double.
pub const PITCH: &str = "Hi Dana, how many days does your close take today? \
Ledgerly shortens your month end close, so your team closes the books in four days instead of nine. \
It matches your bank transactions to the ledger automatically, so nobody ticks and ties spreadsheets anymore. \
You said the price is higher than your spreadsheets. That is a fair concern, but the weekend overtime already costs more than the subscription. \
Can we book ninety minutes next Tuesday to run last month's bank reconciliation with your controller?";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `models/NAME` when setup copied it there, else the shared copy.
pub fn model(name: &str) -> PathBuf {
    let local = root().join("models").join(name);
    if local.exists() {
        local
    } else {
        root().join("../shared/models").join(name)
    }
}

pub fn rubrics_dir() -> PathBuf {
    root().join("rubrics")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Objects {
    /// A local folder (the embedded default).
    Local,
    /// A fresh prefix in the Garage test bucket (`eval "$(scripts/garage.sh)"`).
    Garage,
}

/// Backoff short enough that a retried job is runnable again within a test.
pub fn fast_retry() -> JobBackoff {
    JobBackoff {
        base: Duration::from_millis(100),
        cap: Duration::from_millis(400),
    }
}

/// One database, one object store and the parts a worker or the API holds.
pub struct Rig {
    pub db: TestDb,
    pub parts: ServiceParts,
    /// What a `pitchgrade worker` process is given as `PITCHGRADE_STORAGE_URL`.
    pub storage_url: String,
    pub scratch: tempfile::TempDir,
    _objects_dir: Option<tempfile::TempDir>,
}

impl Rig {
    pub async fn new(db: Db, objects: Objects) -> Rig {
        let options = ConnectOptions {
            retry: fast_retry(),
            ..ConnectOptions::default()
        };
        let db = match db {
            Db::Sqlite => TestDb::sqlite_with(options).await,
            Db::Postgres => TestDb::postgres_with(options).await,
        };
        let (storage_url, objects_dir) = match objects {
            Objects::Local => {
                let dir = tempfile::tempdir().expect("objects dir");
                let url = url::Url::from_directory_path(dir.path().join("objects"))
                    .expect("absolute path")
                    .to_string();
                (url, Some(dir))
            }
            Objects::Garage => (
                format!(
                    "s3://{}/service-tests/{}",
                    garage_bucket(),
                    Uuid::now_v7().simple()
                ),
                None,
            ),
        };
        let store = connect_objects(&storage_url)
            .await
            .unwrap_or_else(|e| panic!("open object store {storage_url}: {e}"));
        let catalog = RubricCatalog::load_dir(&rubrics_dir()).expect("shipped rubrics load");
        let parts = ServiceParts {
            repo: db.repo.clone(),
            objects: store,
            rubrics: Arc::new(catalog),
            metrics: Arc::new(Metrics::new()),
        };
        Rig {
            db,
            parts,
            storage_url,
            scratch: tempfile::tempdir().expect("scratch dir"),
            _objects_dir: objects_dir,
        }
    }

    pub fn objects(&self) -> &Arc<dyn ObjectStore> {
        &self.parts.objects
    }

    /// What the API does on upload: store the bytes under a key of our own,
    /// then write the submission and its job in one transaction.
    pub async fn enqueue(&self, recording: &Path, rep: &str, max_attempts: u32) -> Created {
        let now = Utc::now();
        let key = ObjectKey::new_upload(now);
        let byte_size = std::fs::metadata(recording)
            .expect("recording exists")
            .len();
        self.parts
            .objects
            .put_file(&key, recording, "audio/mp4")
            .await
            .expect("upload the recording");
        let created = self
            .parts
            .repo
            .create_submission_with_job(
                &NewSubmission {
                    rep_id: rep.to_string(),
                    rubric_id: RUBRIC.to_string(),
                    object_key: key.as_str().to_string(),
                    content_type: "audio/mp4".into(),
                    byte_size,
                    idempotency_key: None,
                },
                &NewJob {
                    kind: JobKind::Grade,
                    max_attempts,
                    run_at: now,
                },
                now,
            )
            .await
            .expect("create the submission");
        assert!(created.created);
        created
    }

    /// Settings for an in-process worker: short polls so tests move quickly.
    pub fn settings(&self, name: &str) -> WorkerSettings {
        WorkerSettings {
            concurrency: 1,
            idle_poll: Duration::from_millis(50),
            rescue_every: Duration::from_millis(200),
            scratch_dir: self.scratch.path().to_path_buf(),
            name: name.to_string(),
            ..WorkerSettings::default()
        }
        .with_lease(Duration::from_secs(10))
    }

    pub fn worker(&self, pipeline: Arc<Pipeline>, settings: WorkerSettings) -> Worker {
        Worker::new(self.parts.clone(), pipeline, settings)
    }

    pub async fn view(&self, id: Uuid) -> SubmissionView {
        self.parts
            .repo
            .get_submission(id)
            .await
            .expect("read submission")
            .expect("submission exists")
    }

    /// Polls until every submission is graded, in review or failed, or panics
    /// after `timeout` naming the ones still open.
    pub async fn wait_settled(&self, ids: &[Uuid], timeout: Duration) -> Vec<SubmissionView> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut views = Vec::new();
            let mut open = Vec::new();
            for id in ids {
                match self.parts.repo.get_submission(*id).await {
                    Ok(Some(v)) => {
                        if !is_settled(v.submission.status) {
                            open.push((*id, v.submission.status));
                        }
                        views.push(v);
                    }
                    // The database may be restarting under the test: ask again.
                    Ok(None) => panic!("submission {id} vanished"),
                    Err(_) => open.push((*id, SubmissionStatus::Queued)),
                }
            }
            if open.is_empty() {
                return views;
            }
            assert!(
                Instant::now() < deadline,
                "still not settled after {timeout:?}: {open:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

pub fn is_settled(status: SubmissionStatus) -> bool {
    matches!(
        status,
        SubmissionStatus::Graded | SubmissionStatus::NeedsReview | SubmissionStatus::Failed
    )
}

pub fn garage_bucket() -> String {
    std::env::var("PITCHGRADE_TEST_S3_BUCKET").unwrap_or_else(|_| {
        panic!(
            "these tests need the Garage test bucket: run `eval \"$(scripts/garage.sh)\"` \
             first (it exports AWS_* and PITCHGRADE_TEST_S3_BUCKET)"
        )
    })
}

/// Real recordings, generated once per test into a temporary folder.
pub struct Recordings {
    pub dir: tempfile::TempDir,
}

impl Recordings {
    pub fn new() -> Recordings {
        Recordings {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// The pitch spoken by espeak-ng, encoded as AAC in M4A the way a phone
    /// records it; returns the file and its duration in seconds.
    pub fn pitch_m4a(&self) -> (PathBuf, f64) {
        let wav = self.dir.path().join("pitch.wav");
        let m4a = self.dir.path().join("pitch.m4a");
        if !m4a.exists() {
            run(
                "espeak-ng",
                &["-v", "en-us", "-s", "150", "-w", path_str(&wav), PITCH],
            );
            run(
                "ffmpeg",
                &[
                    "-hide_banner",
                    "-loglevel",
                    "error",
                    "-y",
                    "-i",
                    path_str(&wav),
                    "-ac",
                    "1",
                    "-c:a",
                    "aac",
                    "-b:a",
                    "64k",
                    path_str(&m4a),
                ],
            );
        }
        let reader = hound::WavReader::open(&wav).expect("espeak wav");
        let duration = reader.duration() as f64 / reader.spec().sample_rate as f64;
        (m4a, duration)
    }

    /// An upload that is not audio at all: half of the M4A's bytes, with the
    /// header mangled, the way a broken phone upload arrives.
    pub fn corrupt(&self) -> PathBuf {
        let (m4a, _) = self.pitch_m4a();
        let mut bytes = std::fs::read(&m4a).expect("read m4a");
        bytes.truncate(bytes.len() / 2);
        for b in bytes.iter_mut().take(64) {
            *b = b.wrapping_mul(31).wrapping_add(7);
        }
        let out = self.dir.path().join("corrupt.m4a");
        std::fs::write(&out, bytes).expect("write corrupt file");
        out
    }
}

impl Default for Recordings {
    fn default() -> Self {
        Self::new()
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

pub fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The words of `PITCH` spread evenly over `[0.2, duration - 0.2]` seconds,
/// as `(word, start, end)`.
pub fn pitch_words(duration: f64) -> Vec<(String, f64, f64)> {
    let words: Vec<&str> = PITCH.split_whitespace().collect();
    let span = (duration - 0.4).max(1.0);
    let step = span / words.len() as f64;
    words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let start = 0.2 + i as f64 * step;
            (w.to_string(), round3(start), round3(start + step * 0.8))
        })
        .collect()
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `verbose_json` as OpenAI's whisper-1 returns it with word timestamps.
pub fn verbose_json(duration: f64) -> serde_json::Value {
    let words = pitch_words(duration);
    let end = words.last().map_or(duration, |w| w.2);
    json!({
        "task": "transcribe",
        "language": "english",
        "duration": duration,
        "text": PITCH,
        "words": words
            .iter()
            .map(|(w, s, e)| json!({"word": w, "start": s, "end": e}))
            .collect::<Vec<_>>(),
        "segments": [{
            "id": 0, "seek": 0, "start": 0.0, "end": end,
            "text": PITCH,
            "tokens": [50364, 1449, 11, 527],
            "temperature": 0.0, "avg_logprob": -0.18, "compression_ratio": 1.3,
            "no_speech_prob": 0.01
        }]
    })
}

/// How the transcription double answers call number `n` (0-based).
pub type Script = dyn Fn(usize) -> Answer + Send + Sync;

#[derive(Debug, Clone)]
pub enum Answer {
    /// 200 with the pitch's words, after `delay`.
    Ok { delay: Duration },
    /// An HTTP error status with OpenAI's error body.
    Status(u16),
    /// No answer before the client's timeout.
    Hang(Duration),
}

struct Scripted {
    duration: f64,
    calls: Arc<AtomicUsize>,
    script: Arc<Script>,
}

impl Respond for Scripted {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        match (self.script)(n) {
            Answer::Ok { delay } => ResponseTemplate::new(200)
                .set_body_json(verbose_json(self.duration))
                .set_delay(delay),
            Answer::Status(code) => {
                let mut t = ResponseTemplate::new(code).set_body_json(json!({
                    "error": {"message": format!("scripted failure {code}"),
                              "type": "server_error", "code": null}
                }));
                if code == 429 {
                    t = t.insert_header("retry-after", "0");
                }
                t
            }
            Answer::Hang(d) => ResponseTemplate::new(200)
                .set_body_json(verbose_json(self.duration))
                .set_delay(d),
        }
    }
}

/// A local OpenAI-compatible `/v1/audio/transcriptions` that answers as the
/// script says, counting the calls it gets.
pub struct TranscriberDouble {
    pub server: MockServer,
    pub calls: Arc<AtomicUsize>,
}

impl TranscriberDouble {
    pub async fn start(
        duration: f64,
        script: impl Fn(usize) -> Answer + Send + Sync + 'static,
    ) -> TranscriberDouble {
        let server = MockServer::start().await;
        let calls = Arc::new(AtomicUsize::new(0));
        Mock::given(method("POST"))
            .and(path("/v1/audio/transcriptions"))
            .respond_with(Scripted {
                duration,
                calls: calls.clone(),
                script: Arc::new(script),
            })
            .mount(&server)
            .await;
        TranscriberDouble { server, calls }
    }

    /// Always answers at once with the pitch's words.
    pub async fn healthy(duration: f64) -> TranscriberDouble {
        Self::start(duration, |_| Answer::Ok {
            delay: Duration::ZERO,
        })
        .await
    }

    pub fn base_url(&self) -> String {
        format!("{}/v1", self.server.uri())
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// The client configuration a worker uses against this double.
    pub fn config(&self, max_retries: u32, timeout: Duration) -> TranscriberConfig {
        let mut cfg = TranscriberConfig {
            backend: BackendKind::Openai,
            timeout_seconds: timeout.as_secs_f64(),
            max_retries,
            initial_backoff_ms: 10,
            max_backoff_ms: 200,
            ..TranscriberConfig::default()
        };
        cfg.openai.base_url = self.base_url();
        cfg.openai.api_key = ApiKey("sk-test".into());
        cfg
    }

    /// The real pipeline: real decode, the real OpenAI client against this
    /// double, the offline judge.
    pub fn pipeline(&self, max_retries: u32, timeout: Duration) -> Arc<Pipeline> {
        Arc::new(Pipeline {
            limits: Limits::default(),
            transcriber: build_transcriber(&self.config(max_retries, timeout))
                .expect("OpenAI client builds"),
            judge: Box::new(OfflineJudge::load(&model("all-MiniLM-L6-v2")).expect("MiniLM loads")),
        })
    }
}

/// A `pitchgrade worker` process (the binary cargo built for this tree), its
/// stderr kept in a file so tests can read its log. Killed when dropped.
pub struct WorkerProcess {
    pub child: Child,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl WorkerProcess {
    pub fn spawn(
        rig: &Rig,
        double: &TranscriberDouble,
        lease_seconds: u64,
        slots: usize,
    ) -> WorkerProcess {
        let dir = tempfile::tempdir().expect("log dir");
        let log = dir.path().join("worker.log");
        let stderr = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_pitchgrade"))
            .arg("worker")
            .args(["--lease-seconds", &lease_seconds.to_string()])
            .args(["--workers", &slots.to_string()])
            .arg("--rubrics")
            .arg(rubrics_dir())
            .arg("--judge-model-dir")
            .arg(model("all-MiniLM-L6-v2"))
            .env("PITCHGRADE_DATABASE_URL", &rig.db.url)
            .env("PITCHGRADE_STORAGE_URL", &rig.storage_url)
            .env("PITCHGRADE_TRANSCRIBE_BACKEND", "openai")
            .env("OPENAI_BASE_URL", double.base_url())
            .env("OPENAI_API_KEY", "sk-test")
            .env(
                "PITCHGRADE_LOG",
                "info,symphonia=error,symphonia_core=error",
            )
            .env("TMPDIR", dir.path())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start pitchgrade worker");
        WorkerProcess {
            child,
            log,
            _dir: dir,
        }
    }

    /// SIGKILL: no shutdown hook, no last heartbeat, no cleanup.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}
