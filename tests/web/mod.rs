//! A real pitchgrade server for the browser tests: the API and the web pages
//! on one real port, wired as `pitchgrade serve` wires them (`web::app`), over SQLite, a local object store, the shipped rubrics and an
//! in-process worker with the local Whisper model and the offline judge.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Once};

use pitchgrade::pipeline::Pipeline;
use pitchgrade::rubric::RubricCatalog;
use pitchgrade::score::judge::offline::OfflineJudge;
use pitchgrade::service::api::auth::Role as ApiRole;
use pitchgrade::service::api::tokens::{issue, TokenRequest};
use pitchgrade::service::api::{ApiConfig, ApiState};
use pitchgrade::service::{Metrics, ServiceParts, Worker, WorkerSettings};
use pitchgrade::store::db::SubmissionStatus;
use pitchgrade::store::{connect, connect_objects};
use pitchgrade::transcribe::{build_transcriber, TranscriberConfig};
use pitchgrade::web::{self, WebOptions};
use tokio_util::sync::CancellationToken;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The bootstrap admin token of the test server (as `PITCHGRADE_ADMIN_TOKEN`).
pub const ADMIN_TOKEN: &str = "web-test-admin-token";

pub struct TestServer {
    pub base: String,
    pub parts: ServiceParts,
    pub program: Option<Arc<pitchgrade::certify::Program>>,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

/// The shipped program (config/program.toml), checked against the shipped rubrics.
pub fn shipped_program() -> Arc<pitchgrade::certify::Program> {
    let catalog = pitchgrade::certify::RubricTracks::load_dir(&root().join("rubrics"))
        .expect("rubric catalog");
    Arc::new(
        pitchgrade::certify::Program::load(&root().join("config/program.toml"), Some(&catalog))
            .expect("config/program.toml"),
    )
}

impl TestServer {
    /// Starts what `pitchgrade serve` starts — the API and the pages on one
    /// port (`web::app`), and a grading worker — with `program` (or none).
    pub async fn start(program: Option<Arc<pitchgrade::certify::Program>>) -> TestServer {
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
        let uploads = dir.path().join("uploads");
        std::fs::create_dir_all(&uploads).unwrap();
        let config = ApiConfig {
            // The tests speak pitches of seconds, far shorter than a rubric asks.
            min_recording_share: 0.0,
            admin_token: Some(ADMIN_TOKEN.into()),
            scratch_dir: uploads,
            program: program.clone(),
            ..ApiConfig::default()
        };
        let options = WebOptions {
            // The replay page re-scores with a judge of its own, as `serve` gives it.
            replay_judge: Some(Arc::new(
                OfflineJudge::load(&root().join("models/all-MiniLM-L6-v2"))
                    .expect("offline judge model"),
            )),
            ..WebOptions::default()
        };
        let app = web::app(ApiState::new(parts.clone(), config), options);
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
        let mut settings = worker_settings(dir.path());
        settings.program = program.clone();
        let worker = Arc::new(Worker::new(parts.clone(), Arc::new(pipeline()), settings));
        let stop = shutdown.clone();
        let worker = tokio::spawn(async move { worker.run(stop).await });
        TestServer {
            base,
            parts,
            program,
            shutdown,
            tasks: vec![server, worker],
            _dir: dir,
        }
    }

    /// A real API token (stored hashed in the token store), as an admin
    /// would create it with `pitchgrade token create`.
    pub async fn token(&self, role: ApiRole, rep: Option<&str>) -> String {
        self.firm_token(role, rep, None).await
    }

    /// [`token`](Self::token) bound to a partner firm (a partner admin's, or a
    /// partner-side reviewer's).
    pub async fn firm_token(&self, role: ApiRole, rep: Option<&str>, firm: Option<&str>) -> String {
        self.issue(role, rep, firm, None).await
    }

    /// A token carrying the display name of the person it acts as ("Rita").
    pub async fn named_token(&self, role: ApiRole, name: &str) -> String {
        self.issue(role, None, None, Some(name)).await
    }

    async fn issue(
        &self,
        role: ApiRole,
        rep: Option<&str>,
        firm: Option<&str>,
        name: Option<&str>,
    ) -> String {
        issue(
            self.parts.repo.as_ref(),
            &TokenRequest {
                role,
                rep: rep.map(str::to_string),
                firm: firm.map(str::to_string),
                label: Some("browser test".into()),
                name: name.map(str::to_string),
                expires_in: None,
            },
        )
        .await
        .expect("token issued")
        .token
    }

    /// `GET {path}` on the API with a bearer token, as JSON.
    pub async fn api_get(&self, token: &str, path: &str) -> serde_json::Value {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("API request");
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().await.expect("API JSON")
    }

    /// Submits a recording through the API (multipart), as a rep's app would.
    pub async fn submit_file(&self, token: &str, rubric: &str, file: &Path) -> uuid::Uuid {
        let form = reqwest::multipart::Form::new()
            .text("rubric", rubric.to_string())
            .part(
                "file",
                reqwest::multipart::Part::bytes(std::fs::read(file).unwrap()).file_name("pitch"),
            );
        let response = reqwest::Client::new()
            .post(format!("{}/v1/submissions", self.base))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("POST /v1/submissions");
        assert_eq!(response.status(), 202, "submitting through the API");
        let created: serde_json::Value = response.json().await.expect("JSON");
        created["id"].as_str().expect("id").parse().expect("a uuid")
    }

    /// Waits until the worker has finished with a submission. Generous: on a
    /// shared 2-core CI machine a minute of speech can take several minutes
    /// to transcribe while other test binaries run beside it.
    pub async fn graded(&self, id: uuid::Uuid) -> pitchgrade::store::db::SubmissionView {
        for _ in 0..3000 {
            let view = self.parts.repo.get_submission(id).await.unwrap().unwrap();
            if matches!(
                view.submission.status,
                SubmissionStatus::Graded | SubmissionStatus::NeedsReview | SubmissionStatus::Failed
            ) {
                return view;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        panic!("submission {id} was not graded within ten minutes");
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
    // Under the target dir (not the source tree): screenshots are run output.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("browser-screenshots")
        .join(test);
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
