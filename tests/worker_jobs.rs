//! The worker on real storage and real backends: a recording enqueued the way
//! the API does it is fetched, decoded, transcribed by the real OpenAI client
//! (against a local double), judged by the offline judge and its grade stored;
//! a broken upload fails with a reason the rep can act on; a backend hiccup is
//! retried; a backend that stays down ends in a dead job with its reason; a
//! worker that lost its lease cannot write over the attempt that took over.

#[path = "common/service.rs"]
mod service;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use pitchgrade::service::JobOutcome;
use pitchgrade::store::db::{JobState, SubmissionStatus};
use service::{Answer, Db, Objects, Recordings, Rig, TranscriberDouble, PITCH, RUBRIC};
use tokio_util::sync::CancellationToken;

const NO_RETRY: u32 = 0;
const TIMEOUT: Duration = Duration::from_secs(20);

async fn good_recording_is_graded(db: Db, objects: Objects) {
    let rig = Rig::new(db, objects).await;
    let audio = Recordings::new();
    let (m4a, duration) = audio.pitch_m4a();
    let double = TranscriberDouble::healthy(duration).await;
    let worker = rig.worker(double.pipeline(NO_RETRY, TIMEOUT), rig.settings("w"));

    let created = rig.enqueue(&m4a, "rep-ada", 3).await;
    let id = created.submission.id;
    assert_eq!(created.submission.status, SubmissionStatus::Queued);

    let outcome = worker.run_once("0").await.expect("queue reachable");
    let Some(JobOutcome::Graded {
        submission_id,
        decision,
    }) = outcome
    else {
        panic!("expected a grade, got {outcome:?}");
    };
    assert_eq!(submission_id, id);

    let view = rig.view(id).await;
    let grade = view.grade.expect("grade stored with the submission");
    assert_eq!(grade.decision, decision);
    assert_eq!(
        view.submission.status,
        match decision {
            pitchgrade::score::Decision::Borderline => SubmissionStatus::NeedsReview,
            _ => SubmissionStatus::Graded,
        }
    );
    assert_eq!((grade.job_id, grade.attempt), (created.job_id, 1));

    // The grade names exactly the rubric text it was graded against.
    let rubric = rig.parts.rubrics.get(RUBRIC).expect("shipped rubric");
    let stored = &grade.grade;
    assert_eq!(stored["rubric"]["id"], RUBRIC);
    assert_eq!(stored["rubric"]["version"], rubric.rubric.version);
    assert_eq!(stored["rubric"]["sha256"], rubric.sha256.as_str());
    assert_eq!(stored["score"].as_f64(), Some(grade.score));
    assert_eq!(stored["backends"]["transcriber"], "openai");
    assert_eq!(stored["backends"]["judge"], "offline");

    // The reviewer's material is kept: every word with its time, and the audio figures.
    let words: Vec<&str> = stored["transcript"]["words"]
        .as_array()
        .expect("transcript words stored")
        .iter()
        .map(|w| w["text"].as_str().expect("word text"))
        .collect();
    assert_eq!(words, PITCH.split_whitespace().collect::<Vec<_>>());
    let first = &stored["transcript"]["words"][0];
    assert!(first["start"].as_f64().unwrap() < first["end"].as_f64().unwrap());
    let seconds = stored["audio"]["duration_seconds"]
        .as_f64()
        .expect("audio duration stored");
    assert!((seconds - duration).abs() < 0.5, "{seconds} vs {duration}");
    // A pitch that makes the value proposition earns its points with evidence.
    let value_prop = stored["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "value_prop")
        .expect("value_prop graded");
    assert!(
        value_prop["score"].as_f64().unwrap_or(0.0) > 0.0,
        "{value_prop}"
    );

    let job = rig
        .parts
        .repo
        .get_job(created.job_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((job.state, job.attempt), (JobState::Completed, 1));
    assert_eq!(double.calls(), 1);
    assert!(
        worker.run_once("0").await.unwrap().is_none(),
        "queue drained"
    );
    assert!(rig
        .parts
        .metrics
        .render()
        .contains("pitchgrade_jobs_finished_total{outcome=\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn good_recording_is_graded_on_sqlite_and_a_local_folder() {
    good_recording_is_graded(Db::Sqlite, Objects::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn good_recording_is_graded_on_postgres_and_s3() {
    good_recording_is_graded(Db::Postgres, Objects::Garage).await;
}

/// A corrupt upload fails at once, with words the rep can act on, and the
/// running worker pool carries on with the next submission.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_upload_fails_with_a_reason_and_the_worker_goes_on() {
    let rig = Rig::new(Db::Postgres, Objects::Local).await;
    let audio = Recordings::new();
    let (m4a, duration) = audio.pitch_m4a();
    let double = TranscriberDouble::healthy(duration).await;
    let worker = Arc::new(rig.worker(double.pipeline(NO_RETRY, TIMEOUT), rig.settings("pool")));

    let bad = rig.enqueue(&audio.corrupt(), "rep-bo", 3).await;
    let good = rig.enqueue(&m4a, "rep-bo", 3).await;

    let stop = CancellationToken::new();
    let pool = tokio::spawn(worker.clone().run(stop.clone()));
    let views = rig
        .wait_settled(
            &[bad.submission.id, good.submission.id],
            Duration::from_secs(120),
        )
        .await;
    stop.cancel();
    pool.await.expect("worker pool stops cleanly");

    let failed = &views[0];
    assert_eq!(failed.submission.status, SubmissionStatus::Failed);
    assert!(failed.grade.is_none());
    let reason = failed
        .submission
        .failure_reason
        .as_deref()
        .expect("a failure reason");
    // Written for the rep: what is wrong and what to do, no paths or internals.
    assert!(
        reason.contains("upload") || reason.contains("export") || reason.contains("record"),
        "{reason}"
    );
    assert!(
        !reason.contains("/tmp") && !reason.contains("pitchgrade-job"),
        "{reason}"
    );
    let job = rig.parts.repo.get_job(bad.job_id).await.unwrap().unwrap();
    assert_eq!(
        (job.state, job.attempt),
        (JobState::Dead, 1),
        "a bad file is not retried"
    );

    assert!(matches!(
        views[1].submission.status,
        SubmissionStatus::Graded | SubmissionStatus::NeedsReview
    ));
    assert!(views[1].grade.is_some());
    assert_eq!(
        double.calls(),
        1,
        "the corrupt file never reached transcription"
    );
}

/// A 503 from the transcription backend puts the job back in the queue with
/// its error; the next attempt grades it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_backend_failure_is_retried_then_graded() {
    let rig = Rig::new(Db::Sqlite, Objects::Local).await;
    let audio = Recordings::new();
    let (m4a, duration) = audio.pitch_m4a();
    let double = TranscriberDouble::start(duration, |n| match n {
        0 => Answer::Status(503),
        _ => Answer::Ok {
            delay: Duration::ZERO,
        },
    })
    .await;
    let worker = rig.worker(double.pipeline(NO_RETRY, TIMEOUT), rig.settings("w"));
    let created = rig.enqueue(&m4a, "rep-cy", 3).await;

    let outcome = worker.run_once("0").await.unwrap();
    let Some(JobOutcome::Retrying { run_at, .. }) = outcome else {
        panic!("expected a retry, got {outcome:?}");
    };
    let job = rig
        .parts
        .repo
        .get_job(created.job_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((job.state, job.attempt), (JobState::Retryable, 1));
    assert!(
        job.last_error.as_deref().unwrap_or("").contains("503"),
        "{:?}",
        job.last_error
    );
    let view = rig.view(created.submission.id).await;
    assert_eq!(view.submission.status, SubmissionStatus::Queued);
    assert!(view.submission.failure_reason.is_none());

    let wait = (run_at - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(20)).await;
    let outcome = worker.run_once("0").await.unwrap();
    assert!(
        matches!(outcome, Some(JobOutcome::Graded { .. })),
        "{outcome:?}"
    );
    let grade = rig.view(created.submission.id).await.grade.unwrap();
    assert_eq!(
        grade.attempt, 2,
        "the grade names the attempt that wrote it"
    );
    assert_eq!(double.calls(), 2);
}

/// A backend that keeps failing: after the last attempt the job is dead and
/// the submission failed with a sentence for the rep; the last error stays on the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_attempts_the_job_is_dead_with_its_reason() {
    let rig = Rig::new(Db::Postgres, Objects::Local).await;
    let audio = Recordings::new();
    let (m4a, duration) = audio.pitch_m4a();
    let double = TranscriberDouble::start(duration, |_| Answer::Status(500)).await;
    let worker = rig.worker(double.pipeline(NO_RETRY, TIMEOUT), rig.settings("w"));
    let created = rig.enqueue(&m4a, "rep-di", 2).await;

    let outcome = worker.run_once("0").await.unwrap();
    let Some(JobOutcome::Retrying { run_at, .. }) = outcome else {
        panic!("expected a retry, got {outcome:?}");
    };
    let wait = (run_at - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(20)).await;
    let outcome = worker.run_once("0").await.unwrap();
    let Some(JobOutcome::Dead { reason, .. }) = outcome else {
        panic!("expected a dead job, got {outcome:?}");
    };
    assert!(reason.contains("gave up after 2 attempts"), "{reason}");
    // The backend's body (it can hold hostnames and key fragments) is the
    // operator's: kept on the job, never in the sentence the rep reads.
    assert!(!reason.contains("500"), "{reason}");
    assert!(!reason.contains("scripted failure"), "{reason}");
    assert!(reason.contains("not with your recording"), "{reason}");

    let view = rig.view(created.submission.id).await;
    assert_eq!(view.submission.status, SubmissionStatus::Failed);
    assert_eq!(
        view.submission.failure_reason.as_deref(),
        Some(reason.as_str())
    );
    assert!(view.grade.is_none());
    let job = rig
        .parts
        .repo
        .get_job(created.job_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((job.state, job.attempt), (JobState::Dead, 2));
    let last_error = job.last_error.unwrap_or_default();
    assert!(last_error.contains("500"), "{last_error}");
    assert_eq!(double.calls(), 2);
    assert!(worker.run_once("0").await.unwrap().is_none());
    let depth = rig.parts.repo.queue_depth().await.unwrap();
    assert_eq!((depth.dead, depth.running, depth.retryable), (1, 0, 0));
}

/// A worker that stalls past its lease (no heartbeat) loses the job to a
/// second attempt; when the stale one finishes, its grade is discarded and
/// the submission keeps exactly one grade, the newer attempt's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_worker_is_fenced_and_the_newer_attempt_grades() {
    let rig = Rig::new(Db::Postgres, Objects::Local).await;
    let audio = Recordings::new();
    let (m4a, duration) = audio.pitch_m4a();
    let double = TranscriberDouble::start(duration, |_| Answer::Ok {
        delay: Duration::from_millis(2500),
    })
    .await;
    let pipeline = double.pipeline(NO_RETRY, TIMEOUT);
    let mut stalled = rig.settings("stalled").with_lease(Duration::from_secs(1));
    stalled.heartbeat_every = Duration::from_secs(3600);
    let stale = Arc::new(rig.worker(pipeline.clone(), stalled));
    let fresh = rig.worker(pipeline, rig.settings("fresh"));
    let created = rig.enqueue(&m4a, "rep-ed", 3).await;

    let first = tokio::spawn({
        let stale = stale.clone();
        async move { stale.run_once("0").await }
    });
    // Let the stale worker claim it and its one-second lease run out.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let job = rig
            .parts
            .repo
            .get_job(created.job_id)
            .await
            .unwrap()
            .unwrap();
        if job.state == JobState::Running && job.lease_expires_at.is_some_and(|t| t < Utc::now()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never claimed: {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rescued = fresh.rescue().await.unwrap();
    assert_eq!(rescued.retried, 1);
    let second = fresh.run_once("0").await.unwrap();
    let first = first.await.unwrap().unwrap();

    assert!(
        matches!(first, Some(JobOutcome::Fenced { .. })),
        "stale attempt: {first:?}"
    );
    assert!(
        matches!(second, Some(JobOutcome::Graded { .. })),
        "new attempt: {second:?}"
    );
    let grade = rig.view(created.submission.id).await.grade.unwrap();
    assert_eq!(grade.attempt, 2);
    let job = rig
        .parts
        .repo
        .get_job(created.job_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((job.state, job.attempt), (JobState::Completed, 2));
}
