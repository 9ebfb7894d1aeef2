//! A real pitchgrade server for the browser tests: the web pages on a real
//! port over SQLite, a local object store, the shipped rubrics and an
//! in-process worker with the local Whisper model and the offline judge.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Once};

use pitchgrade::pipeline::Pipeline;
use pitchgrade::rubric::RubricCatalog;
use pitchgrade::score::judge::offline::OfflineJudge;
use pitchgrade::service::{Metrics, ServiceParts, Worker, WorkerSettings};
use pitchgrade::store::{connect, connect_objects};
use pitchgrade::transcribe::{build_transcriber, TranscriberConfig};
use pitchgrade::web::{self, Authenticator, Program, WebOptions, WebState};
use tokio_util::sync::CancellationToken;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub struct TestServer {
    pub base: String,
    pub parts: ServiceParts,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts the pages (and a grading worker) with `auth` and `program`.
    pub async fn start(auth: Arc<dyn Authenticator>, program: Arc<dyn Program>) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let repo = connect(&format!("sqlite://{}", dir.path().join("pg.db").display()))
            .await
            .unwrap();
        let objects_dir = dir.path().join("objects");
        std::fs::create_dir_all(&objects_dir).unwrap();
        let objects = connect_objects(
            url::Url::from_directory_path(&objects_dir)
                .unwrap()
                .as_str(),
        )
        .await
        .unwrap();
        let parts = ServiceParts {
            repo,
            objects,
            rubrics: Arc::new(RubricCatalog::load_dir(&root().join("rubrics")).unwrap()),
            metrics: Arc::new(Metrics::new()),
        };
        let state = WebState::new(parts.clone(), auth, program, WebOptions::default());
        let app = web::router(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
                .unwrap();
        });
        let worker = Arc::new(Worker::new(
            parts.clone(),
            Arc::new(pipeline()),
            worker_settings(dir.path()),
        ));
        let stop = shutdown.clone();
        let worker = tokio::spawn(async move { worker.run(stop).await });
        TestServer {
            base,
            parts,
            shutdown,
            tasks: vec![server, worker],
            _dir: dir,
        }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

fn worker_settings(dir: &Path) -> WorkerSettings {
    let scratch = dir.join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    WorkerSettings {
        concurrency: 1,
        idle_poll: std::time::Duration::from_millis(200),
        scratch_dir: scratch,
        ..WorkerSettings::default()
    }
}

/// The real local stages: tiny.en Whisper and the offline embedding judge.
fn pipeline() -> Pipeline {
    let models = root().join("models");
    let cfg = TranscriberConfig {
        model_path: Some(models.join("ggml-tiny.en.bin")),
        ..TranscriberConfig::default()
    };
    Pipeline {
        limits: pitchgrade::ingest::Limits::default(),
        transcriber: build_transcriber(&cfg).expect("local Whisper (run scripts/fetch-models.sh)"),
        judge: Box::new(
            OfflineJudge::load(&models.join("all-MiniLM-L6-v2")).expect("offline judge model"),
        ),
    }
}

/// `text` spoken by espeak-ng as a 16 kHz WAV in `dir`.
pub fn speech_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    crate::common::speech(dir, name, text);
    dir.join(format!("{name}.wav"))
}

static SETUP: Once = Once::new();

/// Installs Chromium and playwright-core once per test binary.
fn browser_setup() {
    SETUP.call_once(|| {
        let status = Command::new(root().join("scripts/browser-setup.sh"))
            .status()
            .expect("scripts/browser-setup.sh runs");
        assert!(status.success(), "scripts/browser-setup.sh failed");
    });
}

/// Where a test's screenshots go (printed, so a person can look at them).
pub fn screenshot_dir(test: &str) -> PathBuf {
    let dir = root().join("tests/browser/screenshots").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    println!("screenshots: {}", dir.display());
    dir
}

/// Runs `tests/browser/{script}.mjs` under node and returns the JSON object it
/// printed last. The script's stderr is shown on failure.
pub async fn run_script(script: &str, env: &[(&str, String)]) -> serde_json::Value {
    tokio::task::spawn_blocking(browser_setup).await.unwrap();
    let shots = screenshot_dir(script);
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(root().join("tests/browser").join(format!("{script}.mjs")))
        .current_dir(root().join("tests/browser"))
        .env("SCREENSHOT_DIR", &shots);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "browser script {script} failed ({}):\n{stderr}\nstdout:\n{stdout}\nscreenshots in {}",
        out.status,
        shots.display()
    );
    let last = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or("{}");
    serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("script output is not JSON ({e}): {stdout}"))
}
