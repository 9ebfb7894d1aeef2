//! Tokens and roles: who may create and read what.

use pitchgrade::service::api::auth::hash_token;
use serde_json::json;

use crate::common::app::{spawn_app, spoken_wav, ADMIN_TOKEN, RUBRIC};

#[tokio::test]
async fn a_rep_sees_only_their_own_submissions() {
    let app = spawn_app().await;
    let alice = app.token("rep", Some("alice")).await;
    let bob = app.token("rep", Some("bob")).await;
    let reviewer = app.token("reviewer", None).await;
    let enablement = app.token("enablement", None).await;
    let wav = spoken_wav(
        app.dir.path(),
        "Our customers close the books in four days.",
    )
    .0;

    let response = app
        .upload(&alice, &[("rubric", RUBRIC)], Some(wav.clone()), None)
        .await;
    assert_eq!(response.status(), 202);
    let created: serde_json::Value = response.json().await.unwrap();
    let path = format!("/v1/submissions/{}", created["id"].as_str().unwrap());

    // Bob gets exactly what a missing id gets.
    let (status, body) = app.get_json(&bob, &path).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, missing) = app
        .get_json(&bob, &format!("/v1/submissions/{}", uuid::Uuid::now_v7()))
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        body["error"]["message"].as_str().unwrap().split(' ').next(),
        missing["error"]["message"]
            .as_str()
            .unwrap()
            .split(' ')
            .next()
    );
    let (status, _) = app.get_json(&bob, "/v1/reps/alice/submissions").await;
    assert_eq!(status, 403);
    let (status, list) = app.get_json(&bob, "/v1/reps/bob/submissions").await;
    assert_eq!(status, 200);
    assert_eq!(list["submissions"].as_array().unwrap().len(), 0);

    // Bob cannot submit as alice.
    let response = app
        .upload(
            &bob,
            &[("rubric", RUBRIC), ("rep", "alice")],
            Some(wav.clone()),
            None,
        )
        .await;
    assert_eq!(response.status(), 403);

    // Alice, reviewers and enablement read it.
    for token in [&alice, &reviewer, &enablement] {
        let (status, body) = app.get_json(token, &path).await;
        assert_eq!(status, 200);
        assert_eq!(body["rep_id"], "alice");
        let (status, list) = app.get_json(token, "/v1/reps/alice/submissions").await;
        assert_eq!(status, 200);
        assert_eq!(list["submissions"].as_array().unwrap().len(), 1);
    }

    // An admin submits for any rep, and must say which.
    let response = app
        .upload(
            ADMIN_TOKEN,
            &[("rubric", RUBRIC), ("rep", "carol")],
            Some(wav.clone()),
            None,
        )
        .await;
    assert_eq!(response.status(), 202);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["rep_id"], "carol");
    let response = app
        .upload(ADMIN_TOKEN, &[("rubric", RUBRIC)], Some(wav), None)
        .await;
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn a_missing_or_invalid_token_is_401_and_the_wrong_role_is_403() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/v1/reps/alice/submissions"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");

    let (status, _) = app
        .get_json("pgt_not-a-real-token", "/v1/reps/alice/submissions")
        .await;
    assert_eq!(status, 401);
    let response = app
        .client
        .get(app.url("/v1/reps/alice/submissions"))
        .header("authorization", "Basic YWxpY2U6c2VjcmV0")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    // A refused upload still gets its answer while the client is sending
    // (not a connection reset): the rest of the body is read and discarded.
    let mut big = spoken_wav(app.dir.path(), "Hello Dana.").0;
    big.resize(12 * 1024 * 1024, 0);
    for _ in 0..3 {
        let response = app
            .upload("pgt_wrong", &[("rubric", RUBRIC)], Some(big.clone()), None)
            .await;
        assert_eq!(response.status(), 401);
        let body: serde_json::Value = response.json().await.expect("the whole answer arrives");
        assert_eq!(body["error"]["code"], "unauthorized");
    }

    // Reviewers read but do not submit; only admins manage tokens.
    let reviewer = app.token("reviewer", None).await;
    let wav = spoken_wav(app.dir.path(), "Hello Dana.").0;
    let response = app
        .upload(
            &reviewer,
            &[("rubric", RUBRIC), ("rep", "alice")],
            Some(wav),
            None,
        )
        .await;
    assert_eq!(response.status(), 403);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "forbidden");
    let alice = app.token("rep", Some("alice")).await;
    for token in [&reviewer, &alice] {
        let response = app
            .client
            .post(app.url("/v1/tokens"))
            .bearer_auth(token)
            .json(&json!({"role": "admin"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
    }

    // A rep token must name its rep; other roles must not.
    for bad in [
        json!({"role": "rep"}),
        json!({"role": "reviewer", "rep": "alice"}),
    ] {
        let response = app
            .client
            .post(app.url("/v1/tokens"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{bad}");
    }

    // Only the hash is stored; a revoked token stops working at once.
    let response = app
        .client
        .post(app.url("/v1/tokens"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"role": "rep", "rep": "dave", "label": "dave's laptop"}))
        .send()
        .await
        .unwrap();
    let issued: serde_json::Value = response.json().await.unwrap();
    let dave = issued["token"].as_str().unwrap();
    let (status, _) = app.get_json(dave, "/v1/reps/dave/submissions").await;
    assert_eq!(status, 200);
    let found = app.parts.repo.find_token(dave).await.unwrap();
    assert!(found.is_none(), "the database never holds the token itself");
    let by_hash = app.parts.repo.find_token(&hash_token(dave)).await.unwrap();
    assert_eq!(by_hash.unwrap().rep_id.as_deref(), Some("dave"));
    let response = app
        .client
        .delete(app.url(&format!("/v1/tokens/{}", issued["id"].as_str().unwrap())))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let (status, _) = app.get_json(dave, "/v1/reps/dave/submissions").await;
    assert_eq!(status, 401);
}

/// Token storage on both databases: found by hash while live, gone once revoked.
#[tokio::test]
async fn token_records_round_trip_on_sqlite_and_postgres() {
    use pitchgrade::store::db::tokens::{NewToken, Role};

    for db in [
        crate::common::store::TestDb::sqlite().await,
        crate::common::store::TestDb::postgres().await,
    ] {
        let repo = db.repo.as_ref();
        let now = chrono::Utc::now();
        let hash = hash_token("pgt_example");
        let stored = repo
            .create_token(
                &NewToken {
                    token_hash: hash.clone(),
                    role: Role::Rep,
                    rep_id: Some("alice".into()),
                    firm_id: None,
                    label: "alice's laptop".into(),
                    display_name: String::new(),
                    expires_at: None,
                },
                now,
            )
            .await
            .unwrap();
        let found = repo.find_token(&hash).await.unwrap().unwrap();
        assert_eq!(found, stored);
        assert_eq!(
            (found.role, found.rep_id.as_deref()),
            (Role::Rep, Some("alice"))
        );

        // The same secret cannot be stored twice; a rep token needs its rep.
        let twice = NewToken {
            token_hash: hash.clone(),
            role: Role::Admin,
            rep_id: None,
            firm_id: None,
            label: String::new(),
            display_name: String::new(),
            expires_at: None,
        };
        assert!(repo.create_token(&twice, now).await.is_err());
        let no_rep = NewToken {
            token_hash: hash_token("other"),
            role: Role::Rep,
            rep_id: None,
            firm_id: None,
            label: String::new(),
            display_name: String::new(),
            expires_at: None,
        };
        assert!(repo.create_token(&no_rep, now).await.is_err());

        // A partner admin token is bound to exactly one firm, and keeps it;
        // a reviewer may be; enablement and admins read every firm.
        let partner = |role: Role, firm: Option<&str>, secret: &str| NewToken {
            token_hash: hash_token(secret),
            role,
            rep_id: None,
            firm_id: firm.map(str::to_string),
            label: String::new(),
            display_name: String::new(),
            expires_at: None,
        };
        assert!(repo
            .create_token(&partner(Role::PartnerAdmin, None, "pa-0"), now)
            .await
            .is_err());
        let contoso = repo
            .create_token(&partner(Role::PartnerAdmin, Some("contoso"), "pa-1"), now)
            .await
            .unwrap();
        let found = repo.find_token(&hash_token("pa-1")).await.unwrap().unwrap();
        assert_eq!(found, contoso);
        assert_eq!(
            (found.role, found.firm_id.as_deref()),
            (Role::PartnerAdmin, Some("contoso"))
        );
        assert!(repo
            .create_token(&partner(Role::Reviewer, Some("contoso"), "rv-1"), now)
            .await
            .is_ok());
        for role in [Role::Enablement, Role::Admin] {
            assert!(repo
                .create_token(&partner(role, Some("contoso"), &format!("{role}-1")), now)
                .await
                .is_err());
        }

        assert!(repo.revoke_token(stored.id, now).await.unwrap());
        assert!(repo.find_token(&hash).await.unwrap().is_none());
        assert!(!repo.revoke_token(stored.id, now).await.unwrap());
    }
}
