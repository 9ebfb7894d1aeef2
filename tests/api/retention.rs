//! What a person sees once a recording is gone: the result and review pages
//! say why instead of failing, the audio URL answers 410 with the same
//! sentence, and the API's submission carries the tombstone. The erasure
//! route is for admins, and erases.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{TimeDelta, Utc};
use pitchgrade::certify::{apply_decision, Program};
use pitchgrade::privacy::{self, RetentionPolicy};
use pitchgrade::score::decide::Decision;
use pitchgrade::store::ObjectKey;
use serde_json::json;
use uuid::Uuid;

use crate::common::app::{spawn_app_with, AppOptions, TestApp, ADMIN_TOKEN};
use crate::hardening::{no_redirects, serve_pages_with, sign_in};
use crate::seed::{seed_stored, Seeded};

const SALES: &str = "ledgerly-sales-pitch";

fn program() -> Arc<Program> {
    crate::common::app::shipped_program()
}

/// A graded submission of `rep` whose recording is really stored, with its
/// certification effect applied `days_ago` days ago.
async fn graded(
    app: &TestApp,
    program: &Program,
    rep: &str,
    decision: Decision,
    days_ago: i64,
) -> Uuid {
    let repo = app.parts.repo.as_ref();
    let at = Utc::now() - TimeDelta::days(days_ago);
    let key = ObjectKey::new_recording(at);
    app.parts
        .objects
        .put(&key, Bytes::from_static(b"RIFF....WAVEfmt "), "audio/wav")
        .await
        .unwrap();
    let id = seed_stored(
        repo,
        Seeded {
            object_key: key.to_string(),
            // Not runnable by the app's own worker.
            runnable_at: Utc::now() + TimeDelta::days(1),
            ..Seeded::new(rep, SALES, decision, 68.0, at)
        },
    )
    .await;
    apply_decision(repo, program, id, at).await.unwrap();
    id
}

async fn page(base: &str, cookie: &str, path: &str) -> (u16, String) {
    let r = no_redirects()
        .get(format!("{base}{path}"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_and_the_api_say_a_recording_was_deleted_instead_of_failing() {
    let program = program();
    let app = spawn_app_with(AppOptions {
        program: Some(program.clone()),
        ..AppOptions::default()
    })
    .await;
    for (path, body) in [
        ("/v1/firms/acme", json!({"name": "Acme"})),
        ("/v1/reps/alice", json!({"firm": "acme", "role": "sales"})),
        ("/v1/reps/bob", json!({"firm": "acme", "role": "sales"})),
    ] {
        let r = app
            .client
            .put(app.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // alice's pass is 100 days old: past the 90-day policy. bob's grade is
    // waiting for a reviewer: not final, so the policy keeps it.
    let old = graded(&app, &program, "alice", Decision::Pass, 100).await;
    let waiting = graded(&app, &program, "bob", Decision::Borderline, 100).await;
    let swept = privacy::sweep(
        app.parts.repo.as_ref(),
        app.parts.objects.as_ref(),
        &RetentionPolicy::default(),
        Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(swept.recordings_deleted, 1, "{swept:?}");

    let base = serve_pages_with(&app, Some(program.clone())).await;
    let admin = sign_in(&base, ADMIN_TOKEN).await;
    let (status, html) = page(&base, &admin, &format!("/submissions/{old}")).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("The recording was deleted under the retention policy."),
        "{html}"
    );
    assert!(
        !html.contains("<audio"),
        "no player for a recording that is gone"
    );
    let (status, body) = page(&base, &admin, &format!("/submissions/{old}/audio")).await;
    assert_eq!(status, 410);
    assert!(
        body.contains("deleted under the retention policy"),
        "{body}"
    );
    let (status, sub) = app
        .get_json(ADMIN_TOKEN, &format!("/v1/submissions/{old}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(sub["recording_deleted"]["reason"], "retention", "{sub}");
    assert!(sub["grade"].is_object(), "the grade stays: {sub}");

    // The review page still has its player until bob is erased.
    let (status, html) = page(&base, &admin, &format!("/review/{waiting}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("<audio"));

    // Erasure is an admin's: a reviewer is refused.
    let reviewer = app.token("reviewer", None).await;
    let erase = |token: String| {
        app.client
            .delete(app.url("/v1/reps/bob"))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(erase(reviewer).await.unwrap().status(), 403);
    let r = erase(ADMIN_TOKEN.to_string()).await.unwrap();
    assert_eq!(r.status(), 200);
    let done: serde_json::Value = r.json().await.unwrap();
    assert_eq!(done["recordings_deleted"], 1, "{done}");
    let alias = done["pseudonym"].as_str().unwrap().to_string();
    assert!(alias.starts_with("erased-"), "{done}");
    let (status, html) = page(&base, &admin, &format!("/review/{waiting}")).await;
    assert_eq!(status, 200);
    // (askama writes the apostrophe as &#39;)
    assert!(
        html.contains("The recording was deleted at the rep&#39;s request."),
        "{html}"
    );
    let named: Vec<&str> = html.lines().filter(|l| l.contains("bob")).collect();
    assert!(
        named.is_empty(),
        "the page names the pseudonym, not bob: {named:?}"
    );
    assert!(html.contains(&alias));
    let (status, _) = app.get_json(ADMIN_TOKEN, "/v1/reps/bob/submissions").await;
    assert_eq!(status, 200);
    let (_, list) = app.get_json(ADMIN_TOKEN, "/v1/reps/bob/submissions").await;
    assert_eq!(
        list["submissions"],
        json!([]),
        "nothing under bob's id any more"
    );
    assert_eq!(erase(ADMIN_TOKEN.to_string()).await.unwrap().status(), 404);
}
