//! Replaying a rubric change over 1,000 stored grades (issue: rubric replay):
//! how long an enablement lead waits for the diff, on SQLite and PostgreSQL,
//! with the real offline judge and with a judge that answers at once (what
//! the store and the scoring code cost on their own).
//!
//! Run: `cargo bench --profile dev --bench replay` (PostgreSQL on 127.0.0.1:5432
//! as for the tests; the offline judge's model in models/).

#[path = "../tests/common/store.rs"]
#[allow(dead_code)]
mod harness;
#[path = "../tests/common/certify.rs"]
mod seed;

use std::path::PathBuf;
use std::time::Instant;

use harness::{t0, TestDb};
use pitchgrade::certify::replay::{self, ReplayOptions};
use pitchgrade::pipeline::stored::StoredGrade;
use pitchgrade::rubric::Rubric;
use pitchgrade::score::judge::{Judge, JudgeError, Judgement, Question};
use pitchgrade::transcribe::Transcript;

const GRADES: usize = 1000;

/// Full credit at once: the replay's own cost, without a model.
struct Instant0;

#[async_trait::async_trait]
impl Judge for Instant0 {
    fn name(&self) -> &str {
        "instant"
    }
    fn model(&self) -> &str {
        "none"
    }
    async fn judge(
        &self,
        _: &Rubric,
        q: &Question,
        _: &Transcript,
    ) -> Result<Judgement, JudgeError> {
        Ok(Judgement {
            criterion_id: q.criterion_id.clone(),
            credit: 1.0,
            level: String::new(),
            evidence: Vec::new(),
            rationale: "made".into(),
            raw: None,
            unsure: None,
        })
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let rubric = pitchgrade::rubric::load(&root.join("rubrics/ledgerly-sales-pitch.toml"))
        .expect("shipped rubric");
    let v2 = pitchgrade::rubric::parse(
        "v2",
        rubric
            .text
            .replacen("version = 1", "version = 2", 1)
            .as_bytes(),
    )
    .expect("v2");
    let cases = root.join("rubrics/tests/ledgerly-sales-pitch");
    let mut pitches: Vec<String> = std::fs::read_dir(&cases)
        .expect("labelled set")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect();
    pitches.sort();
    let offline = pitchgrade::score::judge::offline::OfflineJudge::load(
        &root.join("models/all-MiniLM-L6-v2"),
    )
    .expect("offline judge model");

    println!("| database | judge | stored grades | seconds | grades/s | ms per grade |");
    println!("|---|---|---|---|---|---|");
    for backend in ["sqlite", "postgres"] {
        let db = match backend {
            "sqlite" => TestDb::sqlite().await,
            _ => TestDb::postgres().await,
        };
        let repo = db.repo.as_ref();
        for i in 0..GRADES {
            let transcript =
                pitchgrade::score::transcript_input::from_text(&pitches[i % pitches.len()]);
            let grade = pitchgrade::score::grade(&rubric, &transcript, None, &Instant0).await;
            let stored = StoredGrade {
                grade: grade.clone(),
                transcript: Some(transcript),
                audio: None,
                timings: None,
            };
            seed::seed_stored(
                repo,
                seed::Seeded {
                    object_key: format!("uploads/bench/{i}"),
                    grade: stored.to_json().expect("stored grade"),
                    ..seed::Seeded::new(
                        &format!("rep-{}", i % 200),
                        &rubric.rubric.id,
                        grade.decision,
                        grade.score,
                        t0(),
                    )
                },
            )
            .await;
        }
        let judges: [(&str, &dyn Judge); 2] = [("instant", &Instant0), ("offline", &offline)];
        for (name, judge) in judges {
            let start = Instant::now();
            let r = replay::replay(repo, None, &v2, judge, &ReplayOptions::default(), t0())
                .await
                .expect("replay");
            let s = start.elapsed().as_secs_f64();
            assert_eq!(r.replayed as usize, GRADES);
            println!(
                "| {backend} | {name} | {GRADES} | {s:.1} | {:.0} | {:.1} |",
                GRADES as f64 / s,
                s * 1000.0 / GRADES as f64
            );
        }
    }
}
