//! Partner firms as tenants: a partner admin of Acme reaches Acme's reps,
//! grades, standing and report, keeps Acme's roster, and gets nothing of
//! Globex's from any route of the router's own list; a reviewer bound to Acme
//! reads and reviews Acme's grades only. On SQLite and PostgreSQL.

use std::collections::BTreeMap;
use std::sync::Arc;

use pitchgrade::certify::{apply_decision, Applied, Program};
use pitchgrade::score::decide::{Decision, Verdict};
use pitchgrade::service::api::{Verb, ROUTES};
use pitchgrade::store::db::uploads::NewUpload;
use pitchgrade::store::ObjectKey;
use serde_json::json;
use uuid::Uuid;

use crate::common::app::{spawn_app_with, AppOptions, Db, TestApp, ADMIN_TOKEN};
use crate::seed::seed_grade;

const SALES: &str = "ledgerly-sales-pitch";

/// What a partner admin may do with its own firm's data.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Own {
    /// Allowed: anything but a refusal of the caller.
    In,
    /// Not for a partner admin at all (grading, reviewing, tokens, …).
    Refused,
    /// Open to anyone (probes, the API document).
    Public,
}

/// Every route's rule for a partner admin. A route added to `ROUTES`
/// without a line here fails the test.
fn partner_rules() -> BTreeMap<(&'static str, &'static str), Own> {
    use Own::*;
    BTreeMap::from([
        (("post", "/v1/submissions"), Refused),
        (("get", "/v1/submissions/{id}"), In),
        (("get", "/v1/submissions/{id}/audit"), In),
        (("get", "/v1/reps/{rep}/submissions"), In),
        (("post", "/v1/uploads"), Refused),
        (("post", "/v1/uploads/{id}/complete"), Refused),
        (("post", "/v1/events/s3"), Refused),
        (("post", "/v1/tokens"), Refused),
        (("delete", "/v1/tokens/{id}"), Refused),
        (("put", "/v1/reps/{rep}"), In),
        (("delete", "/v1/reps/{rep}"), Refused),
        (("get", "/v1/reps/{rep}/rights"), In),
        (("get", "/v1/reps/{rep}/retake"), In),
        (("put", "/v1/firms/{firm}"), Refused),
        (("get", "/v1/firms/{firm}/standing"), In),
        (("get", "/v1/reviews"), Refused),
        (("post", "/v1/reviews/claim"), Refused),
        (("post", "/v1/reviews/{id}/decision"), Refused),
        (("get", "/v1/reports"), In),
        (("get", "/v1/rubrics/{id}/versions/{version}"), Refused),
        (("get", "/healthz"), Public),
        (("get", "/readyz"), Public),
        (("get", "/metrics"), Public),
        (("get", "/openapi.json"), Public),
    ])
}

/// One firm's things, as a route's path and body name them.
struct Firm {
    id: &'static str,
    rep: &'static str,
    submission: Uuid,
    upload: Uuid,
    review: Uuid,
}

struct World {
    app: TestApp,
    acme: Firm,
    globex: Firm,
    /// partner_admin of Acme.
    partner: String,
    /// A reviewer bound to Acme.
    acme_reviewer: String,
}

fn program() -> Arc<Program> {
    crate::common::app::shipped_program()
}

async fn put(app: &TestApp, token: &str, path: &str, body: serde_json::Value) -> reqwest::Response {
    app.client
        .put(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("PUT")
}

async fn firm_token(app: &TestApp, role: &str, firm: Option<&str>) -> reqwest::Response {
    app.client
        .post(app.url("/v1/tokens"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"role": role, "firm": firm}))
        .send()
        .await
        .expect("POST /v1/tokens")
}

/// Acme (alice) and Globex (bob), each rep with a borderline grade waiting
/// for review and a direct upload in flight.
async fn world(db: Db) -> World {
    let program = program();
    let app = spawn_app_with(AppOptions {
        db,
        program: Some(program.clone()),
        ..AppOptions::default()
    })
    .await;
    let mut firms = Vec::new();
    for (firm, rep) in [("acme", "alice"), ("globex", "bob")] {
        let r = put(
            &app,
            ADMIN_TOKEN,
            &format!("/v1/firms/{firm}"),
            json!({"name": firm}),
        )
        .await;
        assert_eq!(r.status(), 200);
        let r = put(
            &app,
            ADMIN_TOKEN,
            &format!("/v1/reps/{rep}"),
            json!({"firm": firm, "role": "sales"}),
        )
        .await;
        assert_eq!(r.status(), 200);
        let repo = app.parts.repo.as_ref();
        let now = chrono::Utc::now();
        let submission = seed_grade(
            repo,
            rep,
            SALES,
            Decision::Borderline,
            68.0,
            &[("customer_proof", Verdict::Missed)],
            now,
        )
        .await;
        let review = match apply_decision(repo, &program, submission, now)
            .await
            .unwrap()
        {
            Applied::QueuedForReview { review, .. } => review.id,
            other => panic!("{other:?}"),
        };
        let upload = repo
            .create_upload(
                &NewUpload {
                    rep_id: rep.into(),
                    rubric_id: SALES.into(),
                    object_key: ObjectKey::new_upload(now).to_string(),
                    idempotency_key: None,
                    expires_at: now + chrono::TimeDelta::hours(1),
                },
                now,
            )
            .await
            .unwrap()
            .id;
        firms.push(Firm {
            id: firm,
            rep,
            submission,
            upload,
            review,
        });
    }
    let globex = firms.pop().unwrap();
    let acme = firms.pop().unwrap();
    let token = |r: reqwest::Response| async move {
        assert_eq!(r.status(), 201);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["firm_id"], "acme", "{body}");
        body["token"].as_str().unwrap().to_string()
    };
    let partner = token(firm_token(&app, "partner_admin", Some("acme")).await).await;
    let acme_reviewer = token(firm_token(&app, "reviewer", Some("acme")).await).await;
    World {
        app,
        acme,
        globex,
        partner,
        acme_reviewer,
    }
}

impl World {
    /// The route filled in with `firm`'s things, and a body a permitted caller
    /// could send, so a refusal can only be about whose data it is.
    fn request(&self, verb: Verb, path: &str, firm: &Firm, token: &str) -> reqwest::RequestBuilder {
        let id = match path {
            "/v1/submissions/{id}" | "/v1/submissions/{id}/audit" => firm.submission.to_string(),
            "/v1/uploads/{id}/complete" => firm.upload.to_string(),
            "/v1/reviews/{id}/decision" => firm.review.to_string(),
            "/v1/rubrics/{id}/versions/{version}" => SALES.to_string(),
            _ => Uuid::now_v7().to_string(),
        };
        let concrete = path
            .replace("{rep}", firm.rep)
            .replace("{firm}", firm.id)
            .replace("{version}", "1")
            .replace("{id}", &id);
        let concrete = match path {
            "/v1/reps/{rep}/retake" => format!("{concrete}?track=sales"),
            "/v1/reports" => format!("{concrete}?firm={}", firm.id),
            _ => concrete,
        };
        let request = self.app.request(verb, &concrete);
        let request = match (verb, path) {
            (Verb::Post, "/v1/submissions") => request.multipart(
                reqwest::multipart::Form::new()
                    .text("rubric", SALES)
                    .text("rep", firm.rep),
            ),
            (Verb::Post, "/v1/uploads") => request
                .json(&json!({"rubric": SALES, "rep": firm.rep, "content_type": "audio/wav"})),
            (Verb::Post, "/v1/events/s3") => request.json(&json!({"Records": []})),
            (Verb::Post, "/v1/tokens") => request.json(&json!({"role": "rep", "rep": firm.rep})),
            (Verb::Put, "/v1/reps/{rep}") => {
                request.json(&json!({"firm": firm.id, "role": "sales"}))
            }
            (Verb::Put, "/v1/firms/{firm}") => request.json(&json!({"name": "Renamed"})),
            (Verb::Post, "/v1/reviews/claim") => request.json(&json!({"id": firm.review})),
            (Verb::Post, "/v1/reviews/{id}/decision") => {
                request.json(&json!({"decision": "pass", "reason": "checked by hand"}))
            }
            _ => request,
        };
        request.bearer_auth(token)
    }
}

async fn a_partner_admin_reaches_its_own_firm_and_nothing_of_another(db: Db) {
    let rules = partner_rules();
    let listed: Vec<(&str, &str)> = ROUTES.iter().map(|r| (r.verb.as_str(), r.path)).collect();
    let unruled: Vec<_> = listed.iter().filter(|k| !rules.contains_key(*k)).collect();
    assert!(
        unruled.is_empty(),
        "routes without a partner-admin rule: {unruled:?}"
    );
    let stale: Vec<_> = rules.keys().filter(|k| !listed.contains(k)).collect();
    assert!(
        stale.is_empty(),
        "rules for routes that no longer exist: {stale:?}"
    );

    let world = world(db).await;
    let mut wrong = Vec::new();
    for route in ROUTES {
        let rule = rules[&(route.verb.as_str(), route.path)];
        for (whose, firm) in [("own", &world.acme), ("other", &world.globex)] {
            let response = world
                .request(route.verb, route.path, firm, &world.partner)
                .send()
                .await
                .expect("request");
            let status = response.status().as_u16();
            let ok = match (rule, whose) {
                (Own::Public, _) => status < 400,
                (Own::In, "own") => status < 400,
                // Another firm's anything, and what a partner admin may never
                // do, are refused: 403, or 404 where "not yours" would confirm
                // that the rep, firm or grade exists.
                _ => matches!(status, 403 | 404),
            };
            if !ok {
                let body = response.text().await.unwrap_or_default();
                wrong.push(format!(
                    "{} {} on the {whose} firm: got {status} ({rule:?}): {}",
                    route.verb.as_str().to_uppercase(),
                    route.path,
                    body.chars().take(160).collect::<String>()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong answers:\n{}",
        wrong.len(),
        wrong.join("\n")
    );

    // What it reads is its firm's: the report without `?firm=` is Acme's.
    let (status, report) = world.app.get_json(&world.partner, "/v1/reports").await;
    assert_eq!(status, 200);
    let firms: Vec<&str> = report["coverage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["firm_id"].as_str().unwrap())
        .collect();
    assert_eq!(firms, ["acme"], "{report}");
    // Enablement still reads every firm, or one when it asks.
    let enablement = world.app.token("enablement", None).await;
    let (_, all) = world.app.get_json(&enablement, "/v1/reports").await;
    assert_eq!(all["coverage"].as_array().unwrap().len(), 2, "{all}");
    let (_, one) = world
        .app
        .get_json(&enablement, "/v1/reports?firm=globex")
        .await;
    assert_eq!(one["coverage"][0]["firm_id"], "globex", "{one}");
    assert_eq!(one["coverage"].as_array().unwrap().len(), 1, "{one}");
    // The grade it reads carries its evidence.
    let (status, sub) = world
        .app
        .get_json(
            &world.partner,
            &format!("/v1/submissions/{}", world.acme.submission),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        sub["grade"]["criteria"]
            .as_array()
            .is_some_and(|c| !c.is_empty()),
        "{sub}"
    );
}

async fn a_partner_admin_keeps_its_own_roster_only(db: Db) {
    let world = world(db).await;
    let app = &world.app;
    // Adds a rep to its firm, then deactivates them.
    let r = put(
        app,
        &world.partner,
        "/v1/reps/carol",
        json!({"firm": "acme", "role": "sales"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = put(
        app,
        &world.partner,
        "/v1/reps/carol",
        json!({"firm": "acme", "role": "sales", "active": false}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let carol = app.parts.repo.get_rep("carol").await.unwrap().unwrap();
    assert_eq!((carol.firm_id.as_str(), carol.active), ("acme", false));
    // Cannot put a rep on another firm's roster, nor take another firm's rep.
    let r = put(
        app,
        &world.partner,
        "/v1/reps/dan",
        json!({"firm": "globex", "role": "sales"}),
    )
    .await;
    assert_eq!(r.status(), 403);
    let r = put(
        app,
        &world.partner,
        "/v1/reps/bob",
        json!({"firm": "acme", "role": "sales"}),
    )
    .await;
    assert_eq!(r.status(), 404);
    let bob = app.parts.repo.get_rep("bob").await.unwrap().unwrap();
    assert_eq!(bob.firm_id, "globex", "bob stays on Globex's roster");
    assert!(app.parts.repo.get_rep("dan").await.unwrap().is_none());

    // A partner admin token needs a firm, and a firm that exists; enablement
    // cannot be bound to one.
    assert_eq!(firm_token(app, "partner_admin", None).await.status(), 400);
    let r = firm_token(app, "partner_admin", Some("initech")).await;
    assert_eq!(r.status(), 422);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unknown_firm", "{body}");
    assert_eq!(
        firm_token(app, "enablement", Some("acme")).await.status(),
        400
    );
}

async fn a_reviewer_bound_to_a_firm_reviews_that_firm_only(db: Db) {
    let world = world(db).await;
    let app = &world.app;
    let token = &world.acme_reviewer;
    // The queue holds Acme's grade only; the unbound reviewer sees both.
    let (status, queue) = app.get_json(token, "/v1/reviews").await;
    assert_eq!(status, 200);
    let reps: Vec<&str> = queue
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rep_id"].as_str().unwrap())
        .collect();
    assert_eq!(reps, ["alice"], "{queue}");
    let everyone = app.token("reviewer", None).await;
    let (_, all) = app.get_json(&everyone, "/v1/reviews").await;
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");

    // Globex's grade, rep and review read as missing.
    for path in [
        format!("/v1/submissions/{}", world.globex.submission),
        "/v1/reps/bob/submissions".to_string(),
        "/v1/reps/bob/rights".to_string(),
    ] {
        let (status, body) = app.get_json(token, &path).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    let claim = |id: Uuid| {
        app.client
            .post(app.url("/v1/reviews/claim"))
            .bearer_auth(token)
            .json(&json!({ "id": id }))
            .send()
    };
    assert_eq!(claim(world.globex.review).await.unwrap().status(), 204);
    let decide = app
        .client
        .post(app.url(&format!("/v1/reviews/{}/decision", world.globex.review)))
        .bearer_auth(token)
        .json(&json!({"decision": "pass", "reason": "looked fine"}))
        .send()
        .await
        .unwrap();
    assert_eq!(decide.status(), 404);
    // Acme's: claimed and decided as usual.
    assert_eq!(claim(world.acme.review).await.unwrap().status(), 200);
    let decide = app
        .client
        .post(app.url(&format!("/v1/reviews/{}/decision", world.acme.review)))
        .bearer_auth(token)
        .json(&json!({"decision": "pass", "reason": "the rep made the point in other words"}))
        .send()
        .await
        .unwrap();
    assert_eq!(decide.status(), 200, "{}", decide.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_admin_reaches_its_own_firm_and_nothing_of_another_on_sqlite() {
    a_partner_admin_reaches_its_own_firm_and_nothing_of_another(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_admin_reaches_its_own_firm_and_nothing_of_another_on_postgres() {
    a_partner_admin_reaches_its_own_firm_and_nothing_of_another(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_admin_keeps_its_own_roster_only_on_sqlite() {
    a_partner_admin_keeps_its_own_roster_only(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_admin_keeps_its_own_roster_only_on_postgres() {
    a_partner_admin_keeps_its_own_roster_only(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_bound_to_a_firm_reviews_that_firm_only_on_sqlite() {
    a_reviewer_bound_to_a_firm_reviews_that_firm_only(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_bound_to_a_firm_reviews_that_firm_only_on_postgres() {
    a_reviewer_bound_to_a_firm_reviews_that_firm_only(Db::Postgres).await;
}
