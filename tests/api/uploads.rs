//! Direct uploads: presigned PUT to a real S3 server (Garage), completion by
//! the client or by an S3 event, and the local store's refusal to presign.

use pitchgrade::service::JobOutcome;
use pitchgrade::store::ObjectKey;
use serde_json::json;

use crate::common::app::{
    spawn_app, spawn_app_with, spoken_wav, AppOptions, Db, Objects, TestApp, PITCH, RUBRIC,
};

async fn s3_app() -> TestApp {
    spawn_app_with(AppOptions {
        db: Db::Postgres,
        objects: Objects::S3,
        ..AppOptions::default()
    })
    .await
}

async fn presign(app: &TestApp, token: &str, key: Option<&str>) -> serde_json::Value {
    let mut request = app
        .client
        .post(app.url("/v1/uploads"))
        .bearer_auth(token)
        .json(&json!({"rubric": RUBRIC, "content_type": "audio/wav"}));
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

/// PUTs `bytes` to the presigned URL, as a browser would.
async fn put(app: &TestApp, ticket: &serde_json::Value, bytes: Vec<u8>) {
    assert_eq!(ticket["method"], "PUT");
    let mut request = app.client.put(ticket["url"].as_str().unwrap()).body(bytes);
    for (name, value) in ticket["headers"].as_object().unwrap() {
        request = request.header(name, value.as_str().unwrap());
    }
    let response = request.send().await.unwrap();
    assert!(
        response.status().is_success(),
        "S3 accepted the PUT: {} {}",
        response.status(),
        response.text().await.unwrap_or_default()
    );
}

async fn complete(app: &TestApp, token: &str, ticket: &serde_json::Value) -> reqwest::Response {
    app.client
        .post(app.url(ticket["complete_url"].as_str().unwrap()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn presigned_put_then_complete_queues_and_grades_the_submission() {
    let app = s3_app().await;
    let alice = app.token("rep", Some("alice")).await;
    let (wav, seconds) = spoken_wav(app.dir.path(), PITCH);
    app.mount_transcript(PITCH, seconds).await;

    let ticket = presign(&app, &alice, None).await;
    assert!(ticket["url"].as_str().unwrap().contains("X-Amz-Signature"));
    assert_eq!(ticket["headers"]["Content-Type"], "audio/wav");

    // Completing before the bytes are there is a clear conflict, not a queue entry.
    let early = complete(&app, &alice, &ticket).await;
    assert_eq!(early.status(), 409);
    let body: serde_json::Value = early.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upload_missing");
    assert_eq!(app.parts.repo.queue_depth().await.unwrap().available, 0);

    put(&app, &ticket, wav.clone()).await;
    // Another rep cannot complete alice's upload.
    let bob = app.token("rep", Some("bob")).await;
    assert_eq!(complete(&app, &bob, &ticket).await.status(), 404);

    let done = complete(&app, &alice, &ticket).await;
    assert_eq!(done.status(), 202);
    let submission: serde_json::Value = done.json().await.unwrap();
    assert_eq!(submission["status"], "queued");
    assert_eq!(submission["rep_id"], "alice");
    assert_eq!(submission["byte_size"], wav.len() as u64);
    assert_eq!(submission["content_type"], "audio/wav");

    // Completing again (a retry) gives the same submission.
    let again = complete(&app, &alice, &ticket).await;
    assert_eq!(again.status(), 200);
    let again: serde_json::Value = again.json().await.unwrap();
    assert_eq!(again["id"], submission["id"]);
    assert_eq!(app.parts.repo.queue_depth().await.unwrap().available, 1);

    // The worker fetches the recording from S3 and grades it.
    let outcome = app.run_worker_once().await.unwrap();
    assert!(matches!(outcome, JobOutcome::Graded { .. }), "{outcome:?}");
    let (_, read) = app
        .get_json(
            &alice,
            &format!("/v1/submissions/{}", submission["id"].as_str().unwrap()),
        )
        .await;
    assert!(
        read["grade"]["criteria"].as_array().unwrap().len() >= 5,
        "{read}"
    );
}

/// The presigned URL stays valid after completion (S3 cannot revoke it): a
/// rep who PUTs another file to it afterwards changes nothing that is graded
/// or played to the reviewer. The checked bytes were copied out of reach.
#[tokio::test]
async fn a_presigned_upload_replaced_after_completion_changes_nothing() {
    let app = s3_app().await;
    let alice = app.token("rep", Some("alice")).await;
    let (wav, seconds) = spoken_wav(app.dir.path(), PITCH);
    app.mount_transcript(PITCH, seconds).await;
    let ticket = presign(&app, &alice, None).await;
    put(&app, &ticket, wav.clone()).await;
    let done = complete(&app, &alice, &ticket).await;
    assert_eq!(done.status(), 202);
    let submission: serde_json::Value = done.json().await.unwrap();
    let id: uuid::Uuid = submission["id"].as_str().unwrap().parse().unwrap();

    // The swap: a large other file to the same URL, after the check.
    let (other, _) = spoken_wav(
        app.dir.path(),
        "Something else entirely, said for a reviewer.",
    );
    let mut swapped = other.clone();
    swapped.extend(std::iter::repeat_n(0u8, 3_000_000));
    put(&app, &ticket, swapped).await;

    let view = app.parts.repo.get_submission(id).await.unwrap().unwrap();
    let key = ObjectKey::parse(&view.submission.object_key).unwrap();
    assert!(key.as_str().starts_with("recordings/"), "{key}");
    let upload_id = ticket["upload_id"].as_str().unwrap().parse().unwrap();
    let upload = app.parts.repo.get_upload(upload_id).await.unwrap().unwrap();
    assert_ne!(
        upload.object_key,
        key.as_str(),
        "graded from a key the rep cannot write"
    );
    let dest = app.dir.path().join("graded.wav");
    app.parts
        .objects
        .get_to_file(&key, &dest, u64::MAX)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        wav,
        "the checked bytes, unchanged"
    );
    assert_eq!(view.submission.byte_size, wav.len() as u64);

    // Completing again answers with the same submission and moves nothing.
    let again = complete(&app, &alice, &ticket).await;
    assert_eq!(again.status(), 200);
    let again: serde_json::Value = again.json().await.unwrap();
    assert_eq!(again["id"], submission["id"]);
    let view = app.parts.repo.get_submission(id).await.unwrap().unwrap();
    assert_eq!(view.submission.object_key, key.as_str());

    let outcome = app.run_worker_once().await.unwrap();
    assert!(matches!(outcome, JobOutcome::Graded { .. }), "{outcome:?}");
}

#[tokio::test]
async fn an_s3_event_completes_an_upload_once() {
    let app = s3_app().await;
    let alice = app.token("rep", Some("alice")).await;
    let wav = spoken_wav(
        app.dir.path(),
        "Our customers close the books in four days.",
    )
    .0;
    let ticket = presign(&app, &alice, None).await;
    put(&app, &ticket, wav).await;

    // The key as S3 reports it: bucket prefix included, form-encoded.
    let url = url::Url::parse(ticket["url"].as_str().unwrap()).unwrap();
    let path = url.path().trim_start_matches('/');
    let bucket = std::env::var("PITCHGRADE_TEST_S3_BUCKET").unwrap();
    let full_key = path.strip_prefix(&format!("{bucket}/")).unwrap_or(path);
    let encoded: String = url::form_urlencoded::byte_serialize(full_key.as_bytes()).collect();
    let event = json!({"EventName": "s3:ObjectCreated:Put", "Key": format!("{bucket}/{full_key}"),
    "Records": [{
        "eventVersion": "2.0", "eventSource": "minio:s3", "eventName": "s3:ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": encoded, "size": 1234}}
    }, {
        "eventName": "s3:ObjectRemoved:Delete",
        "s3": {"bucket": {"name": bucket}, "object": {"key": "uploads%2F2026%2F01%2Fnot-ours"}}
    }]});
    let post = |token: &'static str| {
        app.client
            .post(app.url("/v1/events/s3"))
            .bearer_auth(token)
            .json(&event)
            .send()
    };
    assert_eq!(post("wrong-token").await.unwrap().status(), 401);

    let first: serde_json::Value = post("test-events-token")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let results = first["results"].as_array().unwrap();
    assert_eq!(results[0]["outcome"], "queued", "{first}");
    assert_eq!(results[1]["outcome"], "ignored");
    let id = results[0]["submission_id"].as_str().unwrap().to_string();

    let second: serde_json::Value = post("test-events-token")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(second["results"][0]["outcome"], "already_queued");
    assert_eq!(second["results"][0]["submission_id"], id.as_str());

    // The client's own completion finds the same submission.
    let done = complete(&app, &alice, &ticket).await;
    assert_eq!(done.status(), 200);
    let done: serde_json::Value = done.json().await.unwrap();
    assert_eq!(done["id"], id.as_str());
    assert_eq!(app.parts.repo.queue_depth().await.unwrap().available, 1);
}

#[tokio::test]
async fn a_presigned_document_is_refused_at_completion_and_deleted() {
    let app = s3_app().await;
    let alice = app.token("rep", Some("alice")).await;
    let ticket = presign(&app, &alice, None).await;
    put(&app, &ticket, b"%PDF-1.4\n% my slides\n".repeat(100)).await;
    let refused = complete(&app, &alice, &ticket).await;
    assert_eq!(refused.status(), 415);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_audio");
    assert!(body["error"]["message"].as_str().unwrap().contains("PDF"));
    assert_eq!(app.parts.repo.queue_depth().await.unwrap().available, 0);

    let upload_id = ticket["upload_id"].as_str().unwrap().parse().unwrap();
    let upload = app.parts.repo.get_upload(upload_id).await.unwrap().unwrap();
    assert!(upload.submission_id.is_none());
    let key = ObjectKey::parse(&upload.object_key).unwrap();
    assert!(
        !app.parts.objects.exists(&key).await.unwrap(),
        "the refused object is deleted"
    );
}

#[tokio::test]
async fn the_local_store_cannot_presign_and_says_what_to_do() {
    let app = spawn_app().await;
    let alice = app.token("rep", Some("alice")).await;
    let response = app
        .client
        .post(app.url("/v1/uploads"))
        .bearer_auth(&alice)
        .json(&json!({"rubric": RUBRIC}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 501);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "presign_unsupported");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("POST /v1/submissions"));

    // Bad JSON is a JSON error too.
    let response = app
        .client
        .post(app.url("/v1/uploads"))
        .bearer_auth(&alice)
        .header("content-type", "application/json")
        .body("{\"rubric\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_request");
}

/// The upload records behind the presigned flow, on both databases (the S3
/// stories above run on PostgreSQL only).
#[tokio::test]
async fn upload_records_round_trip_on_sqlite_and_postgres() {
    use pitchgrade::store::db::uploads::NewUpload;

    for db in [
        crate::common::store::TestDb::sqlite().await,
        crate::common::store::TestDb::postgres().await,
    ] {
        let repo = db.repo.as_ref();
        let now = chrono::Utc::now();
        let key = ObjectKey::new_upload(now).to_string();
        let upload = repo
            .create_upload(
                &NewUpload {
                    rep_id: "alice".into(),
                    rubric_id: RUBRIC.into(),
                    object_key: key.clone(),
                    idempotency_key: Some("k1".into()),
                    expires_at: now + chrono::Duration::hours(1),
                },
                now,
            )
            .await
            .unwrap();
        assert_eq!(repo.get_upload(upload.id).await.unwrap().unwrap(), upload);
        assert_eq!(
            repo.find_upload_by_key(&key).await.unwrap().unwrap().id,
            upload.id
        );
        assert!(repo
            .find_upload_by_key("uploads/2026/01/x")
            .await
            .unwrap()
            .is_none());
        assert!(upload.submission_id.is_none());

        let created = repo
            .create_submission_with_job(
                &crate::common::store::new_submission("alice", None),
                &crate::common::store::grade_job(3),
                now,
            )
            .await
            .unwrap();
        repo.set_upload_submission(upload.id, created.submission.id)
            .await
            .unwrap();
        let done = repo.get_upload(upload.id).await.unwrap().unwrap();
        assert_eq!(done.submission_id, Some(created.submission.id));

        // One upload per object key.
        let again = repo
            .create_upload(
                &NewUpload {
                    rep_id: "bob".into(),
                    rubric_id: RUBRIC.into(),
                    object_key: key.clone(),
                    idempotency_key: None,
                    expires_at: now,
                },
                now,
            )
            .await;
        assert!(again.is_err());
    }
}
