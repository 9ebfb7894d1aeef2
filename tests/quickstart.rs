//! The README's four walk-throughs (operator, rep, reviewer, enablement), run
//! as a newcomer runs them: the scripts in `docs/quickstart/`, in order, from
//! a folder that looks like a fresh checkout, with `pitchgrade` on the PATH
//! and nothing configured — the embedded defaults, local Whisper (tiny.en)
//! and the offline judge grading the bundled recordings for real.
//!
//! The README shows the same scripts; the first test holds it to them, so a
//! walk-through that is edited in one place and not the other fails here.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_pitchgrade");
const WALKS: [&str; 4] = ["operator.sh", "rep.sh", "reviewer.sh", "enablement.sh"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A script's commands: what follows its `set -euo pipefail`.
fn body(script: &str) -> String {
    let text = std::fs::read_to_string(root().join("docs/quickstart").join(script))
        .unwrap_or_else(|e| panic!("docs/quickstart/{script}: {e}"));
    let (_, after) = text
        .split_once("set -euo pipefail\n")
        .unwrap_or_else(|| panic!("{script} runs under `set -euo pipefail`"));
    after.trim_matches('\n').to_string()
}

#[test]
fn the_readme_shows_each_walk_through_as_the_script_that_ci_runs() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    for script in WALKS {
        let body = body(script);
        assert!(
            readme.contains(&format!("```sh\n{body}\n```")),
            "README.md does not show docs/quickstart/{script} as it is; copy the script's \
             commands (after `set -euo pipefail`) into its block"
        );
    }
}

/// Stops the server the operator's walk-through left running.
struct Served(PathBuf);

impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.0.join("pitchgrade-serve.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Runs one walk-through in `dir` and insists it succeeds.
fn walk(dir: &Path, script: &str, env: &[(&str, String)]) -> String {
    let bin_dir = Path::new(BIN).parent().expect("the binary's folder");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new("bash");
    command
        .arg(root().join("docs/quickstart").join(script))
        .current_dir(dir)
        .env("PATH", path);
    // Nothing configured: whatever the test runner's environment says about
    // databases, stores, programs or tokens must not leak into a newcomer's run.
    for (key, _) in std::env::vars() {
        if key.starts_with("PITCHGRADE_") {
            command.env_remove(key);
        }
    }
    for (key, value) in env {
        command.env(key, value);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("bash runs");
    let stdout = String::from_utf8_lossy(&stdout).into_owned();
    let stderr = String::from_utf8_lossy(&stderr);
    let log = std::fs::read_to_string(dir.join("pitchgrade-serve.log")).unwrap_or_default();
    assert!(
        status.success(),
        "{script} failed ({status})\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- server log (tail)\n{}",
        tail(&log, 40)
    );
    eprintln!("--- {script}\n{stdout}");
    stdout
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The folder a newcomer works in: the checkout's shipped files (program,
/// rubrics, labelled sets, fixtures, models), and nothing else.
fn fresh_checkout() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for shipped in ["config", "rubrics", "fixtures", "models"] {
        let from = root().join(shipped);
        if from.exists() {
            std::os::unix::fs::symlink(&from, dir.path().join(shipped)).expect("symlink");
        }
    }
    dir
}

#[test]
fn the_four_walk_throughs_work_in_order_on_a_fresh_install() {
    let dir = fresh_checkout();
    let listen = format!("127.0.0.1:{}", free_port());
    let server = format!("http://{listen}");
    let _served = Served(dir.path().to_path_buf());

    // Operator: the server is up on the embedded defaults, the firm and reps
    // are enrolled and every token was written.
    let out = walk(
        dir.path(),
        "operator.sh",
        &[("PITCHGRADE_LISTEN", listen.clone())],
    );
    assert!(
        out.contains(&format!("pitchgrade is serving {server}")),
        "{out}"
    );
    assert!(out.contains("pitchgrade_"), "metrics answered: {out}");
    assert!(
        dir.path().join("pitchgrade-data/pitchgrade.db").exists(),
        "state under ./pitchgrade-data"
    );
    for token in ["alice", "ben", "reviewer", "enablement", "acme-admin"] {
        let t = std::fs::read_to_string(dir.path().join(format!("{token}.token"))).unwrap();
        assert!(t.trim().starts_with("pgt_"), "{token}.token: {t:?}");
    }

    // Rep: the sample pitch passes, certifies alice on the sales track with
    // its rights, and the later look-ups agree.
    let env = [("PITCHGRADE_SERVER", server.clone())];
    let out = walk(dir.path(), "rep.sh", &env);
    assert!(out.contains("Decision: PASS"), "{out}");
    assert!(out.contains("Certification: sales"), "{out}");
    assert!(
        out.contains("\"selling\""),
        "the rights look-up names selling: {out}"
    );
    let retake_says_no = out.contains("\"allowed\": false");
    assert!(
        retake_says_no,
        "a certified rep is not offered a retake: {out}"
    );

    // Reviewer: ben's borderline sample waits for a human; the reviewer
    // claims it and passes it with a reason.
    let out = walk(dir.path(), "reviewer.sh", &env);
    assert!(out.contains("ben"), "ben's grade is in the queue: {out}");
    assert!(
        out.contains("\"pass\""),
        "the decision came back as pass: {out}"
    );

    // Enablement: the rubric lints clean, the labelled set is measured, the
    // report counts what just happened, an edit is replayed against the two
    // grades, and the sweep looks a year ahead.
    let out = walk(dir.path(), "enablement.sh", &env);
    assert!(out.contains("κ") || out.contains("kappa"), "{out}");
    assert!(out.contains("acme"), "the report covers the firm: {out}");
    assert!(
        out.contains("Replay of ledgerly-sales-pitch v2") && out.contains("over 2 stored grades"),
        "the edit is replayed against alice's and ben's grades: {out}"
    );
    assert!(
        out.contains("rule: a replay never changes a certification"),
        "{out}"
    );
}
