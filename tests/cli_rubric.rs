//! The `rubric` and `grade` subcommands through the real binary and the real
//! offline judge (all-MiniLM-L6-v2 from models/ or ../shared/models/).

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn model_dir() -> PathBuf {
    let local = root().join("models/all-MiniLM-L6-v2");
    if local.join("model.safetensors").exists() {
        local
    } else {
        root().join("../shared/models/all-MiniLM-L6-v2")
    }
}

fn pitchgrade() -> Command {
    let mut cmd = Command::cargo_bin("pitchgrade").expect("binary");
    cmd.current_dir(root())
        .env("PITCHGRADE_JUDGE_MODEL", model_dir());
    cmd
}

const SALES: &str = "rubrics/ledgerly-sales-pitch.toml";
const CASES: &str = "rubrics/tests/ledgerly-sales-pitch";

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn lint_passes_the_real_rubrics_and_fails_a_broken_one_with_positions() {
    let ok = pitchgrade()
        .args([
            "rubric",
            "lint",
            SALES,
            "rubrics/ledgerly-technical-demo.toml",
        ])
        .output()
        .expect("runs");
    assert!(ok.status.success(), "{}", stdout(&ok));

    let dir = tempfile::tempdir().expect("tempdir");
    let broken = dir.path().join("broken.toml");
    let text = std::fs::read_to_string(root().join(SALES)).expect("read rubric");
    std::fs::write(
        &broken,
        text.replacen("weight = 20", "weight = -20", 1).replacen(
            "version = 1",
            "version = 1\nowner = \"x\"",
            1,
        ),
    )
    .expect("write");
    let out = pitchgrade()
        .arg("rubric")
        .arg("lint")
        .arg(&broken)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with(&format!("{}:", broken.display()))),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("unknown key `owner`")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("weight must be positive")),
        "{lines:#?}"
    );
}

#[test]
fn schema_is_json_schema_for_the_rubric() {
    let out = pitchgrade()
        .args(["rubric", "schema"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["title"], "Rubric");
    assert!(v["properties"]["talking_point"].is_object());
}

/// `pitchgrade … | head` closes stdout before the command is done: it stops
/// quietly with success, not with a panic and its backtrace.
#[test]
fn a_reader_that_stops_early_gets_no_panic() {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_pitchgrade"))
        .args(["rubric", "schema"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    // Closed before the first write: every write the command makes fails.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("exits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

#[test]
fn grade_json_is_byte_identical_across_runs_and_says_what_was_unscored() {
    let run = || {
        let out = pitchgrade()
            .args([
                "grade",
                "--transcript",
                &format!("{CASES}/strong_full.txt"),
                "--rubric",
                SALES,
                "--json",
            ])
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let (a, b) = (run(), run());
    assert_eq!(a, b);
    let v: serde_json::Value = serde_json::from_slice(&a).expect("JSON");
    assert_eq!(v["decision"], "pass");
    assert_eq!(v["backends"]["judge"], "offline");
    assert_eq!(v["flags"]["audio_criteria_unscored"], true);
    let pace = v["criteria"]
        .as_array()
        .expect("criteria")
        .iter()
        .find(|c| c["id"] == "pace")
        .expect("pace");
    assert_eq!(pace["verdict"], "unscored");
    assert!(pace["score"].is_null());

    let text = pitchgrade()
        .args([
            "grade",
            "--transcript",
            &format!("{CASES}/gap_next_step.txt"),
            "--rubric",
            SALES,
        ])
        .output()
        .expect("runs");
    let report = stdout(&text);
    assert!(
        report.contains("Decision:") && report.contains("next_step (required)"),
        "{report}"
    );
}

#[test]
fn rubric_test_exits_non_zero_on_a_mismatch() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["strong_full", "off_topic"] {
        for ext in ["txt", "expect.toml"] {
            let file = format!("{name}.{ext}");
            std::fs::copy(root().join(CASES).join(&file), dir.path().join(&file))
                .expect("copy case");
        }
    }
    let run = |dir: &Path| {
        pitchgrade()
            .arg("rubric")
            .arg("test")
            .arg(dir)
            .args(["--rubric", SALES])
            .output()
            .expect("runs")
    };
    let ok = run(dir.path());
    assert!(ok.status.success(), "{}", stdout(&ok));
    assert!(stdout(&ok).contains("2 cases, 0 with mismatches"));

    std::fs::write(
        dir.path().join("off_topic.expect.toml"),
        "decision = \"pass\"\n",
    )
    .expect("relabel");
    let bad = run(dir.path());
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stdout(&bad).contains("MISMATCH: decision fail (expected pass)"),
        "{}",
        stdout(&bad)
    );
}

/// `rubric test` reports agreement, not only mismatches, and exits by the
/// bars a flag or the rubric sets.
#[test]
fn rubric_test_reports_agreement_as_json_and_exits_by_its_bars() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["strong_full", "off_topic", "buzzword_list"] {
        for ext in ["txt", "expect.toml"] {
            let file = format!("{name}.{ext}");
            std::fs::copy(root().join(CASES).join(&file), dir.path().join(&file))
                .expect("copy case");
        }
    }
    // One wrong label: the grade passes strong_full, the label says fail.
    let expect = dir.path().join("strong_full.expect.toml");
    let relabelled = std::fs::read_to_string(&expect)
        .expect("read")
        .replace("decision = \"pass\"", "decision = \"fail\"");
    std::fs::write(&expect, relabelled).expect("relabel");
    let run = |extra: &[&str]| {
        pitchgrade()
            .arg("rubric")
            .arg("test")
            .arg(dir.path())
            .args(["--rubric", SALES, "--json"])
            .args(extra)
            .output()
            .expect("runs")
    };
    let out = run(&[]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let s = &report["summary"];
    assert_eq!(s["cases"], 3);
    assert_eq!(s["false_passes"], 1, "{s}");
    assert_eq!(s["false_fails"], 0);
    let agreement = s["decision_agreement"].as_f64().expect("number");
    assert!((agreement - 2.0 / 3.0).abs() < 1e-9, "{agreement}");
    assert_eq!(s["confusion"][2][0], 1, "labelled fail, graded pass: {s}");
    assert!(s["criteria"].as_array().is_some_and(|c| !c.is_empty()));
    let case = report["cases"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "strong_full"))
        .expect("case");
    assert_eq!(
        case["inconsistent_label"], "pass",
        "the label breaks the label rule: {case}"
    );
    // No bar set: any mismatch fails, as before.
    assert_eq!(out.status.code(), Some(1));
    // A bar the set meets passes despite the mismatch; one it misses fails and says which.
    assert!(run(&["--min-decision-agreement", "0.6"]).status.success());
    let missed = run(&["--max-false-passes", "0"]);
    assert_eq!(missed.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&missed.stdout).expect("JSON");
    assert!(
        report["failures"][0]
            .as_str()
            .is_some_and(|f| f.contains("false pass")),
        "{report}"
    );
}

/// `rubric calibrate` fits a rubric's bars from its own labels: a shift set
/// far too strict by hand is fitted back and written with the version bumped;
/// a rubric the fit cannot improve on held-back pitches is left as it is.
#[test]
fn rubric_calibrate_fits_back_a_wrong_shift_and_leaves_a_good_rubric_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("sales.toml");
    let calibrate = |extra: &[&str]| {
        pitchgrade()
            .args(["rubric", "calibrate", CASES, "--rubric"])
            .arg(&file)
            .args(extra)
            .output()
            .expect("runs")
    };
    let original = std::fs::read_to_string(root().join(SALES)).expect("read");

    // Pitches that miss everything at every shift: no fit can do better.
    let hopeless = tempfile::tempdir().expect("tempdir");
    for name in ["off_topic", "buzzword_list"] {
        for ext in ["txt", "expect.toml"] {
            let f = format!("{name}.{ext}");
            std::fs::copy(root().join(CASES).join(&f), hopeless.path().join(&f)).expect("copy");
        }
    }
    std::fs::write(&file, &original).expect("write");
    let untouched = pitchgrade()
        .args(["rubric", "calibrate"])
        .arg(hopeless.path())
        .arg("--rubric")
        .arg(&file)
        .arg("--write")
        .output()
        .expect("runs");
    assert_eq!(untouched.status.code(), Some(1), "{}", stdout(&untouched));
    assert!(stdout(&untouched).contains("cross-validated (trust this)"));
    assert!(String::from_utf8_lossy(&untouched.stderr).contains("not written"));
    assert_eq!(std::fs::read_to_string(&file).expect("read"), original);

    // Every met bar 0.10 higher: strong pitches lose their points.
    let strict = format!("{original}\n[judge_bars]\nshift = 0.10\n");
    std::fs::write(&file, &strict).expect("write");
    let report = calibrate(&["--json"]);
    assert!(report.status.success());
    let c: serde_json::Value = serde_json::from_slice(&report.stdout).expect("JSON");
    let cv = c["cross_validated"]["decision_agreement"]
        .as_f64()
        .expect("cv");
    let written = c["as_written"]["decision_agreement"]
        .as_f64()
        .expect("as written");
    assert!(
        cv > written,
        "the fit must beat the too-strict bars held back: {c}"
    );
    assert_eq!(
        c["cases"].as_array().map(Vec::len),
        Some(25),
        "CV cases listed"
    );

    let fitted = calibrate(&["--write"]);
    assert!(fitted.status.success(), "{}", stdout(&fitted));
    let text = std::fs::read_to_string(&file).expect("read");
    assert_eq!(text.matches("[judge_bars]").count(), 1, "{text}");
    assert!(text.contains("\nversion = 2\n"), "version bumped: {text}");
    let shift: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("shift = "))
        .and_then(|v| v.parse().ok())
        .expect("a shift line");
    assert!(
        shift < 0.05,
        "fitted back towards the judge's own bars: {shift}"
    );
    let lint = pitchgrade()
        .args(["rubric", "lint"])
        .arg(&file)
        .output()
        .expect("runs");
    assert!(lint.status.success(), "{}", stdout(&lint));
}
