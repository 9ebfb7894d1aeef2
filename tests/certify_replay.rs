//! Replaying a rubric change against past grades, on SQLite and PostgreSQL:
//! the diff an enablement lead reads before shipping (decisions that move,
//! criteria that flip and why, first-attempt pass rate, certifications at
//! stake), the same replay with another judge, and `apply`, which stores
//! grade versions beside the originals and changes no certification.

#[macro_use]
#[path = "common/stories.rs"]
mod stories;
#[path = "common/store.rs"]
#[allow(dead_code)]
mod harness;
#[path = "common/certify.rs"]
mod seed;

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use harness::{t0, TestDb};
use pitchgrade::certify::replay::{self, ReplayOptions};
use pitchgrade::certify::{apply_decision, gating};
use pitchgrade::pipeline::stored::StoredGrade;
use pitchgrade::rubric::{LoadedRubric, Rubric};
use pitchgrade::score::decide::{Decision, Verdict};
use pitchgrade::score::judge::{Judge, JudgeError, Judgement, Question};
use pitchgrade::store::db::certification::AuditFilter;
use pitchgrade::store::Repo;
use pitchgrade::transcribe::Transcript;
use seed::*;

stories! {
    sqlite(db = TestDb::sqlite().await) => db.repo.clone(),
    postgres(db = TestDb::postgres().await) => db.repo.clone();
    [a_replay_shows_what_a_rubric_change_would_do]
}

/// Reads the pitch as its markers say: `HALF:<criterion>` is partial credit,
/// `MISS:<criterion>` none; a strict judge reads every `HALF:` as a miss.
struct MarkerJudge {
    strict: bool,
}

#[async_trait::async_trait]
impl Judge for MarkerJudge {
    fn name(&self) -> &str {
        if self.strict {
            "strict-markers"
        } else {
            "markers"
        }
    }
    fn model(&self) -> &str {
        "v1"
    }
    async fn judge(
        &self,
        _rubric: &Rubric,
        q: &Question,
        t: &Transcript,
    ) -> Result<Judgement, JudgeError> {
        let id = &q.criterion_id;
        let (credit, why) = if t.text.contains(&format!("MISS:{id}")) {
            (0.0, format!("{id} is not said"))
        } else if t.text.contains(&format!("HALF:{id}")) {
            if self.strict {
                (
                    0.0,
                    format!("{id} is only gestured at, which counts for nothing"),
                )
            } else {
                (0.5, format!("{id} is gestured at without substance"))
            }
        } else {
            (1.0, format!("{id} is made"))
        };
        Ok(Judgement {
            criterion_id: id.clone(),
            credit,
            level: String::new(),
            evidence: Vec::new(),
            rationale: why,
            raw: None,
            unsure: None,
        })
    }
}

fn shipped(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("rubrics")
        .join(name)
}

/// The shipped sales rubric, edited as enablement might for next quarter:
/// version 2 makes customer proof required.
fn next_quarter() -> LoadedRubric {
    let text = std::fs::read_to_string(shipped("ledgerly-sales-pitch.toml")).unwrap();
    let edited = text.replacen("version = 1", "version = 2", 1).replacen(
        "required = [\"value_prop\", \"next_step\"]",
        "required = [\"value_prop\", \"next_step\", \"customer_proof\"]",
        1,
    );
    assert_ne!(text, edited, "the edit applies");
    pitchgrade::rubric::parse("next-quarter.toml", edited.as_bytes()).unwrap()
}

/// A graded, decided submission whose stored grade keeps its transcript, as
/// the worker stores it.
async fn graded(repo: &dyn Repo, rep: &str, pitch: &str, at: DateTime<Utc>) -> uuid::Uuid {
    let rubric = pitchgrade::rubric::load(&shipped("ledgerly-sales-pitch.toml")).unwrap();
    let transcript = pitchgrade::score::transcript_input::from_text(pitch);
    let grade =
        pitchgrade::score::grade(&rubric, &transcript, None, &MarkerJudge { strict: false }).await;
    let (decision, score) = (grade.decision, grade.score);
    let stored = StoredGrade {
        grade,
        transcript: Some(transcript),
        audio: None,
        timings: None,
    };
    let sub = seed_stored(
        repo,
        Seeded {
            object_key: format!("uploads/test/{}", uuid::Uuid::now_v7()),
            grade: stored.to_json().unwrap(),
            ..Seeded::new(rep, SALES, decision, score, at)
        },
    )
    .await;
    apply_decision(repo, &program(), sub, at).await.unwrap();
    sub
}

async fn a_replay_shows_what_a_rubric_change_would_do(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    let p = program();
    add_firm(repo, "northwind", None, t0()).await;
    for rep in ["ana", "ben", "cy", "dee"] {
        add_rep(repo, rep, "northwind", "sales", true, t0()).await;
    }
    let hour = |n| t0() + TimeDelta::hours(n);
    graded(repo, "ana", "A complete pitch.", hour(1)).await;
    let ben = graded(repo, "ben", "Proof is thin: HALF:customer_proof.", hour(2)).await;
    let cy = graded(
        repo,
        "cy",
        "No customer story: MISS:customer_proof.",
        hour(3),
    )
    .await;
    graded(repo, "dee", "No close: MISS:next_step.", hour(4)).await;
    // A grade from before transcripts were kept cannot be replayed; it is said.
    let old = seed_grade(repo, "dee", SALES, Decision::Fail, 40.0, &[], hour(5)).await;
    let now = hour(6);
    assert!(gating::can(repo, &p, "cy", "selling", now).await.unwrap());

    let new = next_quarter();
    let judge = MarkerJudge { strict: false };
    let r = replay::replay(repo, Some(&p), &new, &judge, &ReplayOptions::default(), now)
        .await
        .unwrap();
    assert_eq!(r.replayed, 4);
    assert_eq!((r.rubric_id.as_str(), r.new_version), (SALES, 2));
    assert_eq!(r.old_versions.iter().copied().collect::<Vec<_>>(), [1]);
    assert_eq!(r.skipped.len(), 1);
    assert_eq!(r.skipped[0].submission_id, old);
    assert!(
        r.skipped[0].reason.contains("no transcript"),
        "{:?}",
        r.skipped
    );
    assert_eq!(r.count(Decision::Pass, Decision::Pass), 1, "ana");
    assert_eq!(
        r.count(Decision::Pass, Decision::Borderline),
        1,
        "ben: now a required partial"
    );
    assert_eq!(
        r.count(Decision::Pass, Decision::Fail),
        1,
        "cy: now a required miss"
    );
    assert_eq!(r.count(Decision::Fail, Decision::Fail), 1, "dee");
    let changed: Vec<(&str, Decision)> = r
        .changed
        .iter()
        .map(|c| (c.rep_id.as_str(), c.after.decision))
        .collect();
    assert_eq!(
        changed,
        [("ben", Decision::Borderline), ("cy", Decision::Fail)]
    );
    // Same judge, same verdicts: only the rule moved them.
    assert!(r.changed.iter().all(|c| c.flips.is_empty()));
    assert!(r.criteria.iter().all(|c| c.agreement.rate == Some(1.0)));
    // First attempts: 3 of 4 passed; after, ben's would go to a reviewer,
    // whose decision (his pass) stands in: ana and ben of 4.
    assert_eq!(
        (r.first_attempt.before.count, r.first_attempt.before.total),
        (3, 4)
    );
    assert_eq!(
        (r.first_attempt.after.count, r.first_attempt.after.total),
        (2, 4)
    );
    // Cy holds a certification the new rubric would not give: said, not done.
    let at_stake: Vec<(&str, &str, bool)> = r
        .certifications
        .iter()
        .map(|c| (c.rep_id.as_str(), c.change, c.applied))
        .collect();
    assert_eq!(at_stake, [("cy", "would_lose", false)]);
    let text = replay::to_text(&r);
    assert!(
        text.contains("pass ->   fail") || text.contains("pass -> fail"),
        "{text}"
    );
    assert!(text.contains("cy would lose on sales"), "{text}");
    assert!(text.contains("never changes a certification"), "{text}");
    let csv = replay::to_csv(&r);
    assert_eq!(
        csv.lines().count(),
        3,
        "a header and two changed decisions: {csv}"
    );

    // Another judge on the same file: the judge-versus-judge comparison.
    let strict = MarkerJudge { strict: true };
    let old_file = pitchgrade::rubric::load(&shipped("ledgerly-sales-pitch.toml")).unwrap();
    let vs = replay::replay(
        repo,
        Some(&p),
        &old_file,
        &strict,
        &ReplayOptions::default(),
        now,
    )
    .await
    .unwrap();
    let proof = vs
        .criteria
        .iter()
        .find(|c| c.criterion == "customer_proof")
        .unwrap();
    assert_eq!((proof.agreement.count, proof.agreement.total), (3, 4));
    assert!(
        vs.changed.is_empty(),
        "ben's 90 still passes: {:?}",
        vs.changed
    );
    let flipped = replay::replay(
        repo,
        Some(&p),
        &new,
        &strict,
        &ReplayOptions::default(),
        now,
    )
    .await
    .unwrap();
    let ben_change = flipped
        .changed
        .iter()
        .find(|c| c.submission_id == ben)
        .expect("ben now fails a required criterion");
    assert_eq!(ben_change.after.decision, Decision::Fail);
    assert_eq!(ben_change.flips.len(), 1);
    assert_eq!(ben_change.flips[0].criterion, "customer_proof");
    assert_eq!(
        (ben_change.flips[0].before, ben_change.flips[0].after),
        (Verdict::Partial, Verdict::Missed)
    );
    assert!(ben_change.flips[0].why.contains("counts for nothing"));

    // Filters: since ben's submission, and one firm.
    let since = ReplayOptions {
        since: Some(hour(2)),
        ..ReplayOptions::default()
    };
    let r2 = replay::replay(repo, Some(&p), &new, &judge, &since, now)
        .await
        .unwrap();
    assert_eq!(r2.replayed, 3, "ben, cy, dee");
    let other_firm = ReplayOptions {
        firm: Some("elsewhere".into()),
        ..ReplayOptions::default()
    };
    let r3 = replay::replay(repo, Some(&p), &new, &judge, &other_firm, now)
        .await
        .unwrap();
    assert_eq!(r3.replayed, 0);

    // Nothing changed by looking.
    assert!(repo.grade_versions(cy).await.unwrap().is_empty());
    // Apply: grade versions beside the originals, audited; the certification stays.
    let stored = replay::apply(repo, &r, "cli:rubric-replay", now)
        .await
        .unwrap();
    assert_eq!(stored, 4);
    let versions = repo.grade_versions(cy).await.unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].decision, Decision::Fail);
    assert_eq!(versions[0].rubric_version, 2);
    assert_eq!(versions[0].rubric_sha256, new.sha256);
    assert!(
        !versions[0].summary.to_string().contains("customer story"),
        "no words of the pitch in a version"
    );
    let original = repo
        .get_submission(cy)
        .await
        .unwrap()
        .unwrap()
        .grade
        .unwrap();
    assert_eq!(
        original.decision,
        Decision::Pass,
        "the original grade is kept"
    );
    assert!(gating::can(repo, &p, "cy", "selling", now).await.unwrap());
    let audit = repo
        .audit_log(&AuditFilter {
            submission_id: Some(cy),
            action_prefix: Some("grade.replayed".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].detail["decision_after"], "fail");
    let trail = pitchgrade::certify::audit_trail::build(
        repo,
        &repo.get_submission(cy).await.unwrap().unwrap(),
        pitchgrade::certify::audit_trail::Audience::Staff,
    )
    .await
    .unwrap();
    assert!(
        trail
            .iter()
            .any(|l| l.what.contains("re-scored it with rubric v2")),
        "{trail:?}"
    );
}
