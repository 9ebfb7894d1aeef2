//! Queue throughput: jobs per second through claim + complete, against the
//! number of concurrent workers, on SQLite and PostgreSQL. The work itself is
//! empty, so this is the queue's own cost per job: the part of issue 5's
//! "share of time the queue and database take" that this layer owns.
//!
//! Run: `cargo bench --bench queue` (PostgreSQL on 127.0.0.1:5432 as for the tests).

#[path = "../tests/common/store.rs"]
mod harness;

use std::time::{Duration, Instant};

use harness::{grade_job, new_submission, t0, TestDb};
use pitchgrade::store::db::{Decision, NewGrade};

const JOBS: usize = 400;

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    println!("| database | workers | jobs | enqueue jobs/s | claim+complete jobs/s | ms per job (one worker's view) |");
    println!("|---|---|---|---|---|---|");
    for backend in ["sqlite", "postgres"] {
        for workers in [1usize, 2, 4] {
            let db = match backend {
                "sqlite" => TestDb::sqlite().await,
                _ => TestDb::postgres().await,
            };
            let repo = db.repo.clone();
            let start = Instant::now();
            for _ in 0..JOBS {
                repo.create_submission_with_job(&new_submission("rep", None), &grade_job(3), t0())
                    .await
                    .expect("enqueue");
            }
            let enqueue = start.elapsed();

            let start = Instant::now();
            let tasks: Vec<_> = (0..workers)
                .map(|w| {
                    let repo = repo.clone();
                    tokio::spawn(async move {
                        let grade = NewGrade {
                            decision: Decision::Pass,
                            score: 0.9,
                            grade: serde_json::json!({"criteria": []}),
                        };
                        let lease = Duration::from_secs(60);
                        while let Some(job) = repo
                            .claim(&format!("w{w}"), lease, t0())
                            .await
                            .expect("claim")
                        {
                            repo.complete(job.job_id, job.attempt, &grade, t0())
                                .await
                                .expect("complete");
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.expect("worker");
            }
            let drain = start.elapsed();
            let depth = repo.queue_depth().await.expect("depth");
            assert_eq!(depth.completed, JOBS as u64, "every job completed once");
            println!(
                "| {backend} | {workers} | {JOBS} | {:.0} | {:.0} | {:.2} |",
                JOBS as f64 / enqueue.as_secs_f64(),
                JOBS as f64 / drain.as_secs_f64(),
                drain.as_secs_f64() * 1000.0 * workers as f64 / JOBS as f64,
            );
        }
    }
}
