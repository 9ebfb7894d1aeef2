//! Certification test helpers: a program with every kind of track, firms and
//! reps, and grades seeded through the real queue path
//! (`create_submission_with_job` → `claim` → `complete`), exactly as a worker
//! writes them.
#![allow(dead_code)]

use std::time::Duration;

use chrono::{DateTime, Utc};
use pitchgrade::certify::program::Program;
use pitchgrade::score::decide::{Decision, Verdict};
use pitchgrade::store::db::certification::{NewFirm, NewRep};
use pitchgrade::store::db::{JobKind, NewGrade, NewJob, NewSubmission};
use pitchgrade::store::Repo;
use serde_json::{json, Value};
use uuid::Uuid;

/// Sales (12 months, reminders 60/30/7, an MSP path), technical (24 months,
/// one reminder), and a specialty on the sales track; three tiers.
pub const PROGRAM: &str = r#"
name = "test program"

[rights.selling]
[rights.deal_registration]
[rights.pre_sales]
[rights.marketplace_listing]

[tracks.sales]
kind = "sales"
rubric = "ledgerly-sales-pitch"
term_months = 12
reminder_days = [60, 30, 7]
rights = ["selling", "deal_registration"]
[tracks.sales.retake]
cooldown_days = 7
max_attempts = 3
window_days = 90
[[tracks.sales.path]]
segments = ["msp"]
rubric = "ledgerly-sales-pitch-msp"

[tracks.technical]
kind = "technical"
rubric = "ledgerly-technical-demo"
term_months = 24
reminder_days = [60]
rights = ["pre_sales"]
[tracks.technical.retake]
cooldown_days = 14
max_attempts = 2
window_days = 60

[tracks.close-specialist]
kind = "specialty"
base = "sales"
rubric = "ledgerly-close-specialist"
term_months = 12
reminder_days = [30]
rights = ["marketplace_listing"]

[[tier]]
name = "gold"
[[tier.require]]
track = "sales"
min_certified = 8
min_coverage = 0.6
[[tier.require]]
track = "technical"
min_certified = 2

[[tier]]
name = "silver"
[[tier.require]]
track = "sales"
min_certified = 4
min_coverage = 0.3

[[tier]]
name = "registered"
[[tier.require]]
track = "sales"
min_certified = 1
"#;

pub const SALES: &str = "ledgerly-sales-pitch";
pub const SALES_MSP: &str = "ledgerly-sales-pitch-msp";
pub const TECHNICAL: &str = "ledgerly-technical-demo";
pub const SPECIALIST: &str = "ledgerly-close-specialist";

pub fn program() -> Program {
    Program::parse("test program", PROGRAM, None).expect("test program is valid")
}

/// The criteria a test grade carries for a rubric: (id, max points, required).
pub fn criteria_of(rubric: &str) -> &'static [(&'static str, f64, bool)] {
    match rubric {
        TECHNICAL => &[
            ("erp_sync", 15.0, true),
            ("matching_rules", 15.0, true),
            ("audit_controls", 10.0, false),
            ("data_security", 10.0, false),
        ],
        _ => &[
            ("value_prop", 20.0, true),
            ("reconciliation_automation", 15.0, false),
            ("customer_proof", 10.0, false),
            ("next_step", 10.0, true),
            ("price", 10.0, false),
        ],
    }
}

/// A grade as the scorer writes it (docs/grade-json.md), with the given
/// verdicts; criteria not listed are met.
pub fn grade_json(
    rubric: &str,
    decision: Decision,
    score: f64,
    verdicts: &[(&str, Verdict)],
) -> Value {
    let criteria: Vec<Value> = criteria_of(rubric)
        .iter()
        .map(|(id, max, required)| {
            let verdict = verdicts
                .iter()
                .find(|(v, _)| v == id)
                .map_or(Verdict::Met, |(_, v)| *v);
            let points = match verdict {
                Verdict::Met => Some(*max),
                Verdict::Partial => Some(max / 2.0),
                Verdict::Missed => Some(0.0),
                Verdict::Unscored => None,
            };
            json!({
                "id": id, "kind": "talking_point", "required": required,
                "score": points, "max": max, "verdict": verdict,
                "evidence": [], "rationale": "test"
            })
        })
        .collect();
    let reasons = match decision {
        Decision::Pass => vec![
            json!({"code": "above_bar", "message": format!("score {score} reaches the pass bar 70")}),
        ],
        Decision::Fail => vec![
            json!({"code": "below_bar", "message": format!("score {score} is below the pass bar 70")}),
        ],
        Decision::Borderline => vec![
            json!({"code": "inside_band", "message": format!("score {score} is within 5 of the pass bar 70")}),
        ],
    };
    json!({
        "decision": decision,
        "score": score,
        "pass_score": 70.0,
        "borderline_band": 5.0,
        "reasons": reasons,
        "criteria": criteria,
        "rubric": {"id": rubric, "version": 1, "sha256": "0".repeat(64)},
        "backends": {"transcriber": "local", "transcriber_model": "ggml-tiny.en.bin", "judge": "offline", "judge_model": "test"},
        "flags": {"injection_flagged": false, "injection_evidence": [], "filler_count_is_lower_bound": true,
                  "synthetic_word_times": false, "audio_criteria_unscored": false}
    })
}

/// Creates a submission and grades it through the queue, as a worker would.
/// Returns the submission id. The grade is written but not applied.
pub async fn seed_grade(
    repo: &dyn Repo,
    rep: &str,
    rubric: &str,
    decision: Decision,
    score: f64,
    verdicts: &[(&str, Verdict)],
    now: DateTime<Utc>,
) -> Uuid {
    seed_stored(
        repo,
        Seeded {
            object_key: format!("uploads/test/{}", Uuid::now_v7()),
            grade: grade_json(rubric, decision, score, verdicts),
            ..Seeded::new(rep, rubric, decision, score, now)
        },
    )
    .await
}

/// A graded submission for [`seed_stored`] to write.
pub struct Seeded<'a> {
    pub rep: &'a str,
    pub rubric: &'a str,
    /// The recording's key (store the object yourself when it must exist).
    pub object_key: String,
    pub idempotency_key: Option<String>,
    pub decision: Decision,
    pub score: f64,
    /// The stored grade document.
    pub grade: Value,
    /// When it was submitted and graded.
    pub at: DateTime<Utc>,
    /// When its job becomes runnable: `at` where nothing else works the
    /// queue; later where a server's own worker must leave it alone.
    pub runnable_at: DateTime<Utc>,
}

impl<'a> Seeded<'a> {
    /// A grade of `rubric` with every criterion met unless the decision is
    /// not a pass, at `at`, runnable at once.
    pub fn new(
        rep: &'a str,
        rubric: &'a str,
        decision: Decision,
        score: f64,
        at: DateTime<Utc>,
    ) -> Self {
        let verdicts: &[(&str, Verdict)] = match decision {
            Decision::Pass => &[],
            _ => &[("customer_proof", Verdict::Missed)],
        };
        Seeded {
            rep,
            rubric,
            object_key: format!("uploads/test/{}", Uuid::now_v7()),
            idempotency_key: None,
            decision,
            score,
            grade: grade_json(rubric, decision, score, verdicts),
            at,
            runnable_at: at,
        }
    }
}

/// Writes the submission and its grade through the real queue path
/// (`create_submission_with_job` → `claim` → `complete`); the grade is not
/// applied. Returns the submission id.
pub async fn seed_stored(repo: &dyn Repo, s: Seeded<'_>) -> Uuid {
    let created = repo
        .create_submission_with_job(
            &NewSubmission {
                rep_id: s.rep.to_string(),
                rubric_id: s.rubric.to_string(),
                object_key: s.object_key,
                content_type: "audio/mp4".into(),
                byte_size: 1000,
                idempotency_key: s.idempotency_key,
            },
            &NewJob {
                kind: JobKind::Grade,
                max_attempts: 3,
                run_at: s.runnable_at,
            },
            s.at,
        )
        .await
        .expect("create submission");
    let submission = created.submission.id;
    let job = repo
        .claim("test-worker", Duration::from_secs(60), s.runnable_at)
        .await
        .expect("claim")
        .expect("the job just enqueued is runnable");
    assert_eq!(job.submission_id, submission, "claimed someone else's job");
    repo.complete(
        job.job_id,
        job.attempt,
        &NewGrade {
            decision: s.decision,
            score: s.score,
            grade: s.grade,
        },
        s.at,
    )
    .await
    .expect("complete");
    submission
}

/// A submission with its job queued (not graded).
pub async fn submit(repo: &dyn Repo, rep: &str, rubric: &str, now: DateTime<Utc>) -> Uuid {
    let created = repo
        .create_submission_with_job(
            &NewSubmission {
                rep_id: rep.to_string(),
                rubric_id: rubric.to_string(),
                object_key: format!("uploads/test/{}", Uuid::now_v7()),
                content_type: "audio/mp4".into(),
                byte_size: 1000,
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
        .expect("create submission");
    created.submission.id
}

pub async fn add_firm(repo: &dyn Repo, id: &str, segment: Option<&str>, now: DateTime<Utc>) {
    repo.upsert_firm(
        &NewFirm {
            id: id.into(),
            name: format!("{id} partners"),
            segment: segment.map(str::to_string),
        },
        now,
    )
    .await
    .expect("firm");
}

pub async fn add_rep(
    repo: &dyn Repo,
    id: &str,
    firm: &str,
    role: &str,
    active: bool,
    now: DateTime<Utc>,
) {
    repo.upsert_rep(
        &NewRep {
            id: id.into(),
            firm_id: firm.into(),
            role: role.into(),
            active,
        },
        now,
    )
    .await
    .expect("rep");
}
