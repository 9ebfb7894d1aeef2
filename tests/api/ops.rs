//! What operators use: the OpenAPI document, health, readiness, metrics.

use std::collections::BTreeSet;

use pitchgrade::service::api::openapi::ApiDoc;
use pitchgrade::service::api::ROUTES;
use utoipa::OpenApi;

use crate::common::app::{spawn_app, spoken_wav, RUBRIC};

/// The router is built from `ROUTES`; the document must name exactly those
/// routes, so adding one without its annotation (or documenting one that does
/// not exist) fails here.
#[test]
fn the_openapi_document_has_exactly_the_routers_routes() {
    let routes: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.path.to_string(), r.verb.as_str().to_string()))
        .collect();
    assert_eq!(routes.len(), ROUTES.len(), "a route is listed twice");
    let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            ["get", "put", "post", "delete", "patch", "head", "options"]
                .into_iter()
                .filter(|m| item.get(*m).is_some())
                .map(move |m| (path.clone(), m.to_string()))
        })
        .collect();
    let undocumented: Vec<_> = routes.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routes).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routes without documentation: {undocumented:?}; documented but not routed: {unrouted:?}"
    );
}

#[tokio::test]
async fn the_openapi_document_parses_and_lists_every_route() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let doc: serde_json::Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/submissions", "post"),
        ("/v1/submissions/{id}", "get"),
        ("/v1/reps/{rep}/submissions", "get"),
        ("/v1/uploads", "post"),
        ("/v1/uploads/{id}/complete", "post"),
        ("/v1/events/s3", "post"),
        ("/v1/tokens", "post"),
        ("/v1/tokens/{id}", "delete"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is documented"
        );
    }
    let create = &paths["/v1/submissions"]["post"];
    assert!(create["requestBody"]["content"]["multipart/form-data"].is_object());
    assert!(create["responses"]["413"].is_object() && create["responses"]["415"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    assert!(schemas.contains_key("SubmissionResponse") && schemas.contains_key("ErrorBody"));
}

#[tokio::test]
async fn health_readiness_and_unknown_routes() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("", "/healthz").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, body) = app.get_json("", "/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["database"], "ok");
    assert_eq!(body["objects"], "ok");

    // The recordings volume gone (a file where the folder was): not ready,
    // but still alive.
    let objects = app.objects_dir.clone().unwrap();
    std::fs::remove_dir_all(&objects).unwrap();
    std::fs::write(&objects, b"not a folder").unwrap();
    let (status, body) = app.get_json("", "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["database"], "ok");
    assert_eq!(body["objects"], "unavailable");
    let (status, _) = app.get_json("", "/healthz").await;
    assert_eq!(status, 200);

    let (status, body) = app.get_json("", "/v2/nothing").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, body) = app.get_json("x", "/v1/submissions/not-a-uuid").await;
    assert!(status == 401 || status == 404, "{status} {body}");
}

#[tokio::test]
async fn metrics_show_the_current_queue_depth() {
    let app = spawn_app().await;
    let alice = app.token("rep", Some("alice")).await;
    let scrape = || async {
        let response = app.client.get(app.url("/metrics")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"));
        response.text().await.unwrap()
    };
    let before = scrape().await;
    assert!(
        before.contains("pitchgrade_queue_jobs{state=\"available\"} 0"),
        "{before}"
    );

    let wav = spoken_wav(
        app.dir.path(),
        "Our customers close the books in four days.",
    )
    .0;
    for _ in 0..2 {
        let response = app
            .upload(&alice, &[("rubric", RUBRIC)], Some(wav.clone()), None)
            .await;
        assert_eq!(response.status(), 202);
    }
    let after = scrape().await;
    assert!(
        after.contains("pitchgrade_queue_jobs{state=\"available\"} 2"),
        "{after}"
    );
    assert!(after.trim_end().ends_with("# EOF"));
}

/// Log lines of a request carry its submission id once the handler knows it.
#[tokio::test(flavor = "current_thread")]
async fn request_spans_carry_the_submission_id() {
    use crate::common::logs::Captured;

    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(logs.clone())
        .finish();
    // This runtime has one thread, which also runs the server's tasks.
    let _guard = tracing::subscriber::set_default(subscriber);
    // With a single live dispatcher, tracing decides a callsite's interest
    // from the default of whichever thread meets it first: another test's
    // thread, without this subscriber, would disable it for good. A second
    // one makes it ask every dispatcher.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());

    let app = spawn_app().await;
    let alice = app.token("rep", Some("alice")).await;
    let wav = spoken_wav(
        app.dir.path(),
        "Our customers close the books in four days.",
    )
    .0;
    let response = app
        .upload(&alice, &[("rubric", RUBRIC)], Some(wav), None)
        .await;
    let id = response.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = app.get_json(&alice, &format!("/v1/submissions/{id}")).await;
    assert_eq!(status, 200);

    let text = logs.text();
    let tagged = |needle: &str| {
        text.lines().any(|l| {
            l.contains("request{method=")
                && l.contains(needle)
                && l.contains(&format!("submission_id={id}"))
        })
    };
    assert!(tagged("submission queued"), "{text}");
    assert!(tagged("path=/v1/submissions/"), "{text}");
}

/// A rubric version names one text: the first grade records it, the text
/// stays readable through the API, and a file edited under the same version
/// is refused by `rubric lint --database-url` and at start.
#[tokio::test]
async fn a_rubric_version_graded_with_cannot_change_its_text() {
    use crate::common::app::{spoken_wav, PITCH, RUBRIC};
    let app = crate::common::app::spawn_app().await;
    let alice = app.token("rep", Some("alice")).await;
    let reviewer = app.token("reviewer", None).await;
    let path = format!("/v1/rubrics/{RUBRIC}/versions/1");
    let (status, _) = app.get_json(&reviewer, &path).await;
    assert_eq!(status, 404, "never graded with yet");

    let (wav, seconds) = spoken_wav(app.dir.path(), PITCH);
    app.mount_transcript(PITCH, seconds).await;
    let r = app
        .upload(&alice, &[("rubric", RUBRIC)], Some(wav), None)
        .await;
    assert_eq!(r.status(), 202);
    app.run_worker_once().await.expect("a job");

    let file = crate::common::app::repo_root().join(format!("rubrics/{RUBRIC}.toml"));
    let text = std::fs::read_to_string(&file).unwrap();
    let (status, body) = app.get_json(&reviewer, &path).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["text"], text.as_str());
    assert_eq!(body["version"], 1);
    let (status, _) = app.get_json(&alice, &path).await;
    assert_eq!(status, 403, "a rep reads grades, not rubric history");

    // The same version with one word changed: lint against this database
    // refuses it and says what to do.
    let edited = app.dir.path().join(format!("{RUBRIC}.toml"));
    std::fs::write(&edited, text.replacen("Dana", "Dina", 1)).unwrap();
    let db_url = app.db_url();
    let lint = |file: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_pitchgrade"))
            .args(["rubric", "lint"])
            .arg(file)
            .args(["--database-url", &db_url])
            .output()
            .unwrap()
    };
    let out = lint(&edited);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("bump `version`"), "{stdout}\n{stderr}");
    // The unchanged file passes.
    let out = lint(&file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Bumped, the edit is a new version and fine.
    std::fs::write(
        &edited,
        text.replacen("Dana", "Dina", 1)
            .replacen("version = 1", "version = 2", 1),
    )
    .unwrap();
    let out = lint(&edited);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
