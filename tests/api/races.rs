//! Concurrency against the policies intake enforces: a rep firing many
//! uploads at once gets exactly what the retake policy allows, on both
//! databases.

use std::sync::Arc;

use pitchgrade::certify::Program;
use serde_json::json;

use crate::common::app::Db;
use crate::common::app::{
    spawn_app_with, spoken_wav, AppOptions, TestApp, ADMIN_TOKEN, PITCH, RUBRIC,
};

fn program() -> Arc<Program> {
    crate::common::app::shipped_program()
}

async fn enrol(app: &TestApp, rep: &str) {
    for (path, body) in [
        ("/v1/firms/acme", json!({"name": "Acme"})),
        (
            &*format!("/v1/reps/{rep}"),
            json!({"firm": "acme", "role": "sales"}),
        ),
    ] {
        let r = app
            .client
            .put(app.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("PUT");
        assert_eq!(r.status(), 200, "{path}");
    }
}

/// 50 uploads at once from a rep with no history: the policy allows none while
/// one is being graded, so exactly one is accepted and 49 are refused with the
/// retake sentence — no 500s, no second submission.
///
/// With `servers: 2` the uploads alternate between two API servers on one
/// database, each with its own connections and in-process locks, as two
/// `pitchgrade serve` processes would be: the lock must hold across them.
async fn fifty_at_once_make_exactly_one_attempt(db: Db, servers: usize) {
    let app = spawn_app_with(AppOptions {
        db,
        program: Some(program()),
        ..AppOptions::default()
    })
    .await;
    enrol(&app, "carol").await;
    let carol = app.token("rep", Some("carol")).await;
    let (wav, _) = spoken_wav(app.dir.path(), PITCH);
    let mut peers = Vec::new();
    for _ in 1..servers {
        peers.push(app.peer_server().await);
    }
    let addresses: Vec<String> = std::iter::once(app.address.clone())
        .chain(peers.iter().map(|p| p.address.clone()))
        .collect();

    let barrier = Arc::new(tokio::sync::Barrier::new(50));
    let app = Arc::new(app);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let (app, carol, wav, barrier) = (app.clone(), carol.clone(), wav.clone(), barrier.clone());
        let address = addresses[i % addresses.len()].clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let r = app
                .upload_to(&address, &carol, &[("rubric", RUBRIC)], Some(wav), None)
                .await;
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            (status, body)
        }));
    }
    let mut accepted = 0;
    let mut refused = 0;
    for task in tasks {
        let (status, body) = task.await.expect("upload task");
        match status {
            202 => accepted += 1,
            409 => {
                assert_eq!(body["error"]["code"], "retake_not_allowed", "{body}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((accepted, refused), (1, 49));
    let stored = app
        .parts
        .repo
        .list_submissions("carol", 500)
        .await
        .expect("list");
    assert_eq!(stored.len(), 1, "one submission stored: {stored:?}");
    // The refused uploads left no recordings behind (local store only).
    if app.objects_dir.is_some() {
        assert_eq!(app.stored_objects().len(), 1, "{:?}", app.stored_objects());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_fifty_at_once_make_exactly_one_attempt() {
    fifty_at_once_make_exactly_one_attempt(Db::Sqlite, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_fifty_at_once_make_exactly_one_attempt() {
    fifty_at_once_make_exactly_one_attempt(Db::Postgres, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_fifty_at_once_across_two_servers_make_exactly_one_attempt() {
    fifty_at_once_make_exactly_one_attempt(Db::Sqlite, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_fifty_at_once_across_two_servers_make_exactly_one_attempt() {
    fifty_at_once_make_exactly_one_attempt(Db::Postgres, 2).await;
}

/// The record page asks the retake policy before the rep records: with an
/// attempt still being graded it says so instead of offering the recorder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_record_page_says_not_yet_before_the_rep_records() {
    let app = spawn_app_with(AppOptions {
        program: Some(program()),
        ..AppOptions::default()
    })
    .await;
    enrol(&app, "dora").await;
    let dora = app.token("rep", Some("dora")).await;
    let base = app.pages(Some(program())).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cookie = crate::common::app::sign_in(&client, &base, &dora).await;
    let record_page = || async {
        client
            .get(format!("{base}/rep/new/{RUBRIC}"))
            .header("Cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let before = record_page().await;
    assert!(
        before.contains("id=\"rec-start\""),
        "the recorder is offered"
    );
    assert!(!before.contains("retake-blocked"));

    let (wav, _) = spoken_wav(app.dir.path(), PITCH);
    let r = app
        .upload(&dora, &[("rubric", RUBRIC)], Some(wav), None)
        .await;
    assert_eq!(r.status(), 202);
    let after = record_page().await;
    assert!(after.contains("id=\"retake-blocked\""), "{after}");
    assert!(after.contains("still being graded"), "{after}");
    assert!(
        !after.contains("id=\"rec-start\""),
        "no recorder while blocked"
    );
}

/// The lock behind the policy, directly: a second connection to the same
/// database (another server process) waits for the first one's hold on a
/// rep and gets it once released. Deterministic where the HTTP race above
/// depends on timing.
async fn a_second_process_waits_for_a_reps_intake_lock(db: Db) {
    use std::time::Duration;
    let app = spawn_app_with(AppOptions {
        db,
        ..AppOptions::default()
    })
    .await;
    let other = pitchgrade::store::connect(&app.db_url())
        .await
        .expect("a second connection");
    let held = app.parts.repo.lock_rep_intake("carol").await.expect("lock");
    let waiting =
        tokio::time::timeout(Duration::from_millis(300), other.lock_rep_intake("carol")).await;
    assert!(
        waiting.is_err(),
        "the other process got carol's lock while it was held"
    );
    held.release().await.expect("release");
    let after = tokio::time::timeout(Duration::from_secs(5), other.lock_rep_intake("carol"))
        .await
        .expect("the lock comes free once released")
        .expect("lock");
    // And back: the second holder keeps the first out in turn.
    let first_again = tokio::time::timeout(
        Duration::from_millis(300),
        app.parts.repo.lock_rep_intake("carol"),
    )
    .await;
    assert!(first_again.is_err(), "held by the other process now");
    drop(after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_second_process_waits_for_a_reps_intake_lock() {
    a_second_process_waits_for_a_reps_intake_lock(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_second_process_waits_for_a_reps_intake_lock() {
    a_second_process_waits_for_a_reps_intake_lock(Db::Postgres).await;
}
