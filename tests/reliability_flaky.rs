//! A hosted transcription backend that fails 30% of its calls (HTTP 500,
//! 429 rate limits and answers that never come in time), on PostgreSQL and
//! Garage: every submission still ends graded or failed with a reason, none is
//! lost and none is left stuck in the queue.

#[path = "common/service.rs"]
mod service;

use std::sync::Arc;
use std::time::Duration;

use pitchgrade::store::db::{JobState, SubmissionStatus};
use service::{Answer, Db, Objects, Recordings, Rig, TranscriberDouble};
use tokio_util::sync::CancellationToken;

const SUBMISSIONS: usize = 16;

/// Fixed, spread-out pattern: three calls in ten fail, one of each kind.
fn flaky(n: usize) -> Answer {
    // A multiplicative hash scatters the failures instead of striping them.
    match (n.wrapping_mul(2_654_435_761) >> 7) % 10 {
        0 => Answer::Status(500),
        1 => Answer::Status(429),
        2 => Answer::Hang(Duration::from_secs(3)),
        _ => Answer::Ok {
            delay: Duration::from_millis(50),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flaky_backend_every_submission_ends_graded_or_failed_with_a_reason() {
    let failing = (0..1000)
        .filter(|n| !matches!(flaky(*n), Answer::Ok { .. }))
        .count();
    assert!(
        (250..=350).contains(&failing),
        "{failing} of 1000 calls fail"
    );

    let rig = Rig::new(Db::Postgres, Objects::Garage).await;
    let audio = Recordings::new();
    let (m4a, duration) = audio.pitch_m4a();
    let double = TranscriberDouble::start(duration, flaky).await;
    // No retries inside the client: every failed call fails the attempt, so
    // the queue's own retry path is what this test exercises. One second is
    // the client's patience with a hung backend.
    let pipeline = double.pipeline(0, Duration::from_secs(1));

    let mut ids = Vec::new();
    let mut jobs = Vec::new();
    for i in 0..SUBMISSIONS {
        let created = rig.enqueue(&m4a, &format!("rep-{}", i % 5), 5).await;
        ids.push(created.submission.id);
        jobs.push(created.job_id);
    }

    let stop = CancellationToken::new();
    let mut pools = Vec::new();
    for name in ["a", "b"] {
        let mut settings = rig.settings(name);
        settings.concurrency = 2;
        let worker = Arc::new(rig.worker(pipeline.clone(), settings));
        pools.push(tokio::spawn(worker.run(stop.clone())));
    }
    let views = rig.wait_settled(&ids, Duration::from_secs(300)).await;
    stop.cancel();
    for pool in pools {
        pool.await.expect("worker pool stops cleanly");
    }

    let mut graded = 0;
    for view in &views {
        match view.submission.status {
            SubmissionStatus::Graded | SubmissionStatus::NeedsReview => {
                assert!(view.grade.is_some(), "{:?}", view.submission);
                graded += 1;
            }
            SubmissionStatus::Failed => {
                let reason = view.submission.failure_reason.as_deref().unwrap_or("");
                assert!(reason.contains("gave up after 5 attempts"), "{reason}");
            }
            other => panic!("{other:?} is not a final state"),
        }
    }
    let mut retried = 0;
    for job in &jobs {
        let job = rig.parts.repo.get_job(*job).await.unwrap().unwrap();
        assert!(
            matches!(job.state, JobState::Completed | JobState::Dead),
            "{job:?}"
        );
        assert!((1..=5).contains(&job.attempt), "{job:?}");
        retried += usize::from(job.attempt > 1);
    }
    let depth = rig.parts.repo.queue_depth().await.unwrap();
    assert_eq!(
        (depth.available, depth.running, depth.retryable),
        (0, 0, 0),
        "nothing left in the queue: {depth:?}"
    );
    assert_eq!(depth.completed as usize, graded);
    assert_eq!(depth.completed + depth.dead, SUBMISSIONS as u64);
    // The failures really happened and were retried by the queue.
    assert!(retried >= 1, "no job needed a second attempt");
    assert!(double.calls() > SUBMISSIONS, "{} calls", double.calls());
    assert!(graded >= SUBMISSIONS - 1, "only {graded} graded");
}
