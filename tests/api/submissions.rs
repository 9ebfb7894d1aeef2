//! Creating submissions by multipart upload, and reading them back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use pitchgrade::service::JobOutcome;
use pitchgrade::store::db::QueueDepth;

use crate::common::app::{
    spawn_app, spawn_app_with, spoken_wav, AppOptions, Db, TestApp, PITCH, RUBRIC,
};

async fn upload_grade_and_read(app: TestApp) {
    let alice = app.token("rep", Some("alice")).await;
    let (wav, seconds) = spoken_wav(app.dir.path(), PITCH);
    app.mount_transcript(PITCH, seconds).await;

    let response = app
        .upload(&alice, &[("rubric", RUBRIC)], Some(wav.clone()), None)
        .await;
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let created: serde_json::Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(location, format!("/v1/submissions/{id}"));
    assert_eq!(created["status"], "queued");
    assert_eq!(created["rep_id"], "alice");
    assert_eq!(created["content_type"], "audio/wav", "sniffed, not claimed");
    assert_eq!(created["byte_size"], wav.len() as u64);
    assert!(created["grade"].is_null());

    let depth = app.parts.repo.queue_depth().await.unwrap();
    assert_eq!(depth.available, 1, "{depth:?}");

    let outcome = app.run_worker_once().await.expect("a job was queued");
    assert!(
        matches!(outcome, JobOutcome::Graded { .. }),
        "the worker graded it: {outcome:?}"
    );

    let (status, body) = app.get_json(&alice, &location).await;
    assert_eq!(status, 200, "{body}");
    let state = body["status"].as_str().unwrap();
    assert!(state == "graded" || state == "needs_review", "{body}");
    let grade = &body["grade"];
    assert!(["pass", "fail", "borderline"].contains(&grade["decision"].as_str().unwrap()));
    assert!(grade["score"].as_f64().is_some());
    assert_eq!(grade["rubric"]["id"], RUBRIC);
    assert_eq!(grade["backends"]["transcriber"], "openai");
    assert!(
        grade["graded_at"].is_string() && grade["attempt"] == 1,
        "{grade}"
    );
    let criteria = grade["criteria"].as_array().expect("criteria");
    assert!(criteria.len() >= 5, "{grade}");
    let value_prop = criteria
        .iter()
        .find(|c| c["id"] == "value_prop")
        .expect("value_prop is graded");
    let evidence = value_prop["evidence"].as_array().expect("evidence");
    assert!(
        !evidence.is_empty(),
        "the value proposition is quoted: {value_prop}"
    );
    let quote = evidence[0]["quote"].as_str().unwrap().to_lowercase();
    assert!(
        PITCH.to_lowercase().contains(&quote) || quote.contains("four days"),
        "{quote}"
    );
    assert!(evidence[0]["start"].as_f64().unwrap() < evidence[0]["end"].as_f64().unwrap());
    assert!(grade["transcript"]["words"].as_array().unwrap().len() > 20);

    let (status, list) = app.get_json(&alice, "/v1/reps/alice/submissions").await;
    assert_eq!(status, 200);
    let listed = list["submissions"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["status"], state);
}

#[tokio::test]
async fn multipart_upload_is_queued_graded_and_readable_sqlite() {
    upload_grade_and_read(spawn_app().await).await;
}

#[tokio::test]
async fn multipart_upload_is_queued_graded_and_readable_postgres() {
    upload_grade_and_read(
        spawn_app_with(AppOptions {
            db: Db::Postgres,
            ..AppOptions::default()
        })
        .await,
    )
    .await;
}

fn nothing_queued(depth: QueueDepth) {
    assert_eq!(depth, QueueDepth::default(), "no job may be queued");
}

#[tokio::test]
async fn documents_and_text_are_refused_before_anything_is_queued() {
    let app = spawn_app().await;
    let alice = app.token("rep", Some("alice")).await;

    let pdf = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n".repeat(50);
    let response = app
        .upload(&alice, &[("rubric", RUBRIC)], Some(pdf), None)
        .await;
    assert_eq!(response.status(), 415);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_audio");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("PDF") && message.contains("not an audio recording"),
        "{message}"
    );

    // A large document gets its answer too, though the client is still sending.
    let big_pdf = b"%PDF-1.7\n"
        .iter()
        .copied()
        .cycle()
        .take(12 << 20)
        .collect::<Vec<u8>>();
    let response = app
        .upload(&alice, &[("rubric", RUBRIC)], Some(big_pdf), None)
        .await;
    assert_eq!(response.status(), 415);
    let body: serde_json::Value = response.json().await.expect("the whole answer arrives");
    assert_eq!(body["error"]["code"], "not_audio");

    let text = b"Hi Dana, here is my pitch typed out because my microphone broke.".to_vec();
    let response = app
        .upload(&alice, &[("rubric", RUBRIC)], Some(text), None)
        .await;
    assert_eq!(response.status(), 415);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unsupported_format");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("M4A or MP3"));

    let response = app
        .upload(&alice, &[("rubric", RUBRIC)], Some(Vec::new()), None)
        .await;
    assert_eq!(response.status(), 422);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "empty_file");

    let wav = spoken_wav(app.dir.path(), "Hello there.").0;
    let response = app
        .upload(
            &alice,
            &[("rubric", "no-such-rubric")],
            Some(wav.clone()),
            None,
        )
        .await;
    assert_eq!(response.status(), 422);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unknown_rubric");
    assert!(body["error"]["message"].as_str().unwrap().contains(RUBRIC));

    let response = app.upload(&alice, &[], Some(wav), None).await;
    assert_eq!(response.status(), 400);

    nothing_queued(app.parts.repo.queue_depth().await.unwrap());
    assert!(
        app.stored_objects().is_empty(),
        "{:?}",
        app.stored_objects()
    );
    let (_, list) = app.get_json(&alice, "/v1/reps/alice/submissions").await;
    assert_eq!(list["submissions"].as_array().unwrap().len(), 0);
}

/// A WAV header, then `total` bytes of silence, produced lazily; `pulled`
/// counts what the client actually read from it.
fn endless_wav(total: u64, pulled: Arc<AtomicU64>) -> reqwest::Body {
    let mut header = b"RIFF\xff\xff\xff\x7fWAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80\x3e\x00\x00\x00\x7d\x00\x00\x02\x00\x10\x00data\xff\xff\xff\x7f".to_vec();
    header.resize(64 * 1024, 0);
    let first = Bytes::from(header);
    let chunk = Bytes::from(vec![0u8; 64 * 1024]);
    let chunks = (total / chunk.len() as u64) as usize;
    let stream = futures_util::stream::iter((0..chunks).map(move |i| {
        let c = if i == 0 { first.clone() } else { chunk.clone() };
        pulled.fetch_add(c.len() as u64, Ordering::SeqCst);
        Ok::<_, std::io::Error>(c)
    }));
    reqwest::Body::wrap_stream(stream)
}

#[tokio::test]
async fn an_oversize_upload_gets_413_without_being_read_to_the_end() {
    const LIMIT: u64 = 1024 * 1024;
    const SENT: u64 = 64 * 1024 * 1024;
    let app = spawn_app_with(AppOptions {
        max_upload_bytes: LIMIT,
        ..AppOptions::default()
    })
    .await;
    let alice = app.token("rep", Some("alice")).await;

    // Streamed without a length (chunked): refused once the limit is crossed.
    let pulled = Arc::new(AtomicU64::new(0));
    let form = reqwest::multipart::Form::new().text("rubric", RUBRIC).part(
        "file",
        reqwest::multipart::Part::stream(endless_wav(SENT, pulled.clone())).file_name("long.wav"),
    );
    let result = app
        .client
        .post(app.url("/v1/submissions"))
        .bearer_auth(&alice)
        .multipart(form)
        .send()
        .await;
    let response = result.expect("the server answers before the body ends");
    assert_eq!(response.status(), 413);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_large");
    assert!(body["error"]["message"].as_str().unwrap().contains("1 MB"));
    let read = pulled.load(Ordering::SeqCst);
    eprintln!("client produced {read} bytes of a {SENT}-byte body before the 413");
    assert!(
        read < SENT / 4,
        "the server stopped reading near the limit; the client produced {read} bytes"
    );

    // With a declared length over the limit: refused before the body is read.
    let pulled = Arc::new(AtomicU64::new(0));
    let form = reqwest::multipart::Form::new().text("rubric", RUBRIC).part(
        "file",
        reqwest::multipart::Part::stream_with_length(endless_wav(SENT, pulled.clone()), SENT)
            .file_name("long.wav"),
    );
    let response = app
        .client
        .post(app.url("/v1/submissions"))
        .bearer_auth(&alice)
        .multipart(form)
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), 413);
    assert!(pulled.load(Ordering::SeqCst) < SENT / 4);

    nothing_queued(app.parts.repo.queue_depth().await.unwrap());
    assert!(app.stored_objects().is_empty());
}

#[tokio::test]
async fn an_idempotency_key_replay_returns_the_first_submission_and_stores_one_object() {
    let app = spawn_app().await;
    let alice = app.token("rep", Some("alice")).await;
    let wav = spoken_wav(
        app.dir.path(),
        "Our customers close the books in four days.",
    )
    .0;

    let first = app
        .upload(
            &alice,
            &[("rubric", RUBRIC)],
            Some(wav.clone()),
            Some("retry-42"),
        )
        .await;
    assert_eq!(first.status(), 202);
    let first: serde_json::Value = first.json().await.unwrap();

    let again = app
        .upload(
            &alice,
            &[("rubric", RUBRIC)],
            Some(wav.clone()),
            Some("retry-42"),
        )
        .await;
    assert_eq!(again.status(), 200, "a replay is not a new submission");
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: serde_json::Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);

    // The same key for another rubric would grade the wrong thing: refused.
    let other = app
        .upload(
            &alice,
            &[("rubric", "ledgerly-technical-demo")],
            Some(wav.clone()),
            Some("retry-42"),
        )
        .await;
    assert_eq!(other.status(), 409);
    let body: serde_json::Value = other.json().await.unwrap();
    assert_eq!(body["error"]["code"], "idempotency_conflict");

    assert_eq!(app.stored_objects().len(), 1, "{:?}", app.stored_objects());
    let depth = app.parts.repo.queue_depth().await.unwrap();
    assert_eq!(depth.available, 1);
    let (_, list) = app.get_json(&alice, "/v1/reps/alice/submissions").await;
    assert_eq!(list["submissions"].as_array().unwrap().len(), 1);

    // Keys are per rep: bob's "retry-42" is his own submission.
    let bob = app.token("rep", Some("bob")).await;
    let bobs = app
        .upload(&bob, &[("rubric", RUBRIC)], Some(wav), Some("retry-42"))
        .await;
    assert_eq!(bobs.status(), 202);
    let bobs: serde_json::Value = bobs.json().await.unwrap();
    assert_ne!(bobs["id"], first["id"]);
    assert_eq!(app.stored_objects().len(), 2);
}

/// A WAV header with no samples sniffs as audio; once it was queued and
/// failed minutes later in the worker. Intake's quick check now decodes a
/// small file before queueing it, so the rep hears why at once, and nothing
/// is stored or counted. (Failures only the worker can find — a large file
/// damaged far in — are covered in tests/worker_jobs.rs.)
#[tokio::test]
async fn an_unusable_recording_is_refused_at_intake_with_its_reason() {
    let app = spawn_app().await;
    let alice = app.token("rep", Some("alice")).await;
    let mut wav = b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80\x3e\x00\x00\x00\x7d\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00".to_vec();
    wav.truncate(44);
    let response = app
        .upload(&alice, &[("rubric", RUBRIC)], Some(wav), None)
        .await;
    assert_eq!(response.status(), 422);
    let body: serde_json::Value = response.json().await.unwrap();
    let message = body["error"]["message"]
        .as_str()
        .expect("a reason for the rep");
    assert!(!message.is_empty() && !message.contains('\n'), "{message}");
    assert_eq!(app.parts.repo.queue_depth().await.unwrap().available, 0);
    assert!(
        app.stored_objects().is_empty(),
        "{:?}",
        app.stored_objects()
    );

    // A cut-off M4A (the moov index promised, the bytes never came).
    let (m4a, _) = crate::common::app::spoken_m4a(app.dir.path(), PITCH);
    let cut = m4a[..m4a.len() * 2 / 3].to_vec();
    let response = app
        .upload(&alice, &[("rubric", RUBRIC)], Some(cut), None)
        .await;
    assert_eq!(response.status(), 422);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unreadable_recording", "{body}");
    assert_eq!(app.parts.repo.queue_depth().await.unwrap().available, 0);
}

/// A recording far shorter than the rubric's timing (here 10 s against a
/// lower limit of 2 minutes) would have earned nothing for timing and cost
/// the rep an attempt and a week's cooldown; intake refuses it, saying it
/// did not count.
#[tokio::test]
async fn a_recording_far_too_short_for_the_rubric_does_not_count() {
    let app = spawn_app_with(AppOptions {
        min_recording_share: 0.5,
        ..AppOptions::default()
    })
    .await;
    let alice = app.token("rep", Some("alice")).await;
    let (wav, seconds) = spoken_wav(
        app.dir.path(),
        "Hi Dana, Ledgerly closes your books faster.",
    );
    assert!(seconds < 30.0, "{seconds}");
    let response = app
        .upload(&alice, &[("rubric", RUBRIC)], Some(wav), None)
        .await;
    assert_eq!(response.status(), 422);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_short", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("did not count as an attempt"), "{message}");
    assert!(message.contains("at least 1:00"), "{message}");
    assert_eq!(app.parts.repo.queue_depth().await.unwrap().available, 0);
    let (_, listed) = app.get_json(&alice, "/v1/reps/alice/submissions").await;
    assert_eq!(
        listed["submissions"].as_array().map(Vec::len),
        Some(0),
        "{listed}"
    );
}
