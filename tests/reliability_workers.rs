//! Real `pitchgrade worker` processes over one PostgreSQL and one Garage
//! bucket: a worker killed with SIGKILL in the middle of a job loses it to
//! another after its lease runs out, with exactly one grade; several workers
//! sharing the queue process each submission exactly once.

#[path = "common/service.rs"]
mod service;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use pitchgrade::store::db::{JobState, SubmissionStatus};
use service::{Answer, Db, Objects, Recordings, Rig, TranscriberDouble, WorkerProcess};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

async fn wait_for(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn grades_for(url: &str, ids: &[Uuid]) -> i64 {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    sqlx::query_scalar("SELECT count(*) FROM grades WHERE submission_id = ANY($1)")
        .bind(ids)
        .fetch_one(&mut conn)
        .await
        .expect("count grades")
}

/// Log text without colour codes, whatever the subscriber decided.
fn plain(log: &str) -> String {
    regex::Regex::new("\x1b\\[[0-9;]*m")
        .unwrap()
        .replace_all(log, "")
        .into_owned()
}

/// Submission ids this worker's log says it graded.
fn graded_in(log: &str) -> Vec<Uuid> {
    let re = regex::Regex::new(r"submission_id=([0-9a-f-]{36}).*\bgraded\b").unwrap();
    plain(log)
        .lines()
        .filter_map(|l| re.captures(l))
        .filter_map(|c| c[1].parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_worker_job_is_finished_by_another_with_one_grade() {
    let rig = Rig::new(Db::Postgres, Objects::Garage).await;
    let audio = Recordings::new();
    let (m4a, duration) = audio.pitch_m4a();
    // Slow enough that the kill lands while the first worker waits on it.
    let double = TranscriberDouble::start(duration, |_| Answer::Ok {
        delay: Duration::from_secs(4),
    })
    .await;
    let created = rig.enqueue(&m4a, "rep-kim", 3).await;
    let id = created.submission.id;

    let mut first = WorkerProcess::spawn(&rig, &double, 2, 1);
    let first_pid = first.child.id();
    wait_for(
        "the first worker to send the audio",
        Duration::from_secs(120),
        || double.calls() >= 1,
    )
    .await;
    let job = rig
        .parts
        .repo
        .get_job(created.job_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((job.state, job.attempt), (JobState::Running, 1));
    let owner = job.lease_owner.clone().unwrap_or_default();
    assert!(
        owner.ends_with(&format!("-{first_pid}/0")),
        "held by {owner}, not pid {first_pid}"
    );
    first.kill9();
    assert_eq!(
        rig.view(id).await.submission.status,
        SubmissionStatus::Processing,
        "the killed worker left the job mid-flight"
    );

    let mut second = WorkerProcess::spawn(&rig, &double, 2, 1);
    let views = rig.wait_settled(&[id], Duration::from_secs(120)).await;
    let view = &views[0];
    assert!(
        matches!(
            view.submission.status,
            SubmissionStatus::Graded | SubmissionStatus::NeedsReview
        ),
        "{:?}; second worker log:\n{}",
        view.submission,
        second.log()
    );
    let grade = view.grade.as_ref().expect("graded");
    let job = rig
        .parts
        .repo
        .get_job(created.job_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.state, JobState::Completed);
    assert!(job.attempt >= 2, "the rescued job ran again: {job:?}");
    assert_eq!(
        grade.attempt, job.attempt,
        "the grade is the last attempt's"
    );
    assert_eq!(grades_for(&rig.db.url, &[id]).await, 1);
    assert_eq!(graded_in(&second.log()), vec![id], "{}", second.log());
    assert!(second.is_running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_worker_processes_grade_each_submission_once() {
    const SUBMISSIONS: usize = 12;
    let rig = Rig::new(Db::Postgres, Objects::Garage).await;
    let audio = Recordings::new();
    let (m4a, duration) = audio.pitch_m4a();
    let double = TranscriberDouble::start(duration, |_| Answer::Ok {
        delay: Duration::from_millis(300),
    })
    .await;

    let mut workers: Vec<WorkerProcess> = (0..3)
        .map(|_| WorkerProcess::spawn(&rig, &double, 30, 2))
        .collect();
    // Everyone polling before the work arrives, so the race for jobs is real.
    wait_for("all workers to start", Duration::from_secs(120), || {
        workers
            .iter()
            .all(|w| plain(&w.log()).contains("workers started"))
    })
    .await;

    let mut ids = Vec::new();
    let mut jobs = Vec::new();
    for i in 0..SUBMISSIONS {
        let created = rig.enqueue(&m4a, &format!("rep-{}", i % 4), 3).await;
        ids.push(created.submission.id);
        jobs.push(created.job_id);
    }
    let views = rig.wait_settled(&ids, Duration::from_secs(300)).await;

    for view in &views {
        assert!(
            matches!(
                view.submission.status,
                SubmissionStatus::Graded | SubmissionStatus::NeedsReview
            ),
            "{:?}",
            view.submission
        );
        assert_eq!(view.grade.as_ref().map(|g| g.attempt), Some(1));
    }
    for job in &jobs {
        let job = rig.parts.repo.get_job(*job).await.unwrap().unwrap();
        assert_eq!((job.state, job.attempt), (JobState::Completed, 1));
    }
    assert_eq!(grades_for(&rig.db.url, &ids).await, SUBMISSIONS as i64);
    // Processed once: one transcription per submission, and each submission
    // graded by exactly one process.
    assert_eq!(double.calls(), SUBMISSIONS);
    let mut by: HashMap<Uuid, usize> = HashMap::new();
    let mut busy = 0;
    for (n, w) in workers.iter_mut().enumerate() {
        assert!(w.is_running(), "worker {n} died:\n{}", w.log());
        let graded = graded_in(&w.log());
        busy += usize::from(!graded.is_empty());
        for id in graded {
            assert!(by.insert(id, n).is_none(), "{id} graded twice");
        }
    }
    let expected: HashSet<Uuid> = ids.iter().copied().collect();
    assert_eq!(by.keys().copied().collect::<HashSet<_>>(), expected);
    assert!(busy >= 2, "the work was shared: {by:?}");
}
