//! `pitchgrade report` as enablement runs it: a small program history seeded
//! through the real queue and lifecycle into a SQLite file, then the binary's
//! CSV, JSON and text output checked against figures worked out by hand.

#[path = "common/store.rs"]
#[allow(dead_code)]
mod harness;
#[path = "common/certify.rs"]
mod seed;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use chrono::{DateTime, Months, TimeDelta, Utc};
use harness::{t0, TestDb};
use pitchgrade::certify::apply_decision;
use pitchgrade::score::decide::{Decision, Verdict};
use pitchgrade::store::Repo;
use seed::*;

fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}

/// A grade through the queue, then its certification effect, at `at`.
async fn decided(
    repo: &dyn Repo,
    rep: &str,
    decision: Decision,
    verdicts: &[(&str, Verdict)],
    at: DateTime<Utc>,
) {
    let score = if decision == Decision::Pass {
        84.0
    } else {
        41.0
    };
    let sub = seed_grade(repo, rep, SALES, decision, score, verdicts, at).await;
    apply_decision(repo, &program(), sub, at)
        .await
        .expect("decision applies");
}

/// The history, at t0 unless said otherwise, all on the sales track of firm acme:
/// - a1 passes at once;
/// - a2 fails (value proposition and next step missed), passes 10 days later;
/// - a3 fails (next step missed, price partial);
/// - a4 is on the roster but inactive, so not counted in coverage.
async fn seed_history(repo: &dyn Repo) {
    add_firm(repo, "acme", None, t0()).await;
    for rep in ["a1", "a2", "a3"] {
        add_rep(repo, rep, "acme", "sales", true, t0()).await;
    }
    add_rep(repo, "a4", "acme", "sales", false, t0()).await;
    decided(repo, "a1", Decision::Pass, &[], t0()).await;
    decided(
        repo,
        "a2",
        Decision::Fail,
        &[
            ("value_prop", Verdict::Missed),
            ("next_step", Verdict::Missed),
        ],
        t0(),
    )
    .await;
    decided(
        repo,
        "a3",
        Decision::Fail,
        &[("next_step", Verdict::Missed), ("price", Verdict::Partial)],
        t0() + TimeDelta::minutes(2),
    )
    .await;
    decided(repo, "a2", Decision::Pass, &[], t0() + days(10)).await;
}

fn report(db: &TestDb, program: &Path, at: DateTime<Utc>, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pitchgrade"))
        .arg("report")
        .args(["--database", &db.url])
        .arg("--program")
        .arg(program)
        .args(["--at", &at.to_rfc3339()])
        .args(extra)
        .output()
        .expect("run pitchgrade report")
}

/// CSV rows keyed by (section, subject, metric).
fn rows(csv: &str) -> BTreeMap<(String, String, String), String> {
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("section,subject,metric,value"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 4, "plain rows in this report: {l}");
            (
                (f[0].to_string(), f[1].to_string(), f[2].to_string()),
                f[3].to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_report_matches_figures_worked_out_by_hand() {
    let db = TestDb::sqlite().await;
    seed_history(db.repo.as_ref()).await;
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("program.toml");
    std::fs::write(&program, PROGRAM).unwrap();

    let at = t0() + days(11);
    let out = report(&db, &program, at, &["--csv", "--min-sample", "3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = rows(&String::from_utf8(out.stdout).unwrap());
    let get = |s: &str, subj: &str, m: &str| {
        got.get(&(s.into(), subj.into(), m.into()))
            .unwrap_or_else(|| panic!("no row {s},{subj},{m} in {got:?}"))
            .as_str()
    };
    // 4 final decisions, 2 passes.
    assert_eq!(get("pass_rate", "all", "count"), "2");
    assert_eq!(get("pass_rate", "all", "total"), "4");
    assert_eq!(get("pass_rate", "all", "rate"), "0.5000");
    // First attempts: a1 pass, a2 fail, a3 fail → 1/3, below the 65–80% band.
    assert_eq!(get("first_attempt_pass_rate", SALES, "rate"), "0.3333");
    assert_eq!(get("first_attempt_pass_rate", SALES, "health"), "too_hard");
    // a2 came back after a fail; a3 has not (yet): 1 of 3 pairs.
    assert_eq!(get("retake_rate", "all", "rate"), "0.3333");
    // Days from first submission to certification: a1 0, a2 10 → median 5.
    assert_eq!(get("time_to_certification", "all", "median_days"), "5.0000");
    assert_eq!(get("time_to_certification", "all", "certified_pairs"), "2");
    // Coverage counts active reps only: a1 and a2 of a1–a3.
    assert_eq!(get("coverage", "acme/sales", "eligible"), "3");
    assert_eq!(get("coverage", "acme/sales", "certified"), "2");
    assert_eq!(get("coverage", "acme/sales", "coverage"), "0.6667");
    // Silver needs 4 certified; registered needs 1.
    assert_eq!(get("firm_tier", "acme", "tier"), "registered");
    // Next step missed in both fails: 2 of 4 decisions.
    let next = format!("{SALES}/next_step");
    assert_eq!(get("criterion_miss_rate", &next, "scored"), "4");
    assert_eq!(get("criterion_miss_rate", &next, "missed"), "2");
    assert_eq!(get("criterion_miss_rate", &next, "miss_rate"), "0.5000");
    let price = format!("{SALES}/price");
    assert_eq!(get("criterion_miss_rate", &price, "partial"), "1");
    assert_eq!(get("criterion_miss_rate", &price, "missed"), "0");
    // Nothing expires within 60 days of day 11.
    assert!(!got.keys().any(|(s, _, _)| s == "tier_forecast"), "{got:?}");

    // The text report says the rubric looks too hard, in words.
    let out = report(&db, &program, at, &["--min-sample", "3"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("pass rate: 50.0% (2/4)"), "{text}");
    assert!(
        text.contains("WARNING") && text.contains("too hard"),
        "{text}"
    );
    // With the default minimum sample (10 first attempts), no verdict yet.
    let out = report(&db, &program, at, &["--csv"]);
    let got = rows(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(
        got[&(
            "first_attempt_pass_rate".into(),
            SALES.into(),
            "health".into()
        )],
        "too_few_attempts"
    );
    // The program's `[calibration] min_sample` is the one the report (and the
    // dashboard) use when no flag says otherwise.
    let calibrated = dir.path().join("calibrated.toml");
    std::fs::write(
        &calibrated,
        format!("{PROGRAM}\n[calibration]\nmin_sample = 3\n"),
    )
    .unwrap();
    let out = report(&db, &calibrated, at, &["--csv"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = rows(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(
        got[&(
            "first_attempt_pass_rate".into(),
            SALES.into(),
            "health".into()
        )],
        "too_hard"
    );
}

#[tokio::test]
async fn the_forecast_names_the_day_a_firm_drops_a_tier() {
    let db = TestDb::sqlite().await;
    seed_history(db.repo.as_ref()).await;
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("program.toml");
    std::fs::write(&program, PROGRAM).unwrap();

    // 30 days before a1's certification expires; a2's runs 10 days longer, and
    // "registered" needs one certified rep, so acme drops when a2's lapses.
    let expiry_a2 = (t0() + days(10))
        .checked_add_months(Months::new(12))
        .unwrap();
    let at = t0().checked_add_months(Months::new(12)).unwrap() - days(30);
    let out = report(&db, &program, at, &["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let forecast = json["tier_forecast"].as_array().expect("forecast list");
    assert_eq!(forecast.len(), 1, "{json:#}");
    assert_eq!(forecast[0]["firm_id"], "acme");
    assert_eq!(forecast[0]["tier_now"], "registered");
    assert!(forecast[0]["tier_after"].is_null(), "{json:#}");
    let drops_at: DateTime<Utc> = forecast[0]["drops_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(drops_at, expiry_a2);

    // A shorter horizon does not reach it.
    let out = report(&db, &program, at, &["--json", "--forecast-days", "30"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["tier_forecast"], serde_json::json!([]), "{json:#}");
}

#[test]
fn a_broken_program_stops_the_report_with_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("program.toml");
    std::fs::write(
        &program,
        PROGRAM
            .replace("term_months = 24", "term_months = 18")
            .replace("reminder_days = [60, 30, 7]", "reminder_days = [7, 30]"),
    )
    .unwrap();
    let db = dir.path().join("none.db");
    let out = Command::new(env!("CARGO_BIN_EXE_pitchgrade"))
        .arg("report")
        .args(["--database", &format!("sqlite://{}", db.display())])
        .arg("--program")
        .arg(&program)
        .output()
        .expect("run pitchgrade report");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tracks.technical.term_months"), "{err}");
    assert!(err.contains("tracks.sales.reminder_days"), "{err}");
}

fn sweep(db: &TestDb, program: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pitchgrade"))
        .arg("sweep")
        .args(["--database-url", &db.url])
        .arg("--program")
        .arg(program)
        .args(extra)
        .output()
        .expect("run pitchgrade sweep")
}

/// `pitchgrade sweep --at DATE` shows what would fire then, and writes
/// nothing: the same dry run twice gives the same events, and the ledger a
/// real pass would change is untouched.
#[tokio::test]
async fn a_dry_run_sweep_shows_reminders_and_lapses_and_changes_nothing() {
    let db = TestDb::sqlite().await;
    seed_history(db.repo.as_ref()).await;
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("program.toml");
    std::fs::write(&program, PROGRAM).unwrap();
    // a1 passed at t0 and a2 ten days later; the sales term is 12 months and
    // reminders go out 60, 30 and 7 days before.
    let expiry_a1 = t0().checked_add_months(Months::new(12)).unwrap();

    let early = (expiry_a1 - days(59)).to_rfc3339();
    let out = sweep(&db, &program, &["--at", &early, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let events = json["events"].as_array().unwrap();
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["rep_id"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, [("certification.expiring", "a1")], "{json:#}");

    let late = (expiry_a1 + days(1)).format("%Y-%m-%d").to_string();
    let out = sweep(&db, &program, &["--at", &late]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("dry run"), "{text}");
    let a1: Vec<&str> = text.lines().filter(|l| l.contains(" a1 ")).collect();
    assert!(
        a1.iter().any(|l| l.contains("certification.expired")),
        "{text}"
    );
    assert!(a1.iter().any(|l| l.contains("rights.paused")), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains(" a2 ") && l.contains("certification.expiring")),
        "{text}"
    );
    // Nothing was written: a1 is still valid, and the dry run repeats.
    let ledger = db.repo.rep_ledger("a1").await.unwrap();
    assert!(ledger
        .certifications
        .iter()
        .all(|c| c.status == pitchgrade::store::db::certification::CertStatus::Valid));
    let again = sweep(&db, &program, &["--at", &late]);
    assert_eq!(String::from_utf8_lossy(&again.stdout), text);

    // A real pass at a future instant is refused.
    let out = sweep(&db, &program, &["--at", &late, "--apply"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("dry run"));
}

/// `pitchgrade report --firm` is one firm's figures; `pitchgrade rep erase`
/// erases a rep (their decisions stay, under a pseudonym) and says so when
/// there is nobody left to erase.
#[tokio::test]
async fn one_firm_s_report_and_an_erasure_from_the_command_line() {
    let db = TestDb::sqlite().await;
    seed_history(db.repo.as_ref()).await;
    add_firm(db.repo.as_ref(), "globex", None, t0()).await;
    add_rep(db.repo.as_ref(), "g1", "globex", "sales", true, t0()).await;
    decided(db.repo.as_ref(), "g1", Decision::Pass, &[], t0()).await;
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("program.toml");
    std::fs::write(&program, PROGRAM).unwrap();
    let at = t0() + days(20);

    let json = |out: &Output| -> serde_json::Value {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let all = json(&report(&db, &program, at, &["--json"]));
    let acme = json(&report(&db, &program, at, &["--json", "--firm", "acme"]));
    let firms = |r: &serde_json::Value| -> Vec<String> {
        r["coverage"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["firm_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(firms(&all), ["acme", "globex"]);
    assert_eq!(firms(&acme), ["acme"]);
    // acme: a1 pass, a2 fail then pass, a3 fail; globex's pass is not counted.
    assert_eq!(acme["pass_rate"]["total"], 4, "{acme}");
    assert_eq!(all["pass_rate"]["total"], 5, "{all}");
    let unknown = report(&db, &program, at, &["--firm", "initech"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no firm \"initech\""));

    let objects = tempfile::tempdir().unwrap();
    let storage = url::Url::from_directory_path(objects.path()).unwrap();
    let erase = || {
        Command::new(env!("CARGO_BIN_EXE_pitchgrade"))
            .args(["rep", "erase", "a2", "--requested-by", "DSR-7"])
            .args(["--database-url", &db.url])
            .args(["--storage-url", storage.as_str()])
            .arg("--program")
            .arg(&program)
            .output()
            .expect("run pitchgrade rep erase")
    };
    let out = erase();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(said.starts_with("erased: 2 recordings"), "{said}");
    assert!(db.repo.get_rep("a2").await.unwrap().is_none());
    assert!(db
        .repo
        .list_decisions(Some("a2"), None)
        .await
        .unwrap()
        .is_empty());
    let after = json(&report(&db, &program, at, &["--json", "--firm", "acme"]));
    assert_eq!(
        after["pass_rate"], acme["pass_rate"],
        "the figures still add up"
    );
    let again = erase();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("no rep \"a2\" to erase"));
}

/// Run from a folder that is not the checkout, commands still find what
/// ships with pitchgrade: the program (`report`), the offline judge's model
/// (`grade` of a typed pitch). One rule: `pitchgrade::install::shipped`.
#[tokio::test]
async fn commands_find_the_shipped_files_from_any_folder() {
    let elsewhere = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", elsewhere.path().join("pg.db").display());
    let out = Command::new(env!("CARGO_BIN_EXE_pitchgrade"))
        .current_dir(elsewhere.path())
        .args(["report", "--database-url", &db, "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["pass_rate"]["total"], 0, "{report}");

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_pitchgrade"))
        .current_dir(elsewhere.path())
        .args(["grade", "--transcript"])
        .arg(root.join("fixtures/sample-pitch.txt"))
        .arg("--rubric")
        .arg(root.join("rubrics/ledgerly-sales-pitch.toml"))
        .env_remove("PITCHGRADE_JUDGE_MODEL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Decision:"), "{stdout}");
}

/// `pitchgrade rubric replay` as enablement runs it before shipping: the diff
/// as JSON from the real offline judge, `--apply` storing grade versions, and
/// a second edit under the same version refused once that version is on record.
#[tokio::test]
async fn rubric_replay_prints_the_diff_and_applies_only_when_asked() {
    let db = TestDb::sqlite().await;
    let repo = db.repo.as_ref();
    add_firm(repo, "acme", None, t0()).await;
    add_rep(repo, "a1", "acme", "sales", true, t0()).await;
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let rubric = pitchgrade::rubric::load(&root.join("rubrics/ledgerly-sales-pitch.toml")).unwrap();
    let pitch =
        std::fs::read_to_string(root.join("rubrics/tests/ledgerly-sales-pitch/strong_full.txt"))
            .unwrap();
    let transcript = pitchgrade::score::transcript_input::from_text(&pitch);
    let judge = pitchgrade::score::judge::offline::OfflineJudge::load(
        &root.join("models/all-MiniLM-L6-v2"),
    )
    .unwrap();
    let grade = pitchgrade::score::grade(&rubric, &transcript, None, &judge).await;
    let stored = pitchgrade::pipeline::stored::StoredGrade {
        grade: grade.clone(),
        transcript: Some(transcript),
        audio: None,
        timings: None,
    };
    seed_stored(
        repo,
        Seeded {
            object_key: "uploads/test/replayed".into(),
            grade: stored.to_json().unwrap(),
            ..Seeded::new("a1", SALES, grade.decision, grade.score, t0())
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("program.toml");
    std::fs::write(&program, PROGRAM).unwrap();
    let v2 = dir.path().join("v2.toml");
    std::fs::write(
        &v2,
        rubric
            .text
            .replacen("version = 1", "version = 2", 1)
            .replacen("score = 70", "score = 99", 1),
    )
    .unwrap();
    let replay = |file: &Path, extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_pitchgrade"))
            .args(["rubric", "replay"])
            .arg(file)
            .args(["--database", &db.url])
            .arg("--program")
            .arg(&program)
            .args(extra)
            .output()
            .expect("run pitchgrade rubric replay")
    };
    let out = replay(&v2, &["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["replayed"], 1, "{json:#}");
    assert_eq!(json["new_version"], 2);
    assert_eq!(json["judge"], "offline");
    assert!(json["rule"]
        .as_str()
        .unwrap()
        .contains("never changes a certification"));
    let moved = json["transitions"][0]["to"].as_str().unwrap_or_default();
    if grade.score < 99.0 - 5.0 {
        assert_eq!(
            moved, "fail",
            "a 99 bar fails a {:.1}: {json:#}",
            grade.score
        );
    }
    // Nothing stored without --apply.
    let sub = repo.list_submissions("a1", 10).await.unwrap()[0].id;
    assert!(repo.grade_versions(sub).await.unwrap().is_empty());
    let out = replay(&v2, &["--apply"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("rule: a replay never changes"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("applied: 1 re-scored grades"));
    assert_eq!(repo.grade_versions(sub).await.unwrap().len(), 1);
    assert!(
        repo.rubric_version(SALES, 2).await.unwrap().is_some(),
        "v2's text is on record"
    );
    // Other bytes under the recorded v2: --apply refuses, naming the fix.
    std::fs::write(
        &v2,
        std::fs::read_to_string(&v2).unwrap() + "\n# edited again\n",
    )
    .unwrap();
    let out = replay(&v2, &["--apply"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bump `version`"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(repo.grade_versions(sub).await.unwrap().len(), 1);
}
