//! `pitchgrade serve` and `pitchgrade submit` as a user runs them: real
//! binaries, a random port, the OpenAI-compatible transcriber pointed at a
//! wiremock double, the offline judge.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::app::{judge_model_dir, repo_root, spoken_wav, verbose_json, PITCH, RUBRIC};

const BIN: &str = env!("CARGO_BIN_EXE_pitchgrade");

/// A `pitchgrade serve` child, killed on drop.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path, transcription: &str) -> Server {
    serve_with(dir, transcription, None)
}

/// `serve`, certifying under `program` when one is given.
fn serve_with(dir: &Path, transcription: &str, program: Option<&Path>) -> Server {
    let mut command = Command::new(BIN);
    if let Some(program) = program {
        command.env("PITCHGRADE_PROGRAM", program);
    } else {
        command.env_remove("PITCHGRADE_PROGRAM");
    }
    let mut child = command
        .current_dir(dir)
        .args(["serve", "--listen", "127.0.0.1:0", "--workers", "1"])
        // The test's pitch is seconds long, far shorter than the rubric asks.
        .args(["--min-recording-share", "0"])
        .arg("--rubrics")
        .arg(repo_root().join("rubrics"))
        .arg("--judge-model-dir")
        .arg(judge_model_dir())
        .args(["--backend", "openai"])
        .env("OPENAI_BASE_URL", format!("{transcription}/v1"))
        .env("OPENAI_API_KEY", "sk-test")
        .env("PITCHGRADE_ADMIN_TOKEN", "cli-admin")
        .env_remove("PITCHGRADE_DATABASE_URL")
        .env_remove("PITCHGRADE_STORAGE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pitchgrade serve starts");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("pitchgrade listening on ") {
                let _ = tx.send(url.trim().to_string());
            }
            eprintln!("serve: {line}");
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("serve prints its address");
    Server { child, url }
}

/// An OpenAI-compatible transcriber that always hears the pitch.
async fn transcription_double(seconds: f64) -> MockServer {
    let transcription = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/audio/transcriptions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(verbose_json(PITCH, seconds)))
        .mount(&transcription)
        .await;
    transcription
}

/// A rep token made by the operator's CLI, straight into `dir`'s database.
fn rep_token(dir: &Path, rep: &str) -> String {
    let out = Command::new(BIN)
        .current_dir(dir)
        .args(["token", "create", "--role", "rep", "--rep", rep])
        .env_remove("PITCHGRADE_DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_uploads_to_serve_waits_and_prints_the_grade() {
    let dir = tempfile::tempdir().unwrap();
    let (wav, seconds) = spoken_wav(dir.path(), PITCH);
    let recording = dir.path().join("my pitch.wav");
    std::fs::write(&recording, &wav).unwrap();

    let transcription = transcription_double(seconds).await;
    let server = serve(dir.path(), &transcription.uri());
    assert!(
        dir.path().join("pitchgrade-data/pitchgrade.db").exists(),
        "zero configuration: state under ./pitchgrade-data"
    );

    // The operator makes a rep token with the CLI (straight into the database).
    let token = rep_token(dir.path(), "alice");
    assert!(token.starts_with("pgt_"), "{token}");

    let submit = |file: &Path| {
        let started = Instant::now();
        let out = Command::new(BIN)
            .arg("submit")
            .arg(file)
            .args(["--rubric", RUBRIC, "--rep", "alice"])
            .args(["--server", &server.url, "--token", &token])
            .args(["--wait-seconds", "120"])
            .output()
            .unwrap();
        (out, started.elapsed())
    };
    let (out, _) = submit(&recording);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        stderr.contains(&format!("uploaded {} bytes", wav.len())),
        "the progress counter saw every byte: {stderr}"
    );
    assert!(stdout.contains("Decision:"), "{stdout}");
    assert!(stdout.contains(&format!("Rubric:   {RUBRIC}")), "{stdout}");
    assert!(stdout.contains("Backends: transcript openai"), "{stdout}");

    // The same submission through the API, as JSON.
    let out = Command::new(BIN)
        .arg("submit")
        .arg(&recording)
        .args(["--rubric", RUBRIC, "--json", "--idempotency-key", "k1"])
        .args(["--server", &server.url, "--token", &token])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["grade"]["criteria"].is_array(), "{json}");

    // A document is refused by the server: exit 2 with the reason.
    let pdf = dir.path().join("slides.pdf");
    std::fs::write(&pdf, b"%PDF-1.7\nslides".repeat(10)).unwrap();
    let (out, _) = submit(&pdf);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("PDF document, not an audio recording"),
        "{stderr}"
    );

    // A wrong token is our error (1), not the file's.
    let out = Command::new(BIN)
        .arg("submit")
        .arg(&recording)
        .args([
            "--rubric",
            RUBRIC,
            "--server",
            &server.url,
            "--token",
            "pgt_wrong",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("unauthorized"), "{stderr}");
}

/// After `submit --no-wait`, `pitchgrade result ID` fetches the grade; a
/// second attempt the retake policy refuses is the rep's to act on (exit 2),
/// with the policy's sentence said once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn result_fetches_the_grade_later_and_a_refused_retake_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let (wav, seconds) = spoken_wav(dir.path(), PITCH);
    let recording = dir.path().join("pitch.wav");
    std::fs::write(&recording, &wav).unwrap();
    let transcription = transcription_double(seconds).await;
    let program = repo_root().join("config/program.toml");
    let server = serve_with(dir.path(), &transcription.uri(), Some(&program));
    let client = reqwest::Client::new();
    for (url, body) in [
        ("/v1/firms/acme", serde_json::json!({"name": "Acme"})),
        (
            "/v1/reps/alice",
            serde_json::json!({"firm": "acme", "role": "sales"}),
        ),
    ] {
        let r = client
            .put(format!("{}{url}", server.url.trim_end_matches('/')))
            .bearer_auth("cli-admin")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{url}");
    }
    let token = rep_token(dir.path(), "alice");
    let submit = || {
        Command::new(BIN)
            .arg("submit")
            .arg(&recording)
            .args(["--rubric", RUBRIC, "--no-wait", "--json"])
            .args(["--server", &server.url, "--token", &token])
            .output()
            .unwrap()
    };

    let out = submit();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let queued: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = queued["id"].as_str().unwrap().to_string();

    let out = Command::new(BIN)
        .args(["result", &id, "--wait-seconds", "120"])
        .args(["--server", &server.url, "--token", &token])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Decision:"), "{stdout}");
    assert!(stdout.contains(&format!("Rubric:   {RUBRIC}")), "{stdout}");
    // A final grade says what it gave: the certification and its rights, or none.
    let graded = stdout.contains("Decision: PASS") || stdout.contains("Decision: FAIL");
    if graded {
        let line = stdout
            .lines()
            .find(|l| l.starts_with("Certification: "))
            .unwrap_or_else(|| panic!("no certification line: {stdout}"));
        if stdout.contains("Decision: PASS") {
            assert!(
                line.contains("sales (valid until") && line.contains("selling"),
                "{line}"
            );
        } else {
            assert_eq!(line, "Certification: none yet; rights: none");
        }
    }

    // Graded (or in review): the next attempt is not allowed yet.
    let out = submit();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("pitch.wav: ") || stderr.contains("pitch.wav: "),
        "{stderr}"
    );
    assert!(
        !stderr.contains("next allowed at"),
        "the date is said once: {stderr}"
    );

    // Someone else's submission: refused, exit 1 (not the rep's file).
    let out = Command::new(BIN)
        .args([
            "result",
            &id,
            "--server",
            &server.url,
            "--token",
            "pgt_wrong",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}
