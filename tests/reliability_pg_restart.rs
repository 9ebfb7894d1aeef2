//! PostgreSQL restarted under a running `pitchgrade worker`: the worker rides
//! out the outage on its own and every submission, before and after the
//! restart, ends with exactly one grade.
//!
//! Alone in its test binary on purpose: the restart cuts every connection to
//! the server, and cargo runs test binaries one after another, so no other
//! PostgreSQL test of this suite is running while it happens.

#[path = "common/service.rs"]
mod service;

use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use pitchgrade::store::db::SubmissionStatus;
use service::{Answer, Db, Objects, Recordings, Rig, TranscriberDouble, WorkerProcess};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

fn pg_ctl(action: &str) -> bool {
    let version = std::fs::read_dir("/etc/postgresql")
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .expect("a PostgreSQL cluster under /etc/postgresql");
    Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version, "main", action])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Brings the cluster back up when the test ends, passed or failed, so the
/// suites that run after this one find their database.
struct ClusterUp;

impl Drop for ClusterUp {
    fn drop(&mut self) {
        let up = || {
            Command::new("pg_isready")
                .args(["-h", "127.0.0.1", "-p", "5432", "-t", "2"])
                .stdout(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !up() {
            pg_ctl("start");
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while !up() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

async fn server_started_at(url: &str) -> DateTime<Utc> {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    sqlx::query_scalar("SELECT pg_postmaster_start_time()")
        .fetch_one(&mut conn)
        .await
        .expect("server start time")
}

async fn grades_for(url: &str, ids: &[Uuid]) -> i64 {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    sqlx::query_scalar("SELECT count(*) FROM grades WHERE submission_id = ANY($1)")
        .bind(ids)
        .fetch_one(&mut conn)
        .await
        .expect("count grades")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_recover_from_a_postgres_restart_without_help() {
    let rig = Rig::new(Db::Postgres, Objects::Garage).await;
    // Declared after the rig, so it runs first on the way out: the rig's
    // clean-up drops its database and needs the server up.
    let _cluster = ClusterUp;
    let audio = Recordings::new();
    let (m4a, duration) = audio.pitch_m4a();
    let double = TranscriberDouble::start(duration, |_| Answer::Ok {
        delay: Duration::from_millis(700),
    })
    .await;
    let mut worker = WorkerProcess::spawn(&rig, &double, 5, 2);

    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(
            rig.enqueue(&m4a, &format!("rep-{i}"), 5)
                .await
                .submission
                .id,
        );
    }
    // Restart while work is under way: some graded, some in flight.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let mut graded = 0;
        for id in &ids {
            if rig.view(*id).await.grade.is_some() {
                graded += 1;
            }
        }
        if graded >= 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "nothing graded before the restart:\n{}",
            worker.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = server_started_at(&rig.db.url).await;
    let restarted = tokio::task::spawn_blocking(|| pg_ctl("restart"))
        .await
        .unwrap();
    assert!(restarted, "pg_ctlcluster restart failed");

    // New work after the restart, through the same pool the API would use.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut more = Vec::new();
    while more.len() < 6 {
        match rig.parts.repo.queue_depth().await {
            Ok(_) => more.push(
                rig.enqueue(&m4a, &format!("rep-after-{}", more.len()), 5)
                    .await
                    .submission
                    .id,
            ),
            Err(e) => {
                assert!(Instant::now() < deadline, "database never came back: {e}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
    ids.extend(more);
    assert!(
        server_started_at(&rig.db.url).await > before,
        "the server really restarted"
    );

    let views = rig.wait_settled(&ids, Duration::from_secs(300)).await;
    for view in &views {
        assert!(
            matches!(
                view.submission.status,
                SubmissionStatus::Graded | SubmissionStatus::NeedsReview
            ),
            "{:?}\nworker log:\n{}",
            view.submission,
            worker.log()
        );
    }
    assert_eq!(grades_for(&rig.db.url, &ids).await, ids.len() as i64);
    // Shown with --nocapture: how the worker saw the outage.
    eprintln!("{}", worker.log());
    assert!(
        worker.is_running(),
        "the worker exited instead of waiting for the database:\n{}",
        worker.log()
    );
}
