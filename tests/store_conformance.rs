//! One set of repository stories, run against SQLite and PostgreSQL alike.
//! Whatever the queue promises (one grade per submission, fencing of stale
//! workers, bounded retries) must hold on both, or the embedded install and the
//! distributed one would behave differently.

#[macro_use]
#[path = "common/stories.rs"]
mod stories;
#[path = "common/store.rs"]
mod harness;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use harness::{grade_job, new_submission, t0, TestDb};
use pitchgrade::store::db::{
    Decision, FailOutcome, JobState, NewGrade, QueueDepth, Rescued, SubmissionStatus,
};
use pitchgrade::store::{DbError, Repo};
use serde_json::json;

const LEASE: Duration = Duration::from_secs(30);

fn secs(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

fn a_grade(decision: Decision) -> NewGrade {
    NewGrade {
        decision,
        score: 0.82,
        grade: json!({"criteria": [{"id": "pain-point", "met": true, "evidence": "at 0:42"}]}),
    }
}

stories! {
    sqlite(db = TestDb::sqlite().await) => db.repo.clone(),
    postgres(db = TestDb::postgres().await) => db.repo.clone();
    [
        submission_and_job_are_created_together,
        a_failed_enqueue_leaves_no_submission,
        idempotency_key_yields_one_submission,
        a_submission_is_found_by_its_reps_idempotency_key,
        concurrent_replays_of_one_key_yield_one_submission,
        claim_heartbeat_complete,
        borderline_grade_goes_to_review,
        future_jobs_wait_for_their_time,
        concurrent_claimers_never_share_a_job,
        expired_lease_is_rescued_and_the_stale_attempt_is_fenced,
        expired_lease_on_the_last_attempt_kills_the_job,
        transient_failures_back_off_then_die_with_the_reason,
        permanent_failure_fails_the_submission_at_once,
        listing_shows_only_the_reps_submissions_newest_first,
    ]
}

async fn submission_and_job_are_created_together(repo: Arc<dyn Repo>) {
    let created = repo
        .create_submission_with_job(&new_submission("rep-1", None), &grade_job(3), t0())
        .await
        .unwrap();
    assert!(created.created);
    let view = repo
        .get_submission(created.submission.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.submission, created.submission);
    assert_eq!(view.submission.status, SubmissionStatus::Queued);
    assert_eq!(view.submission.created_at, t0());
    assert!(view.grade.is_none());

    let job = repo.get_job(created.job_id).await.unwrap().unwrap();
    assert_eq!(job.submission_id, created.submission.id);
    assert_eq!(
        (job.state, job.attempt, job.max_attempts),
        (JobState::Available, 0, 3)
    );
    assert_eq!(
        repo.queue_depth().await.unwrap(),
        QueueDepth {
            available: 1,
            ..QueueDepth::default()
        }
    );
}

async fn a_failed_enqueue_leaves_no_submission(repo: Arc<dyn Repo>) {
    // max_attempts beyond what the jobs table stores fails the job insert, which
    // runs after the submission insert: the transaction must take both back.
    let err = repo
        .create_submission_with_job(&new_submission("rep-1", None), &grade_job(u32::MAX), t0())
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::Invalid(_)), "{err}");
    assert!(repo.list_submissions("rep-1", 10).await.unwrap().is_empty());
    assert_eq!(repo.queue_depth().await.unwrap(), QueueDepth::default());
}

async fn idempotency_key_yields_one_submission(repo: Arc<dyn Repo>) {
    let new = new_submission("rep-1", Some("upload-7"));
    let first = repo
        .create_submission_with_job(&new, &grade_job(3), t0())
        .await
        .unwrap();
    // A retried upload gets a fresh object key but the same idempotency key.
    let retry = new_submission("rep-1", Some("upload-7"));
    let second = repo
        .create_submission_with_job(&retry, &grade_job(3), t0() + secs(5))
        .await
        .unwrap();
    assert!(first.created && !second.created);
    assert_eq!(second.submission, first.submission);
    assert_eq!(second.job_id, first.job_id);
    assert_eq!(repo.queue_depth().await.unwrap().available, 1);

    // Another rep may use the same key for their own submission.
    let other = repo
        .create_submission_with_job(
            &new_submission("rep-2", Some("upload-7")),
            &grade_job(3),
            t0(),
        )
        .await
        .unwrap();
    assert!(other.created);
    assert_ne!(other.submission.id, first.submission.id);

    // Reusing the key for another rubric is a client bug, not a replay.
    let mut wrong = new_submission("rep-1", Some("upload-7"));
    wrong.rubric_id = "demo-v2".into();
    let err = repo
        .create_submission_with_job(&wrong, &grade_job(3), t0())
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::IdempotencyConflict { .. }), "{err}");
}

async fn a_submission_is_found_by_its_reps_idempotency_key(repo: Arc<dyn Repo>) {
    let mine = repo
        .create_submission_with_job(
            &new_submission("rep-1", Some("upload-7")),
            &grade_job(3),
            t0(),
        )
        .await
        .unwrap();
    let theirs = repo
        .create_submission_with_job(
            &new_submission("rep-2", Some("upload-7")),
            &grade_job(3),
            t0(),
        )
        .await
        .unwrap();
    // Submissions without a key must not match anything.
    repo.create_submission_with_job(&new_submission("rep-1", None), &grade_job(3), t0())
        .await
        .unwrap();

    let found = repo
        .find_submission_by_idempotency_key("rep-1", "upload-7")
        .await
        .unwrap();
    assert_eq!(found, Some(mine.submission));
    let found = repo
        .find_submission_by_idempotency_key("rep-2", "upload-7")
        .await
        .unwrap();
    assert_eq!(found, Some(theirs.submission));
    assert_eq!(
        repo.find_submission_by_idempotency_key("rep-1", "upload-8")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        repo.find_submission_by_idempotency_key("rep-3", "upload-7")
            .await
            .unwrap(),
        None
    );
}

async fn concurrent_replays_of_one_key_yield_one_submission(repo: Arc<dyn Repo>) {
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let repo = repo.clone();
            tokio::spawn(async move {
                repo.create_submission_with_job(
                    &new_submission("rep-1", Some("double-tap")),
                    &grade_job(3),
                    t0(),
                )
                .await
            })
        })
        .collect();
    let mut ids = HashSet::new();
    let mut created = 0;
    for t in tasks {
        let c = t.await.unwrap().unwrap();
        ids.insert(c.submission.id);
        created += usize::from(c.created);
    }
    assert_eq!((ids.len(), created), (1, 1));
    assert_eq!(repo.queue_depth().await.unwrap().available, 1);
}

async fn claim_heartbeat_complete(repo: Arc<dyn Repo>) {
    let c = repo
        .create_submission_with_job(&new_submission("rep-1", None), &grade_job(3), t0())
        .await
        .unwrap();
    let claimed = repo.claim("worker-a", LEASE, t0()).await.unwrap().unwrap();
    assert_eq!((claimed.job_id, claimed.attempt), (c.job_id, 1));
    assert_eq!(claimed.lease_expires_at, t0() + secs(30));
    assert!(repo.claim("worker-b", LEASE, t0()).await.unwrap().is_none());
    let view = repo.get_submission(c.submission.id).await.unwrap().unwrap();
    assert_eq!(view.submission.status, SubmissionStatus::Processing);

    let extended = repo
        .heartbeat(c.job_id, 1, LEASE, t0() + secs(20))
        .await
        .unwrap();
    assert_eq!(extended, t0() + secs(50));
    let job = repo.get_job(c.job_id).await.unwrap().unwrap();
    assert_eq!(job.lease_expires_at, Some(t0() + secs(50)));
    assert_eq!(job.lease_owner.as_deref(), Some("worker-a"));
    // The heartbeat moved the lease past the original deadline: nothing to rescue.
    assert_eq!(
        repo.rescue_expired(t0() + secs(40)).await.unwrap(),
        Rescued::default()
    );

    let grade = repo
        .complete(c.job_id, 1, &a_grade(Decision::Pass), t0() + secs(45))
        .await
        .unwrap();
    assert_eq!((grade.attempt, grade.decision), (1, Decision::Pass));
    let view = repo.get_submission(c.submission.id).await.unwrap().unwrap();
    assert_eq!(view.submission.status, SubmissionStatus::Graded);
    assert_eq!(view.grade.as_ref(), Some(&grade));
    assert_eq!(grade.grade["criteria"][0]["evidence"], "at 0:42");

    // A worker that lost the reply and completes again gets the same grade back.
    let again = repo
        .complete(c.job_id, 1, &a_grade(Decision::Fail), t0() + secs(46))
        .await
        .unwrap();
    assert_eq!(again, grade);
    let job = repo.get_job(c.job_id).await.unwrap().unwrap();
    assert_eq!((job.state, job.lease_owner), (JobState::Completed, None));
    assert!(matches!(
        repo.heartbeat(c.job_id, 1, LEASE, t0() + secs(50)).await,
        Err(DbError::Fenced { attempt: 1, .. })
    ));
    assert_eq!(
        repo.queue_depth().await.unwrap(),
        QueueDepth {
            completed: 1,
            ..QueueDepth::default()
        }
    );
}

async fn borderline_grade_goes_to_review(repo: Arc<dyn Repo>) {
    let c = repo
        .create_submission_with_job(&new_submission("rep-1", None), &grade_job(3), t0())
        .await
        .unwrap();
    let job = repo.claim("w", LEASE, t0()).await.unwrap().unwrap();
    repo.complete(
        job.job_id,
        job.attempt,
        &a_grade(Decision::Borderline),
        t0(),
    )
    .await
    .unwrap();
    let view = repo.get_submission(c.submission.id).await.unwrap().unwrap();
    assert_eq!(view.submission.status, SubmissionStatus::NeedsReview);
}

async fn future_jobs_wait_for_their_time(repo: Arc<dyn Repo>) {
    let mut later = grade_job(3);
    later.run_at = t0() + secs(60);
    let c = repo
        .create_submission_with_job(&new_submission("rep-1", None), &later, t0())
        .await
        .unwrap();
    assert!(repo
        .claim("w", LEASE, t0() + secs(59))
        .await
        .unwrap()
        .is_none());
    let job = repo
        .claim("w", LEASE, t0() + secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.job_id, c.job_id);
}

async fn concurrent_claimers_never_share_a_job(repo: Arc<dyn Repo>) {
    const JOBS: usize = 40;
    let mut expected = HashSet::new();
    for _ in 0..JOBS {
        let c = repo
            .create_submission_with_job(&new_submission("rep-1", None), &grade_job(3), t0())
            .await
            .unwrap();
        expected.insert(c.job_id);
    }
    let claimers: Vec<_> = (0..12)
        .map(|w| {
            let repo = repo.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                while let Some(job) = repo.claim(&format!("w{w}"), LEASE, t0()).await.unwrap() {
                    mine.push(job.job_id);
                }
                mine
            })
        })
        .collect();
    let mut seen = Vec::new();
    for c in claimers {
        seen.extend(c.await.unwrap());
    }
    let unique: HashSet<_> = seen.iter().copied().collect();
    assert_eq!(seen.len(), JOBS, "every job claimed exactly once");
    assert_eq!(unique, expected);
    assert_eq!(repo.queue_depth().await.unwrap().running, JOBS as u64);
}

async fn expired_lease_is_rescued_and_the_stale_attempt_is_fenced(repo: Arc<dyn Repo>) {
    let c = repo
        .create_submission_with_job(&new_submission("rep-1", None), &grade_job(3), t0())
        .await
        .unwrap();
    let stale = repo.claim("worker-a", LEASE, t0()).await.unwrap().unwrap();
    assert_eq!(
        repo.rescue_expired(t0() + secs(29)).await.unwrap(),
        Rescued::default()
    );
    assert_eq!(
        repo.rescue_expired(t0() + secs(31)).await.unwrap(),
        Rescued {
            retried: 1,
            dead: 0
        }
    );
    let job = repo.get_job(c.job_id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Retryable);
    assert!(job.last_error.unwrap().contains("lease expired"));

    let fresh = repo
        .claim("worker-b", LEASE, t0() + secs(32))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((fresh.job_id, fresh.attempt), (c.job_id, 2));

    // worker-a wakes up from its stall: every write it tries is refused.
    let fenced = |r: Result<_, DbError>| matches!(r, Err(DbError::Fenced { attempt: 1, .. }));
    assert!(fenced(
        repo.heartbeat(c.job_id, stale.attempt, LEASE, t0() + secs(33))
            .await
            .map(drop)
    ));
    assert!(fenced(
        repo.complete(
            c.job_id,
            stale.attempt,
            &a_grade(Decision::Fail),
            t0() + secs(33)
        )
        .await
        .map(drop)
    ));
    assert!(fenced(
        repo.fail_transient(c.job_id, 1, "late", t0() + secs(33))
            .await
            .map(drop)
    ));
    assert!(fenced(
        repo.fail_permanent(c.job_id, 1, "late", "late detail", t0() + secs(33))
            .await
    ));
    let view = repo.get_submission(c.submission.id).await.unwrap().unwrap();
    assert!(view.grade.is_none(), "the fenced attempt wrote a grade");
    assert_eq!(view.submission.status, SubmissionStatus::Processing);

    let grade = repo
        .complete(
            c.job_id,
            fresh.attempt,
            &a_grade(Decision::Pass),
            t0() + secs(40),
        )
        .await
        .unwrap();
    assert_eq!((grade.attempt, grade.decision), (2, Decision::Pass));
    let view = repo.get_submission(c.submission.id).await.unwrap().unwrap();
    assert_eq!(view.grade, Some(grade));
}

async fn expired_lease_on_the_last_attempt_kills_the_job(repo: Arc<dyn Repo>) {
    let c = repo
        .create_submission_with_job(&new_submission("rep-1", None), &grade_job(1), t0())
        .await
        .unwrap();
    repo.claim("w", LEASE, t0()).await.unwrap().unwrap();
    assert_eq!(
        repo.rescue_expired(t0() + secs(31)).await.unwrap(),
        Rescued {
            retried: 0,
            dead: 1
        }
    );
    let view = repo.get_submission(c.submission.id).await.unwrap().unwrap();
    assert_eq!(view.submission.status, SubmissionStatus::Failed);
    assert!(view
        .submission
        .failure_reason
        .unwrap()
        .contains("stopped responding"));
    assert!(repo
        .claim("w", LEASE, t0() + secs(3600))
        .await
        .unwrap()
        .is_none());
}

async fn transient_failures_back_off_then_die_with_the_reason(repo: Arc<dyn Repo>) {
    let c = repo
        .create_submission_with_job(&new_submission("rep-1", None), &grade_job(3), t0())
        .await
        .unwrap();
    let mut now = t0();
    // Default policy: 5 s after the first failure, 10 s after the second.
    for (attempt, delay) in [(1u32, 5i64), (2, 10)] {
        let job = repo.claim("w", LEASE, now).await.unwrap().unwrap();
        assert_eq!(job.attempt, attempt);
        let outcome = repo
            .fail_transient(job.job_id, attempt, "judge: HTTP 503", now)
            .await
            .unwrap();
        assert_eq!(
            outcome,
            FailOutcome::Retrying {
                run_at: now + secs(delay)
            }
        );
        let view = repo.get_submission(c.submission.id).await.unwrap().unwrap();
        assert_eq!(view.submission.status, SubmissionStatus::Queued);
        assert!(repo
            .claim("w", LEASE, now + secs(delay - 1))
            .await
            .unwrap()
            .is_none());
        now += secs(delay);
    }
    assert_eq!(repo.queue_depth().await.unwrap().retryable, 1);
    let job = repo.claim("w", LEASE, now).await.unwrap().unwrap();
    assert_eq!(job.attempt, 3);
    let FailOutcome::Dead { reason } = repo
        .fail_transient(job.job_id, 3, "judge: HTTP 503", now)
        .await
        .unwrap()
    else {
        panic!("the last attempt must kill the job");
    };
    // The rep's sentence; the backend's answer stays on the job.
    assert!(
        reason.contains("3 attempts") && !reason.contains("HTTP 503"),
        "{reason}"
    );
    let dead = repo.get_job(job.job_id).await.unwrap().unwrap();
    assert_eq!(dead.last_error.as_deref(), Some("judge: HTTP 503"));
    let view = repo.get_submission(c.submission.id).await.unwrap().unwrap();
    assert_eq!(view.submission.status, SubmissionStatus::Failed);
    assert_eq!(
        view.submission.failure_reason.as_deref(),
        Some(reason.as_str())
    );
    let dead = repo.get_job(c.job_id).await.unwrap().unwrap();
    assert_eq!(dead.state, JobState::Dead);
    assert_eq!(dead.last_error.as_deref(), Some("judge: HTTP 503"));
    assert!(repo
        .claim("w", LEASE, now + secs(3600))
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        repo.queue_depth().await.unwrap(),
        QueueDepth {
            dead: 1,
            ..QueueDepth::default()
        }
    );
}

async fn permanent_failure_fails_the_submission_at_once(repo: Arc<dyn Repo>) {
    let c = repo
        .create_submission_with_job(&new_submission("rep-1", None), &grade_job(5), t0())
        .await
        .unwrap();
    repo.create_submission_with_job(&new_submission("rep-1", None), &grade_job(5), t0())
        .await
        .unwrap();
    let job = repo.claim("w", LEASE, t0()).await.unwrap().unwrap();
    assert_eq!(job.job_id, c.job_id, "oldest job first");
    let reason = "The file is not a recording we can play (no audio track).";
    repo.fail_permanent(job.job_id, 1, reason, "decoder: detail", t0())
        .await
        .unwrap();
    // Repeating the same call is harmless.
    repo.fail_permanent(job.job_id, 1, reason, "decoder: detail", t0())
        .await
        .unwrap();
    let view = repo.get_submission(c.submission.id).await.unwrap().unwrap();
    assert_eq!(view.submission.status, SubmissionStatus::Failed);
    assert_eq!(view.submission.failure_reason.as_deref(), Some(reason));
    // The operator's detail stays on the job, out of the rep's reason.
    let dead = repo.get_job(c.job_id).await.unwrap().unwrap();
    assert_eq!(dead.last_error.as_deref(), Some("decoder: detail"));
    assert_eq!(
        repo.queue_depth().await.unwrap(),
        QueueDepth {
            available: 1,
            dead: 1,
            ..QueueDepth::default()
        }
    );
    let next = repo.claim("w", LEASE, t0()).await.unwrap().unwrap();
    assert_ne!(next.job_id, c.job_id, "a dead job is never claimed again");
}

async fn listing_shows_only_the_reps_submissions_newest_first(repo: Arc<dyn Repo>) {
    let mut ids = Vec::new();
    for i in 0..3 {
        let c = repo
            .create_submission_with_job(
                &new_submission("rep-1", None),
                &grade_job(3),
                t0() + secs(i),
            )
            .await
            .unwrap();
        ids.push(c.submission.id);
    }
    repo.create_submission_with_job(&new_submission("rep-2", None), &grade_job(3), t0())
        .await
        .unwrap();
    let listed: Vec<_> = repo
        .list_submissions("rep-1", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    ids.reverse();
    assert_eq!(listed, ids);
    assert_eq!(repo.list_submissions("rep-1", 2).await.unwrap().len(), 2);
    assert!(repo
        .list_submissions("nobody", 10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn unknown_database_urls_are_refused_without_leaking_passwords() {
    for url in [
        "mysql://app:hunter2@db/pitchgrade",
        "sqlite::memory:",
        "pitchgrade.db",
    ] {
        match pitchgrade::store::connect(url).await {
            Err(e @ DbError::BadUrl { .. }) => {
                assert!(!e.to_string().contains("hunter2"), "{e}")
            }
            Err(e) => panic!("{url}: expected BadUrl, got {e}"),
            Ok(_) => panic!("{url} was accepted"),
        }
    }
}

/// Two repositories on one SQLite file behave like two processes (`serve` and a
/// `migrate`, or two workers): `BEGIN IMMEDIATE` plus the busy timeout must keep
/// their claims apart and both must see the schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_file_shared_by_two_processes_never_double_claims() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}",
        dir.path().join("nested/dir/pitchgrade.db").display()
    );
    let a = pitchgrade::store::connect(&url).await.unwrap();
    let b = pitchgrade::store::connect(&url).await.unwrap();
    for _ in 0..30 {
        a.create_submission_with_job(&new_submission("rep-1", None), &grade_job(3), t0())
            .await
            .unwrap();
    }
    let claimers: Vec<_> = (0..8)
        .map(|i| {
            let repo = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                let mut mine = Vec::new();
                while let Some(job) = repo.claim("w", LEASE, t0()).await.unwrap() {
                    mine.push(job.job_id);
                }
                mine
            })
        })
        .collect();
    let mut seen = Vec::new();
    for c in claimers {
        seen.extend(c.await.unwrap());
    }
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!((seen.len(), unique.len()), (30, 30));
}
