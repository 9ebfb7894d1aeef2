//! Who may call what: every route of the router's own list, for every kind
//! of caller. A route added to `ROUTES` without a rule here fails the test,
//! so no route ships without someone deciding who may use it.

use std::collections::BTreeMap;
use std::sync::Arc;

use pitchgrade::certify::Program;
use pitchgrade::service::api::{Verb, ROUTES};
use pitchgrade::store::db::uploads::NewUpload;
use pitchgrade::store::ObjectKey;
use serde_json::json;

use crate::common::app::{
    spawn_app_with, spoken_wav, AppOptions, TestApp, ADMIN_TOKEN, PITCH, RUBRIC,
};

/// Who a route is for.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// Anyone, signed in or not (probes, the API document).
    Public,
    /// Tokens of these roles; every other token is refused.
    Roles(&'static [&'static str]),
    /// Rep A, about rep A's own data, and tokens of these roles; rep B is
    /// refused (403, or 404 where saying "not yours" would confirm it exists).
    OwnRepOr(&'static [&'static str]),
    /// Any rep acting for themself, and tokens of these roles.
    AnyRepOr(&'static [&'static str]),
}

const READERS: &[&str] = &["reviewer", "enablement", "admin"];
const PROGRAM_ADMINS: &[&str] = &["enablement", "admin"];
const REVIEWERS: &[&str] = &["reviewer", "admin"];
const ADMIN: &[&str] = &["admin"];

/// The rule of every route. Keep it beside `ROUTES` in your head: the test
/// below fails until both agree.
fn rules() -> BTreeMap<(&'static str, &'static str), Rule> {
    use Rule::*;
    BTreeMap::from([
        (("post", "/v1/submissions"), AnyRepOr(ADMIN)),
        (("get", "/v1/submissions/{id}"), OwnRepOr(READERS)),
        (("get", "/v1/submissions/{id}/audit"), OwnRepOr(READERS)),
        (("get", "/v1/reps/{rep}/submissions"), OwnRepOr(READERS)),
        (("post", "/v1/uploads"), AnyRepOr(ADMIN)),
        (("post", "/v1/uploads/{id}/complete"), OwnRepOr(ADMIN)),
        (("post", "/v1/events/s3"), Roles(ADMIN)),
        (("post", "/v1/tokens"), Roles(ADMIN)),
        (("delete", "/v1/tokens/{id}"), Roles(ADMIN)),
        (("put", "/v1/reps/{rep}"), Roles(PROGRAM_ADMINS)),
        (("delete", "/v1/reps/{rep}"), Roles(ADMIN)),
        (("get", "/v1/reps/{rep}/rights"), OwnRepOr(READERS)),
        (("get", "/v1/reps/{rep}/retake"), OwnRepOr(READERS)),
        (("put", "/v1/firms/{firm}"), Roles(PROGRAM_ADMINS)),
        (("get", "/v1/firms/{firm}/standing"), Roles(PROGRAM_ADMINS)),
        (("get", "/v1/reviews"), Roles(READERS)),
        (("post", "/v1/reviews/claim"), Roles(REVIEWERS)),
        (("post", "/v1/reviews/{id}/decision"), Roles(REVIEWERS)),
        (("get", "/v1/reports"), Roles(PROGRAM_ADMINS)),
        (
            ("get", "/v1/rubrics/{id}/versions/{version}"),
            Roles(READERS),
        ),
        (("get", "/healthz"), Public),
        (("get", "/readyz"), Public),
        (("get", "/metrics"), Public),
        (("get", "/openapi.json"), Public),
    ])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Nobody,
    Invalid,
    Revoked,
    RepA,
    RepB,
    Reviewer,
    Enablement,
    Admin,
}

impl Who {
    const ALL: [Who; 8] = [
        Who::Nobody,
        Who::Invalid,
        Who::Revoked,
        Who::RepA,
        Who::RepB,
        Who::Reviewer,
        Who::Enablement,
        Who::Admin,
    ];

    fn role(self) -> Option<&'static str> {
        match self {
            Who::RepA | Who::RepB => Some("rep"),
            Who::Reviewer => Some("reviewer"),
            Who::Enablement => Some("enablement"),
            Who::Admin => Some("admin"),
            Who::Nobody | Who::Invalid | Who::Revoked => None,
        }
    }
}

/// What each caller should get from a route: in, or which refusals count.
fn expected(rule: Rule, who: Who) -> &'static [u16] {
    const IN: &[u16] = &[];
    const UNAUTHENTICATED: &[u16] = &[401];
    const REFUSED: &[u16] = &[403, 404];
    let staff = |roles: &[&str]| who.role().is_some_and(|r| r != "rep" && roles.contains(&r));
    match (rule, who) {
        (Rule::Public, _) => IN,
        (_, Who::Nobody | Who::Invalid | Who::Revoked) => UNAUTHENTICATED,
        (Rule::Roles(roles), _) if staff(roles) => IN,
        (Rule::Roles(_), _) => REFUSED,
        (Rule::OwnRepOr(_), Who::RepA) => IN,
        (Rule::OwnRepOr(roles), _) if staff(roles) => IN,
        (Rule::OwnRepOr(_), _) => REFUSED,
        (Rule::AnyRepOr(_), Who::RepA | Who::RepB) => IN,
        (Rule::AnyRepOr(roles), _) if staff(roles) => IN,
        (Rule::AnyRepOr(_), _) => REFUSED,
    }
}

struct World {
    app: TestApp,
    tokens: BTreeMap<&'static str, String>,
    submission: String,
    upload: String,
}

fn program() -> Arc<Program> {
    crate::common::app::shipped_program()
}

/// Rep A ("alice") with a submission and a direct upload of her own; rep B
/// ("bob") with nothing; a firm; a token of every role and a revoked one.
async fn world() -> World {
    let app = spawn_app_with(AppOptions {
        program: Some(program()),
        ..AppOptions::default()
    })
    .await;
    let admin = |path: &str, body: serde_json::Value| {
        app.client
            .put(app.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
    };
    assert_eq!(
        admin("/v1/firms/acme", json!({"name": "Acme"}))
            .await
            .unwrap()
            .status(),
        200
    );
    for rep in ["alice", "bob"] {
        let r = admin(
            &format!("/v1/reps/{rep}"),
            json!({"firm": "acme", "role": "sales"}),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 200);
    }
    let mut tokens = BTreeMap::new();
    tokens.insert("alice", app.token("rep", Some("alice")).await);
    tokens.insert("bob", app.token("rep", Some("bob")).await);
    for role in ["reviewer", "enablement"] {
        tokens.insert(role, app.token(role, None).await);
    }
    tokens.insert("admin", ADMIN_TOKEN.to_string());
    // A token that worked once.
    let revoked: serde_json::Value = app
        .client
        .post(app.url("/v1/tokens"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"role": "admin"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = app
        .client
        .delete(app.url(&format!("/v1/tokens/{}", revoked["id"].as_str().unwrap())))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "revoking: {}", r.status());
    tokens.insert("revoked", revoked["token"].as_str().unwrap().to_string());

    let (wav, _) = spoken_wav(app.dir.path(), PITCH);
    let created = app
        .upload(&tokens["alice"], &[("rubric", RUBRIC)], Some(wav), None)
        .await;
    assert_eq!(created.status(), 202);
    let created: serde_json::Value = created.json().await.unwrap();
    let upload = app
        .parts
        .repo
        .create_upload(
            &NewUpload {
                rep_id: "alice".into(),
                rubric_id: RUBRIC.into(),
                object_key: ObjectKey::new_upload(chrono::Utc::now()).to_string(),
                idempotency_key: None,
                expires_at: chrono::Utc::now() + chrono::TimeDelta::hours(1),
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    World {
        app,
        tokens,
        submission: created["id"].as_str().unwrap().to_string(),
        upload: upload.id.to_string(),
    }
}

impl World {
    fn bearer(&self, who: Who) -> Option<String> {
        let token = match who {
            Who::Nobody => return None,
            Who::Invalid => "pg_not-a-real-token",
            Who::Revoked => &self.tokens["revoked"],
            Who::RepA => &self.tokens["alice"],
            Who::RepB => &self.tokens["bob"],
            Who::Reviewer => &self.tokens["reviewer"],
            Who::Enablement => &self.tokens["enablement"],
            Who::Admin => &self.tokens["admin"],
        };
        Some(token.to_string())
    }

    /// The route's path with rep A's resources in it, and a body a permitted
    /// caller could send, so a refusal can only be about who is asking.
    fn request(&self, verb: Verb, path: &str, who: Who) -> reqwest::RequestBuilder {
        // Erasing alice would end the rest of the test: the erasure route
        // names a rep nobody registered (an admin gets 404 for it, a refusal
        // of what it asks, not of who asks).
        let rep_in_path = match (verb, path) {
            (Verb::Delete, "/v1/reps/{rep}") => "nobody-to-erase",
            _ => "alice",
        };
        let concrete = path
            .replace("{rep}", rep_in_path)
            .replace("{firm}", "acme")
            .replace("{version}", "1")
            .replace(
                "{id}",
                match path {
                    "/v1/submissions/{id}" | "/v1/submissions/{id}/audit" => &self.submission,
                    "/v1/uploads/{id}/complete" => &self.upload,
                    _ => "0195a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b",
                },
            );
        let concrete = match path {
            "/v1/reps/{rep}/retake" => format!("{concrete}?track=sales"),
            _ => concrete,
        };
        let mut request = self.app.request(verb, &concrete);
        let rep = match who {
            Who::RepB => "bob",
            _ => "alice",
        };
        request = match (verb, path) {
            (Verb::Post, "/v1/submissions") => request.multipart(
                reqwest::multipart::Form::new()
                    .text("rubric", RUBRIC)
                    .text("rep", rep),
            ),
            (Verb::Post, "/v1/uploads") => {
                request.json(&json!({"rubric": RUBRIC, "rep": rep, "content_type": "audio/wav"}))
            }
            (Verb::Post, "/v1/events/s3") => request.json(&json!({"Records": []})),
            (Verb::Post, "/v1/tokens") => request.json(&json!({"role": "reviewer"})),
            (Verb::Put, "/v1/reps/{rep}") => {
                request.json(&json!({"firm": "acme", "role": "sales"}))
            }
            (Verb::Put, "/v1/firms/{firm}") => request.json(&json!({"name": "Acme"})),
            (Verb::Post, "/v1/reviews/claim") => request.json(&json!({})),
            (Verb::Post, "/v1/reviews/{id}/decision") => {
                request.json(&json!({"decision": "pass", "reason": "checked by hand"}))
            }
            _ => request,
        };
        match self.bearer(who) {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_whoever_it_is_not_for() {
    let rules = rules();
    let listed: Vec<(&str, &str)> = ROUTES.iter().map(|r| (r.verb.as_str(), r.path)).collect();
    let unruled: Vec<_> = listed.iter().filter(|k| !rules.contains_key(*k)).collect();
    assert!(
        unruled.is_empty(),
        "routes without an authorisation rule: {unruled:?}"
    );
    let stale: Vec<_> = rules.keys().filter(|k| !listed.contains(k)).collect();
    assert!(
        stale.is_empty(),
        "rules for routes that no longer exist: {stale:?}"
    );

    let world = world().await;
    let mut wrong = Vec::new();
    for route in ROUTES {
        let rule = rules[&(route.verb.as_str(), route.path)];
        for who in Who::ALL {
            let response = world
                .request(route.verb, route.path, who)
                .send()
                .await
                .expect("request");
            let status = response.status().as_u16();
            let want = expected(rule, who);
            let ok = if want.is_empty() {
                // In: anything but a refusal of the caller (the request may
                // still be refused for what it asks, say a 404 or a 409).
                let refused = matches!(status, 401 | 403);
                let hidden = matches!(rule, Rule::OwnRepOr(_)) && status == 404;
                !(refused || hidden)
            } else {
                want.contains(&status)
            };
            if !ok {
                let body = response.text().await.unwrap_or_default();
                wrong.push(format!(
                    "{} {} as {who:?}: got {status}, want {}: {}",
                    route.verb.as_str().to_uppercase(),
                    route.path,
                    if want.is_empty() {
                        "in".to_string()
                    } else {
                        format!("{want:?}")
                    },
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
}
