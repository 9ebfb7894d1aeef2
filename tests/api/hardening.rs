//! What a hostile or merely slow client meets: timeouts on headers, on a
//! stalled body and on a whole request, a cap on connections, and the headers
//! every response carries. The slow clients are raw TCP sockets writing
//! partial requests to a server with short limits.

use std::time::{Duration, Instant};

use pitchgrade::service::http::ServerLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::app::{spawn_app_with, AppOptions, TestApp, ADMIN_TOKEN, RUBRIC};

fn limits(header_read: u64, body_idle: u64, request: u64, connections: usize) -> ServerLimits {
    ServerLimits {
        header_read: Duration::from_secs(header_read),
        body_idle: Duration::from_secs(body_idle),
        request: Duration::from_secs(request),
        max_connections: connections,
    }
}

async fn app_with(server_limits: ServerLimits) -> TestApp {
    spawn_app_with(AppOptions {
        server_limits,
        ..AppOptions::default()
    })
    .await
}

async fn connect(app: &TestApp) -> TcpStream {
    let address = app.address.trim_start_matches("http://");
    TcpStream::connect(address).await.expect("connect")
}

/// Everything the server sends until it closes, or `None` if it is still
/// holding the connection open after `patience`.
async fn read_until_closed(stream: &mut TcpStream, patience: Duration) -> Option<String> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(patience, stream.read_to_end(&mut received)).await;
    match read {
        Ok(_) => Some(String::from_utf8_lossy(&received).into_owned()),
        Err(_) => None,
    }
}

#[tokio::test]
async fn connections_that_never_finish_their_headers_are_closed() {
    let app = app_with(limits(1, 30, 60, 1024)).await;
    let started = Instant::now();
    let mut clients = Vec::new();
    for i in 0..40 {
        let mut stream = connect(&app).await;
        // Half of them send half a request head, the others nothing at all.
        if i % 2 == 0 {
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: pitchgrade\r\nX-Slow: ")
                .await
                .unwrap();
        }
        clients.push(stream);
    }
    let closed = futures_util::future::join_all(
        clients
            .iter_mut()
            .map(|s| read_until_closed(s, Duration::from_secs(8))),
    )
    .await;
    let held = closed.iter().filter(|c| c.is_none()).count();
    assert_eq!(held, 0, "{held} of 40 slow connections still open");
    assert!(started.elapsed() < Duration::from_secs(8));
    // The server still answers a client that does send its headers.
    let (status, _) = app.get_json("", "/healthz").await;
    assert_eq!(status, 200);
}

/// The head of a multipart upload with a large declared length, and the
/// first kilobyte of its file part.
fn stalled_upload_start() -> Vec<u8> {
    let boundary = "pitchgrade-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"rubric\"\r\n\r\n{RUBRIC}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"rep\"\r\n\r\nalice\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"pitch.wav\"\r\n\
         Content-Type: audio/wav\r\n\r\n"
    )
    .into_bytes();
    // A real WAV header (16 kHz mono PCM) announcing far more audio than
    // comes, so the intake keeps reading instead of refusing the format.
    body.extend_from_slice(b"RIFF");
    body.extend_from_slice(&4_000_036u32.to_le_bytes());
    body.extend_from_slice(b"WAVEfmt ");
    body.extend_from_slice(&16u32.to_le_bytes());
    body.extend_from_slice(&1u16.to_le_bytes()); // PCM
    body.extend_from_slice(&1u16.to_le_bytes()); // mono
    body.extend_from_slice(&16_000u32.to_le_bytes());
    body.extend_from_slice(&32_000u32.to_le_bytes());
    body.extend_from_slice(&2u16.to_le_bytes());
    body.extend_from_slice(&16u16.to_le_bytes());
    body.extend_from_slice(b"data");
    body.extend_from_slice(&4_000_000u32.to_le_bytes());
    body.extend(std::iter::repeat_n(0u8, 1024));
    let mut request = format!(
        "POST /v1/submissions HTTP/1.1\r\nHost: pitchgrade\r\n\
         Authorization: Bearer {ADMIN_TOKEN}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\n\
         Content-Length: 5000000\r\n\r\n"
    )
    .into_bytes();
    request.extend(body);
    request
}

#[tokio::test]
async fn an_upload_that_stalls_is_ended() {
    let app = app_with(limits(5, 1, 60, 1024)).await;
    let mut stream = connect(&app).await;
    stream.write_all(&stalled_upload_start()).await.unwrap();
    let started = Instant::now();
    let answer = read_until_closed(&mut stream, Duration::from_secs(6)).await;
    // Ended by the idle timeout (1 s), not refused on sight.
    assert!(started.elapsed() >= Duration::from_millis(900));
    let answer = answer.expect("a stalled upload is still open after 6 s");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("sent nothing for 1 s"), "{answer}");
    // Nothing was queued from the half upload.
    let (status, body) = app
        .get_json(ADMIN_TOKEN, "/v1/reps/alice/submissions")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["submissions"].as_array().map(Vec::len),
        Some(0),
        "{body}"
    );
}

#[tokio::test]
async fn an_upload_that_trickles_is_ended_after_the_request_timeout() {
    let app = app_with(limits(5, 2, 3, 1024)).await;
    let mut stream = connect(&app).await;
    stream.write_all(&stalled_upload_start()).await.unwrap();
    // Never idle for long, but never done either.
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    while started.elapsed() < Duration::from_secs(8) {
        if stream.write_all(&[0u8; 16]).await.is_err() {
            break;
        }
        match tokio::time::timeout(Duration::from_millis(400), stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&chunk[..n]),
            Err(_) => {}
        }
        if !answer.is_empty() {
            break;
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "after {:?}: {answer:?}",
        started.elapsed()
    );
    assert!(answer.contains("request_timeout"), "{answer}");
}

#[tokio::test]
async fn connections_past_the_cap_wait_for_a_free_slot() {
    let app = app_with(limits(30, 30, 60, 2)).await;
    let idle_one = connect(&app).await;
    let idle_two = connect(&app).await;
    let mut third = connect(&app).await;
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: pitchgrade\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let waiting = read_until_closed(&mut third, Duration::from_millis(800)).await;
    assert_eq!(waiting, None, "served past the cap of two connections");
    drop(idle_one);
    let answer = read_until_closed(&mut third, Duration::from_secs(5))
        .await
        .expect("served once a slot is free");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(idle_two);
}

/// `pitchgrade serve`'s router (the API and the pages) over the test app's
/// parts, on a port of its own.
async fn serve_pages(app: &TestApp) -> String {
    serve_pages_with(app, None).await
}

/// [`serve_pages`] with a certification program.
pub(crate) async fn serve_pages_with(
    app: &TestApp,
    program: Option<std::sync::Arc<pitchgrade::certify::Program>>,
) -> String {
    use pitchgrade::service::api::{ApiConfig, ApiState};
    let config = ApiConfig {
        program,
        // The tests speak pitches of seconds, far shorter than a rubric asks.
        min_recording_share: 0.0,
        admin_token: Some(ADMIN_TOKEN.into()),
        scratch_dir: app.dir.path().to_path_buf(),
        ..ApiConfig::default()
    };
    let router = pitchgrade::web::app(
        ApiState::new(app.parts.clone(), config),
        pitchgrade::web::WebOptions::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(pitchgrade::service::http::serve(
        listener,
        router,
        ServerLimits::default(),
        tokio_util::sync::CancellationToken::new(),
    ));
    base
}

/// Signs in through the page as a browser does; the `Cookie` header value.
pub(crate) async fn sign_in(base: &str, token: &str) -> String {
    let response = no_redirects()
        .post(format!("{base}/sign-in"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303, "sign-in");
    let set = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie")
        .to_string();
    set.split(';').next().unwrap().to_string()
}

pub(crate) fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn every_response_says_nosniff_and_carries_a_csp() {
    let app = crate::common::app::spawn_app().await;
    let base = serve_pages(&app).await;
    let client = no_redirects();
    let session = sign_in(&base, ADMIN_TOKEN).await;
    let missing = uuid::Uuid::now_v7();
    for (path, cookie, status) in [
        ("/healthz", None, 200),
        ("/v2/nothing", None, 404),
        ("/v1/submissions/not-a-uuid", Some(ADMIN_TOKEN), 404),
        ("/sign-in", None, 200),
        ("/rep", None, 303),
        ("/static/no-such-file.js", None, 404),
        (
            &format!("/submissions/{missing}") as &str,
            Some(&session as &str),
            404,
        ),
    ] {
        let mut request = client.get(format!("{base}{path}"));
        if let Some(cookie) = cookie {
            request = if cookie.starts_with("pitchgrade_session=") {
                request.header("Cookie", cookie)
            } else {
                request.bearer_auth(cookie)
            };
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "GET {path}");
        let headers = response.headers();
        assert_eq!(
            headers.get("x-content-type-options").map(|v| v.as_bytes()),
            Some(&b"nosniff"[..]),
            "GET {path}"
        );
        let csp = headers
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(csp.contains("script-src 'self'"), "GET {path}: {csp:?}");
    }
}

#[tokio::test]
async fn sign_in_only_follows_a_plain_path_on_this_site() {
    let app = crate::common::app::spawn_app().await;
    let base = serve_pages(&app).await;
    let client = no_redirects();
    for (next, expected) in [
        ("/rubrics", "/rubrics"),
        // Browsers drop the tab: `//evil.example/`, another site.
        ("/\t/evil.example/", "/program"),
        ("/\n/evil.example/", "/program"),
        // Once a 500: CR LF cannot go in a Location header.
        ("/\r\nSet-Cookie: stolen=1", "/program"),
        ("/\\evil.example", "/program"),
        ("/\u{0430}dmin", "/program"),
    ] {
        let response = client
            .post(format!("{base}/sign-in"))
            .form(&[("token", ADMIN_TOKEN), ("next", next)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 303, "next={next:?}");
        assert_eq!(
            response.headers().get("location").map(|v| v.as_bytes()),
            Some(expected.as_bytes()),
            "next={next:?}"
        );
    }
}

#[tokio::test]
async fn ids_are_plain_ascii_and_names_have_a_length() {
    let app = crate::common::app::spawn_app().await;
    let put_firm = |id: &str, name: String| {
        app.client
            .put(app.url(&format!("/v1/firms/{id}")))
            .bearer_auth(ADMIN_TOKEN)
            .json(&serde_json::json!({ "name": name }))
            .send()
    };
    // Cyrillic "а", full-width "ａ", an accented letter: look-alikes of ASCII ids.
    for id in ["\u{0430}cme", "\u{ff41}cme", "acm\u{e9}"] {
        let response = put_firm(id, "Acme".into()).await.unwrap();
        assert_eq!(response.status(), 400, "firm {id:?}");
        let response = app
            .client
            .post(app.url("/v1/tokens"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&serde_json::json!({ "role": "rep", "rep": id }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "rep {id:?}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("ASCII"),
            "{body}"
        );
    }
    let response = put_firm("acme", "A".repeat(1_900_000)).await.unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("at most 200 characters"),
        "{body}"
    );
    let response = put_firm("acme", "A".repeat(201)).await.unwrap();
    assert_eq!(response.status(), 400);
    let response = put_firm("acme", "Acme Resellers".into()).await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn tokens_expire_and_old_tokens_without_expiry_keep_working() {
    use pitchgrade::service::api::auth::hash_token;
    use pitchgrade::store::db::tokens::{NewToken, Role};

    let app = crate::common::app::spawn_app().await;
    let create = |body: serde_json::Value| {
        app.client
            .post(app.url("/v1/tokens"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
    };
    // New tokens expire in 90 days unless told otherwise.
    let before = chrono::Utc::now();
    let response = create(serde_json::json!({"role": "reviewer"}))
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let issued: serde_json::Value = response.json().await.unwrap();
    let expires: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(issued["expires_at"].clone()).unwrap();
    let lifetime = expires - before;
    assert!(
        (chrono::TimeDelta::days(90) - lifetime).abs() < chrono::TimeDelta::minutes(1),
        "{lifetime}"
    );
    let (status, _) = app
        .get_json(
            issued["token"].as_str().unwrap(),
            "/v1/reps/alice/submissions",
        )
        .await;
    assert_eq!(status, 200);
    let response = create(serde_json::json!({"role": "reviewer", "expires_in": "never"}))
        .await
        .unwrap();
    let issued: serde_json::Value = response.json().await.unwrap();
    assert!(issued["expires_at"].is_null(), "{issued}");
    for bad in ["90", "0d", "-1d", "3651d", "ninety days"] {
        let response = create(serde_json::json!({"role": "reviewer", "expires_in": bad}))
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{bad}");
    }

    // Stored straight in the token table: one from before expiry existed, one expired.
    let repo = app.parts.repo.as_ref();
    let now = chrono::Utc::now();
    for (secret, expires_at) in [
        ("pgt_from_before_expiry", None),
        ("pgt_expired", Some(now - chrono::TimeDelta::hours(1))),
    ] {
        repo.create_token(
            &NewToken {
                token_hash: hash_token(secret),
                role: Role::Reviewer,
                rep_id: None,
                firm_id: None,
                label: String::new(),
                display_name: String::new(),
                expires_at,
            },
            now - chrono::TimeDelta::days(400),
        )
        .await
        .unwrap();
    }
    let (status, _) = app
        .get_json("pgt_from_before_expiry", "/v1/reps/alice/submissions")
        .await;
    assert_eq!(status, 200);
    let (status, body) = app
        .get_json("pgt_expired", "/v1/reps/alice/submissions")
        .await;
    assert_eq!(status, 401, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("expired"), "{message}");
}

/// A form field that never ends, sent to `path` as `name`: the head of the
/// request and the first 64 KB of the field, with a declared length of 150 MB.
fn endless_field(path: &str, cookie_or_bearer: &str, name: &str) -> Vec<u8> {
    let boundary = "pitchgrade-test-boundary";
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: pitchgrade\r\n{cookie_or_bearer}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\n\
         Content-Length: 150000000\r\n\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
    )
    .into_bytes();
    request.extend(std::iter::repeat_n(b'a', 64 * 1024));
    request
}

/// Before this was fixed the page read a whole text field before looking at
/// it: a 150 MB `rubric` field sat in memory until it ended. Now the refusal
/// comes while the field is still arriving, after a few hundred bytes.
#[tokio::test]
async fn an_endless_text_field_is_refused_while_it_streams() {
    let app = crate::common::app::spawn_app().await;
    let rep = app.token("rep", Some("alice")).await;
    let base = serve_pages(&app).await;
    let session = sign_in(&base, &rep).await;
    let pages = base.trim_start_matches("http://").to_string();
    let api = app.address.trim_start_matches("http://").to_string();
    let cases = [
        (
            pages.clone(),
            "/rep/submissions",
            format!("Cookie: {session}"),
            "rubric",
        ),
        (
            pages.clone(),
            "/rep/submissions",
            format!("Cookie: {session}"),
            "idempotency_key",
        ),
        (
            api.clone(),
            "/v1/submissions",
            format!("Authorization: Bearer {rep}"),
            "rubric",
        ),
        (
            api,
            "/v1/submissions",
            format!("Authorization: Bearer {rep}"),
            "track",
        ),
    ];
    for (address, path, auth, field) in cases {
        let mut stream = TcpStream::connect(&address).await.expect("connect");
        stream
            .write_all(&endless_field(path, &auth, field))
            .await
            .expect("send the start");
        // The rest of the 150 MB never comes; the answer must not wait for it.
        let mut answer = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
            .await
            .unwrap_or_else(|_| panic!("{path} {field}: no answer while the field streams"))
            .expect("read");
        let answer = String::from_utf8_lossy(&answer[..n]);
        assert!(
            answer.starts_with("HTTP/1.1 400") || answer.starts_with("HTTP/1.1 422"),
            "{path} {field}: {answer}"
        );
        assert!(
            answer.contains("longer than 256 bytes"),
            "{path} {field}: {answer}"
        );
    }
}

/// The cookie is a session the server keeps, not the API token: the token
/// in a cookie signs nobody in, sign-out ends the session on the server (a
/// copy of the cookie is then worthless), and revoking the token ends every
/// session signed in with it.
#[tokio::test]
async fn browser_sessions_live_on_the_server_and_end_there() {
    let app = crate::common::app::spawn_app().await;
    let base = serve_pages(&app).await;
    let client = no_redirects();
    let created: serde_json::Value = app
        .client
        .post(app.url("/v1/tokens"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"role": "reviewer"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = created["token"].as_str().unwrap().to_string();
    let page = |cookie: String| {
        client
            .get(format!("{base}/review"))
            .header("Cookie", cookie)
            .send()
    };

    let cookie = sign_in(&base, &token).await;
    assert!(cookie.starts_with("pitchgrade_session=pgs_"), "{cookie}");
    assert!(
        !cookie.contains(&token),
        "the token never goes in the cookie"
    );
    assert_eq!(page(cookie.clone()).await.unwrap().status().as_u16(), 200);
    // The raw token where a session id belongs is nobody.
    let forged = format!("pitchgrade_session={token}");
    assert_eq!(page(forged).await.unwrap().status().as_u16(), 303);

    // Sign-out ends it on the server: the old cookie no longer works.
    let out = client
        .post(format!("{base}/sign-out"))
        .header("Cookie", cookie.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(out.status().as_u16(), 303);
    assert_eq!(page(cookie).await.unwrap().status().as_u16(), 303);

    // Revoking the token ends the sessions it started.
    let again = sign_in(&base, &token).await;
    assert_eq!(page(again.clone()).await.unwrap().status().as_u16(), 200);
    let id = created["id"].as_str().unwrap();
    let revoked = app
        .client
        .delete(app.url(&format!("/v1/tokens/{id}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success());
    assert_eq!(page(again).await.unwrap().status().as_u16(), 303);

    // A session past its end is over whatever the browser keeps: the store
    // answers only for live sessions.
    let repo = &app.parts.repo;
    let now = chrono::Utc::now();
    let hour = chrono::TimeDelta::hours(1);
    repo.create_session("h-old", "t", now - hour * 13, now - hour)
        .await
        .unwrap();
    assert_eq!(repo.find_session("h-old", now).await.unwrap(), None);
    repo.create_session("h-new", "t", now, now + hour * 12)
        .await
        .unwrap();
    assert_eq!(
        repo.find_session("h-new", now).await.unwrap().as_deref(),
        Some("t")
    );
}
