//! A running API for tests, zero2prod style: `spawn_app()` serves the real
//! router on a random port over a fresh database (SQLite or PostgreSQL), a
//! fresh object store (a temp folder, or a prefix in the Garage bucket), and
//! a transcription double (wiremock answering like OpenAI's verbose_json).
//! Grading is driven from the test with `run_worker_once()`: the real worker
//! with the OpenAI-compatible transcriber against the double and the real
//! offline judge.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pitchgrade::ingest::Limits;
use pitchgrade::pipeline::Pipeline;
use pitchgrade::rubric::RubricCatalog;
use pitchgrade::score::judge::offline::OfflineJudge;
use pitchgrade::service::api::{router, ApiConfig, ApiState};
use pitchgrade::service::http::{serve, ServerLimits};
use pitchgrade::service::{JobOutcome, Metrics, ServiceParts, Worker, WorkerSettings};
use pitchgrade::store::{connect_objects, ObjectStore};
use pitchgrade::transcribe::{build_transcriber, ApiKey, BackendKind, TranscriberConfig};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::store::TestDb;

pub const ADMIN_TOKEN: &str = "test-admin-token";

/// A pitch that hits several of ledgerly-sales-pitch's talking points.
pub const PITCH: &str = "Thanks for your time, Dana. Our customers close the books in four days \
instead of nine. Ledgerly matches your bank transactions to the ledger automatically and only \
shows your team the exceptions. Every entry records who prepared it and who approved it, so your \
auditors can see it themselves. It plugs into NetSuite, so you keep your ERP and your chart of \
accounts. Shall we book a working session on your own data next Tuesday?";

pub const RUBRIC: &str = "ledgerly-sales-pitch";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Objects {
    Local,
    /// A fresh prefix in the Garage test bucket (`scripts/garage.sh`).
    S3,
}

#[derive(Debug, Clone)]
pub struct AppOptions {
    pub db: Db,
    pub objects: Objects,
    pub max_upload_bytes: u64,
    /// The certification program (`config/program.toml`) for the API and worker.
    pub program: Option<Arc<pitchgrade::certify::Program>>,
    /// The server's timeouts and connection cap (`pitchgrade serve`'s defaults).
    pub server_limits: ServerLimits,
    /// Off unless a test asks: the tests speak pitches of seconds, far
    /// shorter than a rubric's timing asks for.
    pub min_recording_share: f64,
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            db: Db::Sqlite,
            objects: Objects::Local,
            max_upload_bytes: Limits::default().max_bytes,
            program: None,
            server_limits: ServerLimits::default(),
            min_recording_share: 0.0,
        }
    }
}

pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    pub client: reqwest::Client,
    pub parts: ServiceParts,
    /// The local object store's folder (None on S3).
    pub objects_dir: Option<PathBuf>,
    /// `s3://bucket/prefix` when on S3.
    pub s3_url: Option<String>,
    pub transcription: MockServer,
    pub dir: tempfile::TempDir,
    worker: tokio::sync::OnceCell<Worker>,
    program: Option<Arc<pitchgrade::certify::Program>>,
    config: ApiConfig,
    limits: ServerLimits,
    _db: TestDb,
    server: tokio::task::JoinHandle<()>,
}

/// Another API server on the same database and object store, with its own
/// connections and in-process state, as a second `pitchgrade serve` process
/// would have.
pub struct PeerServer {
    pub address: String,
    server: tokio::task::JoinHandle<()>,
}

impl PeerServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Serves `app` on a random port of 127.0.0.1.
async fn serve_on_random_port(
    app: axum::Router,
    limits: ServerLimits,
) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a port");
    let address = format!("http://{}", listener.local_addr().expect("address"));
    let server = tokio::spawn(async move {
        serve(listener, app, limits, CancellationToken::new()).await;
    });
    (address, server)
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The shipped certification program (`config/program.toml`), checked
/// against the shipped rubrics.
pub fn shipped_program() -> Arc<pitchgrade::certify::Program> {
    let root = repo_root();
    let catalog = pitchgrade::certify::program::RubricTracks::load_dir(&root.join("rubrics"))
        .expect("rubrics");
    Arc::new(
        pitchgrade::certify::Program::load(&root.join("config/program.toml"), Some(&catalog))
            .expect("program"),
    )
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn judge_model_dir() -> PathBuf {
    let local = repo_root().join("models/all-MiniLM-L6-v2");
    if local.exists() {
        local
    } else {
        repo_root().join("../shared/models/all-MiniLM-L6-v2")
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

pub async fn spawn_app_with(options: AppOptions) -> TestApp {
    let db = match options.db {
        Db::Sqlite => TestDb::sqlite().await,
        Db::Postgres => TestDb::postgres().await,
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let (objects, objects_dir, s3_url): (Arc<dyn ObjectStore>, _, _) = match options.objects {
        Objects::Local => {
            let folder = dir.path().join("objects");
            let url = url::Url::from_directory_path(&folder).expect("absolute path");
            (
                connect_objects(url.as_str()).await.expect("local store"),
                Some(folder),
                None,
            )
        }
        Objects::S3 => {
            let bucket = std::env::var("PITCHGRADE_TEST_S3_BUCKET").unwrap_or_else(|_| {
                panic!(
                    "the S3 API tests need Garage: run `eval \"$(scripts/garage.sh)\"` first, \
                     which sets PITCHGRADE_TEST_S3_BUCKET and the AWS_* variables"
                )
            });
            let url = format!("s3://{bucket}/api-test-{}", uuid::Uuid::now_v7().simple());
            (
                connect_objects(&url).await.expect("S3 store"),
                None,
                Some(url),
            )
        }
    };
    let rubrics = RubricCatalog::load_dir(&repo_root().join("rubrics")).expect("shipped rubrics");
    let parts = ServiceParts {
        repo: db.repo.clone(),
        objects,
        rubrics: Arc::new(rubrics),
        metrics: Arc::new(Metrics::new()),
    };
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let config = ApiConfig {
        min_recording_share: options.min_recording_share,
        max_upload_bytes: options.max_upload_bytes,
        admin_token: Some(ADMIN_TOKEN.into()),
        events_token: Some("test-events-token".into()),
        scratch_dir: scratch,
        program: options.program.clone(),
        ..ApiConfig::default()
    };
    let limits = options.server_limits;
    let (address, server) =
        serve_on_random_port(router(ApiState::new(parts.clone(), config.clone())), limits).await;
    TestApp {
        address,
        client: reqwest::Client::new(),
        parts,
        objects_dir,
        s3_url,
        transcription: MockServer::start().await,
        dir,
        worker: tokio::sync::OnceCell::new(),
        program: options.program,
        config,
        limits,
        _db: db,
        server,
    }
}

impl TestApp {
    /// The web pages (and the API again) over this app's store on a port of
    /// their own, with `program`, as `pitchgrade serve` runs them. Returns
    /// the base URL.
    pub async fn pages(&self, program: Option<Arc<pitchgrade::certify::Program>>) -> String {
        use pitchgrade::service::api::{ApiConfig, ApiState};
        let config = ApiConfig {
            admin_token: Some(ADMIN_TOKEN.into()),
            scratch_dir: self.dir.path().to_path_buf(),
            program,
            min_recording_share: 0.0,
            ..ApiConfig::default()
        };
        let router = pitchgrade::web::app(
            ApiState::new(self.parts.clone(), config),
            pitchgrade::web::WebOptions::default(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        base
    }

    /// A second server over this app's database and store (see `PeerServer`).
    pub async fn peer_server(&self) -> PeerServer {
        let repo = pitchgrade::store::connect(&self.db_url())
            .await
            .expect("a second connection to the test database");
        let parts = ServiceParts {
            repo,
            ..self.parts.clone()
        };
        let (address, server) = serve_on_random_port(
            router(ApiState::new(parts, self.config.clone())),
            self.limits,
        )
        .await;
        PeerServer { address, server }
    }

    /// The test database's URL, for the CLI run against this app's state.
    pub fn db_url(&self) -> String {
        self._db.url.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A request of one of the API's verbs to `path` (the route tests walk
    /// the router's own list).
    pub fn request(
        &self,
        verb: pitchgrade::service::api::Verb,
        path: &str,
    ) -> reqwest::RequestBuilder {
        use pitchgrade::service::api::Verb;
        let url = self.url(path);
        match verb {
            Verb::Get => self.client.get(url),
            Verb::Post => self.client.post(url),
            Verb::Put => self.client.put(url),
            Verb::Delete => self.client.delete(url),
        }
    }

    /// Creates a token through the API with the bootstrap admin token.
    pub async fn token(&self, role: &str, rep: Option<&str>) -> String {
        let response = self
            .client
            .post(self.url("/v1/tokens"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"role": role, "rep": rep}))
            .send()
            .await
            .expect("POST /v1/tokens");
        assert_eq!(response.status(), 201, "creating a {role} token");
        let body: serde_json::Value = response.json().await.expect("token JSON");
        body["token"].as_str().expect("token").to_string()
    }

    /// Multipart upload of `bytes` as `file`, with the given fields.
    pub async fn upload(
        &self,
        token: &str,
        fields: &[(&str, &str)],
        file: Option<Vec<u8>>,
        idempotency_key: Option<&str>,
    ) -> reqwest::Response {
        self.upload_to(&self.address, token, fields, file, idempotency_key)
            .await
    }

    /// `upload`, to the server at `address` (this app's, or a peer's).
    pub async fn upload_to(
        &self,
        address: &str,
        token: &str,
        fields: &[(&str, &str)],
        file: Option<Vec<u8>>,
        idempotency_key: Option<&str>,
    ) -> reqwest::Response {
        let mut form = reqwest::multipart::Form::new();
        for (k, v) in fields {
            form = form.text(k.to_string(), v.to_string());
        }
        if let Some(bytes) = file {
            form = form.part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name("pitch.wav"),
            );
        }
        let mut request = self
            .client
            .post(format!("{address}/v1/submissions"))
            .bearer_auth(token)
            .multipart(form);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.expect("POST /v1/submissions")
    }

    pub async fn get_json(&self, token: &str, path: &str) -> (u16, serde_json::Value) {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET");
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    /// Files in the local object store (uploads only; the store's temp files
    /// are renamed into place, so none linger).
    pub fn stored_objects(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let p = entry.path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push(p);
                }
            }
        }
        let mut out = Vec::new();
        walk(self.objects_dir.as_deref().expect("local store"), &mut out);
        out
    }

    /// Answers transcription requests with `text` spread over `seconds` of
    /// audio, as OpenAI's whisper-1 does with word timestamps.
    pub async fn mount_transcript(&self, text: &str, seconds: f64) {
        Mock::given(method("POST"))
            .and(path("/v1/audio/transcriptions"))
            .respond_with(ResponseTemplate::new(200).set_body_json(verbose_json(text, seconds)))
            .mount(&self.transcription)
            .await;
    }

    /// The real worker: OpenAI-compatible transcriber against the double,
    /// real offline judge. Built on first use (the judge model takes a moment).
    pub async fn worker(&self) -> &Worker {
        self.worker
            .get_or_init(|| async {
                let mut cfg = TranscriberConfig {
                    backend: BackendKind::Openai,
                    timeout_seconds: 10.0,
                    max_retries: 1,
                    initial_backoff_ms: 10,
                    max_backoff_ms: 100,
                    ..Default::default()
                };
                cfg.openai.base_url = format!("{}/v1", self.transcription.uri());
                cfg.openai.api_key = ApiKey("sk-test".into());
                let pipeline = Pipeline {
                    limits: Limits::default(),
                    transcriber: build_transcriber(&cfg).expect("transcriber"),
                    judge: Box::new(OfflineJudge::load(&judge_model_dir()).expect("offline judge")),
                };
                let settings = WorkerSettings {
                    scratch_dir: self.dir.path().join("scratch"),
                    program: self.program.clone(),
                    ..WorkerSettings::default()
                };
                Worker::new(self.parts.clone(), Arc::new(pipeline), settings)
            })
            .await
    }

    pub async fn run_worker_once(&self) -> Option<JobOutcome> {
        self.worker()
            .await
            .run_once("test")
            .await
            .expect("the queue answers")
    }
}

/// OpenAI `verbose_json` for `text`, its words evenly over `seconds`.
pub fn verbose_json(text: &str, seconds: f64) -> serde_json::Value {
    let words: Vec<&str> = text.split_whitespace().collect();
    let start = 0.1;
    let step = (seconds - 0.4).max(0.5) / words.len().max(1) as f64;
    let word_list: Vec<serde_json::Value> = words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let s = start + i as f64 * step;
            let clean: String = w
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == '\'' || *c == '-')
                .collect();
            json!({"word": clean, "start": round(s), "end": round(s + step * 0.8)})
        })
        .collect();
    let end = start + words.len() as f64 * step;
    json!({
        "task": "transcribe",
        "language": "english",
        "duration": seconds,
        "text": text,
        "words": word_list,
        "segments": [{
            "id": 0, "seek": 0, "start": start, "end": round(end),
            "text": format!(" {text}"),
            "tokens": [50364],
            "temperature": 0.0, "avg_logprob": -0.2, "compression_ratio": 1.1,
            "no_speech_prob": 0.01
        }]
    })
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// `text` spoken by espeak-ng as a 16 kHz mono WAV: its bytes and length in seconds.
pub fn spoken_wav(dir: &Path, text: &str) -> (Vec<u8>, f64) {
    let pcm = super::speech(dir, "pitch", text);
    let wav = dir.join("pitch-16k.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&wav, spec).expect("wav");
    for s in &pcm.samples {
        writer
            .write_sample((s * 32767.0).round() as i16)
            .expect("sample");
    }
    writer.finalize().expect("wav");
    (
        std::fs::read(&wav).expect("read wav"),
        pcm.duration_seconds(),
    )
}

/// `text` spoken, as an AAC M4A (ffmpeg's default layout: the index at the end).
pub fn spoken_m4a(dir: &Path, text: &str) -> (Vec<u8>, f64) {
    let (wav, seconds) = spoken_wav(dir, text);
    let wav_path = dir.join("pitch-for-m4a.wav");
    std::fs::write(&wav_path, wav).expect("write wav");
    let m4a = dir.join("pitch.m4a");
    let status = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(&wav_path)
        .args(["-c:a", "aac", "-b:a", "64k"])
        .arg(&m4a)
        .status()
        .expect("ffmpeg runs (scripts/setup.sh installs it)");
    assert!(status.success(), "ffmpeg made the M4A");
    (std::fs::read(&m4a).expect("read m4a"), seconds)
}

/// Signs in on the pages at `base` with `token`; the session cookie to send back.
pub async fn sign_in(client: &reqwest::Client, base: &str, token: &str) -> String {
    let signed = client
        .post(format!("{base}/sign-in"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    let cookie = signed.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_string()
}
