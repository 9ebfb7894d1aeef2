//! `pitchgrade migrate --to-…`: an embedded install (SQLite and a local
//! folder) with graded, failed and still-queued submissions is copied into
//! PostgreSQL and Garage; everything reads back the same, a second run changes
//! nothing, and a worker on the new install grades what was still queued.

#[path = "common/service.rs"]
mod service;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use pitchgrade::service::JobOutcome;
use pitchgrade::store::db::SubmissionStatus;
use pitchgrade::store::{ObjectKey, ObjectStore};
use service::{Db, Objects, Recordings, Rig, TranscriberDouble};
use sha2::{Digest, Sha256};

fn migrate(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_pitchgrade"))
        .arg("migrate")
        .args(args)
        .output()
        .expect("run pitchgrade migrate")
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn digest(store: &dyn ObjectStore, key: &str, dir: &Path) -> String {
    let path = dir.join(format!("check-{}", uuid::Uuid::now_v7()));
    store
        .get_to_file(&ObjectKey::parse(key).unwrap(), &path, u64::MAX)
        .await
        .unwrap_or_else(|e| panic!("{key}: {e}"));
    hex::encode(Sha256::digest(std::fs::read(&path).unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_install_moves_to_postgres_and_s3() {
    // The embedded install, brought to a realistic state by its own worker.
    let source = Rig::new(Db::Sqlite, Objects::Local).await;
    let audio = Recordings::new();
    let (m4a, duration) = audio.pitch_m4a();
    let double = TranscriberDouble::healthy(duration).await;
    let pipeline = double.pipeline(0, Duration::from_secs(20));
    let worker = source.worker(pipeline.clone(), source.settings("embedded"));
    let graded = source.enqueue(&m4a, "rep-a", 3).await;
    let failed = source.enqueue(&audio.corrupt(), "rep-a", 3).await;
    for _ in 0..2 {
        worker.run_once("0").await.unwrap().expect("a job to run");
    }
    let queued = source.enqueue(&m4a, "rep-b", 3).await;
    // A row whose recording went missing on disk is still carried over.
    let lost = source.enqueue(&m4a, "rep-c", 3).await;
    source
        .objects()
        .delete(&ObjectKey::parse(&lost.submission.object_key).unwrap())
        .await
        .unwrap();
    let ids = [
        graded.submission.id,
        failed.submission.id,
        queued.submission.id,
        lost.submission.id,
    ];
    let jobs = [graded.job_id, failed.job_id, queued.job_id, lost.job_id];
    let before: Vec<_> = {
        let mut v = Vec::new();
        for id in ids {
            v.push(source.view(id).await);
        }
        v
    };
    // Graded either way (the offline judge sends this short pitch to review):
    // what matters here is that a grade row exists to carry over.
    assert!(
        matches!(
            before[0].submission.status,
            SubmissionStatus::Graded | SubmissionStatus::NeedsReview
        ),
        "{:?}",
        before[0].submission
    );
    assert!(before[0].grade.is_some());
    assert_eq!(before[1].submission.status, SubmissionStatus::Failed);

    let target = Rig::new(Db::Postgres, Objects::Garage).await;
    let args = [
        "--database-url",
        &source.db.url,
        "--storage-url",
        &source.storage_url,
        "--to-database-url",
        &target.db.url,
        "--to-storage-url",
        &target.storage_url,
    ];
    let out = migrate(&args);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in ["submissions\t4\t4", "jobs\t4\t4", "grades\t1\t1"] {
        assert!(stdout.contains(line), "{line:?} missing:\n{}", text(&out));
    }
    assert!(
        stdout.contains("recordings: 3 copied, 0 already there, 1 missing"),
        "{}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&lost.submission.object_key),
        "the missing recording is named:\n{}",
        text(&out)
    );

    // Same rows, same ids, same timestamps, same grade; the same bytes.
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(target.view(*id).await, before[i], "submission {i}");
        assert_eq!(
            target.parts.repo.get_job(jobs[i]).await.unwrap(),
            source.parts.repo.get_job(jobs[i]).await.unwrap(),
            "job {i}"
        );
    }
    let scratch = tempfile::tempdir().unwrap();
    for view in &before[..3] {
        let key = &view.submission.object_key;
        assert_eq!(
            digest(target.objects().as_ref(), key, scratch.path()).await,
            digest(source.objects().as_ref(), key, scratch.path()).await
        );
    }

    // Running it again is harmless: nothing written twice.
    let again = migrate(&args);
    assert!(again.status.success(), "{}", text(&again));
    let stdout = String::from_utf8_lossy(&again.stdout);
    for line in ["submissions\t4\t0", "jobs\t4\t0", "grades\t1\t0"] {
        assert!(stdout.contains(line), "{line:?} missing:\n{}", text(&again));
    }
    assert!(
        stdout.contains("recordings: 0 copied, 3 already there, 1 missing"),
        "{}",
        text(&again)
    );

    // The new install carries on with what was still queued.
    let moved = target.worker(pipeline, target.settings("distributed"));
    let mut outcomes = Vec::new();
    while let Some(o) = moved.run_once("0").await.unwrap() {
        outcomes.push(o);
    }
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    assert!(outcomes.iter().any(|o| matches!(
        o,
        JobOutcome::Graded { submission_id, .. } if *submission_id == queued.submission.id
    )));
    assert!(outcomes.iter().any(|o| matches!(
        o,
        JobOutcome::Failed { submission_id, reason }
            if *submission_id == lost.submission.id && reason.contains("missing")
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_alone_brings_a_schema_up_to_date_and_refuses_unknown_copies() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("fresh.db").display());
    let out = migrate(&["--database-url", &url]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(dir.path().join("fresh.db").exists());

    // Copying needs both targets, and goes from SQLite to PostgreSQL only.
    let half = migrate(&[
        "--database-url",
        &url,
        "--to-database-url",
        "postgres://x/y",
    ]);
    assert!(!half.status.success());
    let pg = Rig::new(Db::Postgres, Objects::Local).await;
    let objects = url::Url::from_directory_path(dir.path())
        .unwrap()
        .to_string();
    let wrong_way = migrate(&[
        "--database-url",
        &pg.db.url,
        "--storage-url",
        &objects,
        "--to-database-url",
        &pg.db.url,
        "--to-storage-url",
        &objects,
    ]);
    assert!(!wrong_way.status.success());
    assert!(
        String::from_utf8_lossy(&wrong_way.stderr).contains("pg_dump"),
        "{}",
        text(&wrong_way)
    );
}

/// Tables that later migrations add come along without changes to the copy,
/// as long as they keep the shared conventions; an id a sequence handed out
/// keeps its value and the sequence moves past it. A table on one side only
/// stops the copy before anything is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_added_later_come_along_and_mismatches_stop_the_copy() {
    use sqlx::{Connection, PgConnection, SqliteConnection};

    let source = Rig::new(Db::Sqlite, Objects::Local).await;
    let target = Rig::new(Db::Postgres, Objects::Local).await;
    let mut lite = SqliteConnection::connect(&source.db.url).await.unwrap();
    let mut pg = PgConnection::connect(&target.db.url).await.unwrap();
    sqlx::query(
        "CREATE TABLE ledger (seq INTEGER PRIMARY KEY AUTOINCREMENT, rep_id TEXT NOT NULL,
             entry_id BLOB NOT NULL, at INTEGER NOT NULL, body TEXT NOT NULL, active INTEGER NOT NULL)",
    )
    .execute(&mut lite)
    .await
    .unwrap();
    sqlx::query(
        "CREATE TABLE ledger (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
             rep_id TEXT NOT NULL, entry_id UUID NOT NULL, at TIMESTAMPTZ NOT NULL,
             body JSONB NOT NULL, active BOOLEAN NOT NULL)",
    )
    .execute(&mut pg)
    .await
    .unwrap();
    let entry = uuid::Uuid::now_v7();
    for (rep, at) in [
        ("rep-a", 1_767_600_000_123_i64),
        ("rep-b", 1_767_600_001_456),
    ] {
        sqlx::query(
            "INSERT INTO ledger (rep_id, entry_id, at, body, active) VALUES (?, ?, ?, ?, 1)",
        )
        .bind(rep)
        .bind(entry)
        .bind(at)
        .bind(r#"{"kind": "issued", "months": 12}"#)
        .execute(&mut lite)
        .await
        .unwrap();
    }
    // A gap, as deletions leave one: copied ids are kept, not renumbered.
    sqlx::query("DELETE FROM ledger WHERE rep_id = 'rep-a'")
        .execute(&mut lite)
        .await
        .unwrap();

    let args = [
        "--database-url",
        &source.db.url,
        "--storage-url",
        &source.storage_url,
        "--to-database-url",
        &target.db.url,
        "--to-storage-url",
        &target.storage_url,
    ];
    let out = migrate(&args);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ledger\t1\t1"),
        "{}",
        text(&out)
    );
    let row: (
        i64,
        uuid::Uuid,
        chrono::DateTime<chrono::Utc>,
        serde_json::Value,
        bool,
    ) = sqlx::query_as("SELECT seq, entry_id, at, body, active FROM ledger WHERE rep_id = 'rep-b'")
        .fetch_one(&mut pg)
        .await
        .unwrap();
    assert_eq!(row.0, 2);
    assert_eq!(row.1, entry);
    assert_eq!(row.2.timestamp_millis(), 1_767_600_001_456);
    assert_eq!(row.3["months"], 12);
    assert!(row.4);
    let next: i64 = sqlx::query_scalar(
        "INSERT INTO ledger (rep_id, entry_id, at, body, active)
         VALUES ('rep-c', gen_random_uuid(), now(), '{}', true) RETURNING seq",
    )
    .fetch_one(&mut pg)
    .await
    .unwrap();
    assert_eq!(next, 3, "the sequence moved past the copied ids");

    // A table only the source has: refused, and nothing written.
    sqlx::query("CREATE TABLE notes (id BLOB PRIMARY KEY, body TEXT)")
        .execute(&mut lite)
        .await
        .unwrap();
    let enqueued = source
        .enqueue(&Recordings::new().pitch_m4a().0, "rep-d", 3)
        .await;
    let refused = migrate(&args);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("notes"),
        "{}",
        text(&refused)
    );
    assert!(target
        .parts
        .repo
        .get_submission(enqueued.submission.id)
        .await
        .unwrap()
        .is_none());
}
