//! Webhook delivery from the outbox to a real HTTP receiver (wiremock):
//! signatures checked the way a receiver checks them, failures retried with
//! backoff under the same event id, dead events after the last attempt, a
//! delivery log of every attempt, and no double posting by two deliverers.

#[macro_use]
#[path = "common/stories.rs"]
mod stories;
#[path = "common/store.rs"]
#[allow(dead_code)]
mod harness;
#[path = "common/certify.rs"]
mod seed;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use harness::{t0, TestDb};
use hmac::{Hmac, Mac};
use pitchgrade::certify::apply_decision;
use pitchgrade::certify::webhook::{self, Deliverer, SignatureError, WebhookConfig};
use pitchgrade::score::decide::Decision;
use pitchgrade::store::db::certification::DeliveryOutcome;
use pitchgrade::store::Repo;
use seed::*;
use sha2::Sha256;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const SECRET: &str = "whsec_test_0123456789abcdef";

stories! {
    sqlite(db = TestDb::sqlite().await) => db.repo.clone(),
    postgres(db = TestDb::postgres().await) => db.repo.clone();
    [
        events_are_signed_and_retried_until_delivered,
        an_event_dies_after_its_last_attempt,
        two_deliverers_never_post_the_same_event_at_once,
        each_post_is_signed_when_it_is_sent,
    ]
}

/// Three events: certification.issued and two rights.granted.
async fn certify_one(repo: &dyn Repo) {
    add_firm(repo, "northwind", None, t0()).await;
    add_rep(repo, "ana", "northwind", "sales", true, t0()).await;
    let sub = seed_grade(repo, "ana", SALES, Decision::Pass, 90.0, &[], t0()).await;
    apply_decision(repo, &program(), sub, t0()).await.unwrap();
}

fn config(server: &MockServer) -> WebhookConfig {
    let mut c = WebhookConfig::new(format!("{}/hooks", server.uri()), SECRET);
    c.backoff_base = Duration::from_secs(30);
    c.timeout = Duration::from_secs(5);
    c
}

/// What a receiver does with the raw request, written out with the HMAC crate
/// rather than the library's own `verify`: parse `t=…,v1=…`, recompute
/// HMAC-SHA256 over "t.body", compare in constant time, check the clock.
fn receiver_accepts(req: &Request, secret: &str, now: DateTime<Utc>) -> bool {
    let Some(header) = req
        .headers
        .get("Pitchgrade-Signature")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    docs_verify(secret.as_bytes(), header, &req.body, now.timestamp())
}

/// The Rust receiver of docs/webhooks.md, as written there.
fn docs_verify(secret: &[u8], header: &str, body: &[u8], now_unix: i64) -> bool {
    let (mut t, mut sig) = (None, None);
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => sig = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(sig)) = (t, sig) else {
        return false;
    };
    // abs_diff, not (now_unix - t).abs(): `t` is untrusted, and the
    // subtraction overflows on an extreme value such as i64::MIN.
    if now_unix.abs_diff(t) > 300 {
        return false; // too old (or from the future): a replay
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&sig).is_ok() // constant-time comparison
}

#[test]
fn an_extreme_timestamp_is_stale_not_a_panic() {
    let body = br#"{"id":"x"}"#;
    let now = t0();
    for t in [i64::MAX, i64::MIN, i64::MIN + 1, -1, 0] {
        let header = webhook::signature_header(SECRET.as_bytes(), t, body);
        assert_eq!(
            webhook::verify(
                SECRET.as_bytes(),
                &header,
                body,
                now,
                webhook::DEFAULT_TOLERANCE
            ),
            Err(SignatureError::Stale),
            "t={t}"
        );
        assert!(
            !docs_verify(SECRET.as_bytes(), &header, body, now.timestamp()),
            "t={t}"
        );
    }
    let fresh = webhook::signature_header(SECRET.as_bytes(), now.timestamp(), body);
    assert!(docs_verify(
        SECRET.as_bytes(),
        &fresh,
        body,
        now.timestamp()
    ));
}

async fn events_are_signed_and_retried_until_delivered(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    certify_one(repo).await;
    let server = MockServer::start().await;
    // The receiver is down for the first two posts, then fine.
    Mock::given(method("POST"))
        .and(path("/hooks"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/hooks"))
        .respond_with(ResponseTemplate::new(204))
        .with_priority(2)
        .mount(&server)
        .await;
    let deliverer = Deliverer::new(config(&server)).unwrap();
    let first = t0() + TimeDelta::seconds(1);
    let stats = deliverer.deliver_due(repo, first).await.unwrap();
    assert_eq!((stats.delivered, stats.retrying, stats.dead), (1, 2, 0));
    // Not due yet: the backoff is 30 s.
    let early = deliverer
        .deliver_due(repo, first + TimeDelta::seconds(29))
        .await
        .unwrap();
    assert_eq!(early, webhook::DeliveryStats::default());
    let retry_at = first + TimeDelta::seconds(30);
    let stats = deliverer.deliver_due(repo, retry_at).await.unwrap();
    assert_eq!((stats.delivered, stats.retrying, stats.dead), (2, 0, 0));
    // Nothing left.
    let idle = deliverer
        .deliver_due(repo, retry_at + TimeDelta::hours(1))
        .await
        .unwrap();
    assert_eq!(idle, webhook::DeliveryStats::default());

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 5);
    let events = repo.list_outbox(None, 100).await.unwrap();
    assert_eq!(events.len(), 3);
    for (i, req) in requests.iter().enumerate() {
        let now = if i < 3 { first } else { retry_at };
        assert!(
            receiver_accepts(req, SECRET, now),
            "request {i} fails verification"
        );
        assert!(!receiver_accepts(req, "another-secret-entirely", now));
        let header = req
            .headers
            .get("Pitchgrade-Signature")
            .unwrap()
            .to_str()
            .unwrap();
        assert_eq!(
            webhook::verify(
                SECRET.as_bytes(),
                header,
                &req.body,
                now,
                webhook::DEFAULT_TOLERANCE
            ),
            Ok(())
        );
        // A replay an hour later is refused, and so is a tampered body.
        assert_eq!(
            webhook::verify(
                SECRET.as_bytes(),
                header,
                &req.body,
                now + TimeDelta::hours(1),
                webhook::DEFAULT_TOLERANCE
            ),
            Err(SignatureError::Stale)
        );
        let mut tampered = req.body.clone();
        tampered.extend_from_slice(b" ");
        assert_eq!(
            webhook::verify(
                SECRET.as_bytes(),
                header,
                &tampered,
                now,
                webhook::DEFAULT_TOLERANCE
            ),
            Err(SignatureError::Mismatch)
        );
        // Headers and body agree on the event.
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        let id = req
            .headers
            .get("Pitchgrade-Event-Id")
            .unwrap()
            .to_str()
            .unwrap();
        assert_eq!(body["id"], serde_json::json!(id));
        assert_eq!(
            body["type"].as_str(),
            req.headers
                .get("Pitchgrade-Event-Type")
                .unwrap()
                .to_str()
                .ok()
        );
        assert_eq!(req.headers.get("content-type").unwrap(), "application/json");
    }
    // The two retried posts carry the ids of the two that failed: a receiver
    // that saw a post but failed to answer can de-duplicate.
    let id_of = |r: &Request| {
        r.headers
            .get("Pitchgrade-Event-Id")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string()
    };
    let failed: Vec<String> = requests[..2].iter().map(id_of).collect();
    let retried: Vec<String> = requests[3..].iter().map(id_of).collect();
    assert_eq!(failed, retried);

    // The delivery log has every attempt.
    let log = repo.delivery_log(None).await.unwrap();
    assert_eq!(log.len(), 5);
    for event in &events {
        let mine: Vec<_> = log.iter().filter(|a| a.event_id == event.id).collect();
        let outcomes: Vec<(u32, DeliveryOutcome, Option<u16>)> = mine
            .iter()
            .map(|a| (a.attempt, a.outcome, a.status_code))
            .collect();
        if failed.contains(&event.id.to_string()) {
            assert_eq!(
                outcomes,
                vec![
                    (1, DeliveryOutcome::Retry, Some(503)),
                    (2, DeliveryOutcome::Delivered, Some(204))
                ]
            );
            assert_eq!(
                mine[0].next_attempt_at,
                Some(first + TimeDelta::seconds(30))
            );
            assert_eq!(
                mine[0].error.as_deref(),
                Some("HTTP 503 Service Unavailable")
            );
        } else {
            assert_eq!(outcomes, vec![(1, DeliveryOutcome::Delivered, Some(204))]);
        }
    }
    let stored = repo.list_outbox(None, 100).await.unwrap();
    assert!(stored
        .iter()
        .all(|e| e.delivered_at.is_some() && e.dead_at.is_none()));
}

async fn an_event_dies_after_its_last_attempt(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    certify_one(repo).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let mut cfg = config(&server);
    cfg.max_attempts = 3;
    cfg.batch = 1;
    let deliverer = Deliverer::new(cfg.clone()).unwrap();
    // Attempts at 0 s, +30 s, +90 s (30 then 60 s of backoff); batch of one
    // event, so only the oldest moves.
    let mut now = t0() + TimeDelta::seconds(1);
    let target = repo.list_outbox(None, 1).await.unwrap()[0].id;
    for (n, wait) in [(1, 30), (2, 60), (3, 0)] {
        let stats = deliverer.deliver_due(repo, now).await.unwrap();
        assert_eq!(stats.retrying + stats.dead, 1, "attempt {n}");
        let log = repo.delivery_log(Some(target)).await.unwrap();
        assert_eq!(log.len(), n);
        now += TimeDelta::seconds(wait);
        // Due exactly when the backoff says, not before (other events wait behind it).
        if wait > 0 {
            assert_eq!(log[n - 1].next_attempt_at, Some(now));
        }
    }
    let log = repo.delivery_log(Some(target)).await.unwrap();
    assert_eq!(
        log.iter().map(|a| a.outcome).collect::<Vec<_>>(),
        [
            DeliveryOutcome::Retry,
            DeliveryOutcome::Retry,
            DeliveryOutcome::Dead
        ]
    );
    let event = repo
        .list_outbox(None, 100)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.id == target)
        .unwrap();
    assert_eq!((event.attempts, event.delivered_at), (3, None));
    assert!(event.dead_at.is_some());
    assert_eq!(
        event.last_error.as_deref(),
        Some("HTTP 500 Internal Server Error")
    );
    // A dead event is never posted again.
    let before = server.received_requests().await.unwrap().len();
    for _ in 0..5 {
        now += TimeDelta::hours(2);
        deliverer.deliver_due(repo, now).await.unwrap();
    }
    let posted_target = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| {
            r.headers
                .get("Pitchgrade-Event-Id")
                .unwrap()
                .to_str()
                .unwrap()
                == target.to_string()
        })
        .count();
    assert_eq!(posted_target, 3);
    assert!(
        server.received_requests().await.unwrap().len() > before,
        "the other events carried on"
    );

    // A receiver that is not there at all: a transport error, logged and retried.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut gone = WebhookConfig::new(format!("http://127.0.0.1:{port}/hooks"), SECRET);
    gone.timeout = Duration::from_secs(2);
    let sub = seed_grade(repo, "ana", SALES, Decision::Borderline, 68.0, &[], now).await;
    apply_decision(repo, &program(), sub, now).await.unwrap();
    let stats = Deliverer::new(gone)
        .unwrap()
        .deliver_due(repo, now)
        .await
        .unwrap();
    assert!(stats.retrying >= 1);
    let refused = repo
        .delivery_log(None)
        .await
        .unwrap()
        .into_iter()
        .next_back()
        .unwrap();
    assert_eq!(
        (refused.status_code, refused.outcome),
        (None, DeliveryOutcome::Retry)
    );
    assert!(refused.error.is_some());

    // Configuration mistakes are refused up front.
    assert!(Deliverer::new(WebhookConfig::new("ftp://example.com", SECRET)).is_err());
    assert!(Deliverer::new(WebhookConfig::new(server.uri(), "short")).is_err());
}

async fn two_deliverers_never_post_the_same_event_at_once(repo: Arc<dyn Repo>) {
    certify_one(repo.as_ref()).await;
    for i in 0..5 {
        let rep = format!("r{i}");
        add_rep(repo.as_ref(), &rep, "northwind", "sales", true, t0()).await;
        let sub = seed_grade(repo.as_ref(), &rep, SALES, Decision::Pass, 90.0, &[], t0()).await;
        apply_decision(repo.as_ref(), &program(), sub, t0())
            .await
            .unwrap();
    }
    let total = repo.list_outbox(None, 1000).await.unwrap().len();
    assert_eq!(total, 18);
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(20)))
        .mount(&server)
        .await;
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let repo = repo.clone();
        let mut cfg = config(&server);
        cfg.batch = 6;
        tasks.push(tokio::spawn(async move {
            let d = Deliverer::new(cfg).unwrap();
            let mut delivered = 0;
            for _ in 0..4 {
                delivered += d
                    .deliver_due(repo.as_ref(), t0() + TimeDelta::seconds(5))
                    .await
                    .unwrap()
                    .delivered;
            }
            delivered
        }));
    }
    let mut delivered = 0;
    for t in tasks {
        delivered += t.await.unwrap();
    }
    assert_eq!(delivered as usize, total);
    let posted: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            r.headers
                .get("Pitchgrade-Event-Id")
                .unwrap()
                .to_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let unique: std::collections::BTreeSet<_> = posted.iter().collect();
    assert_eq!(
        (posted.len(), unique.len()),
        (total, total),
        "each event posted once"
    );
}

/// A receiver that takes over a second per post: each event's `t` is when it
/// was sent, not when the batch began, so the last of a long batch is still
/// inside the receiver's tolerance.
async fn each_post_is_signed_when_it_is_sent(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    certify_one(repo).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204).set_delay(Duration::from_millis(1100)))
        .mount(&server)
        .await;
    let deliverer = Deliverer::new(config(&server)).unwrap();
    let due = t0() + TimeDelta::seconds(1);
    let stats = deliverer.deliver_due(repo, due).await.unwrap();
    assert_eq!(stats.delivered, 3);
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 3);
    for (i, req) in requests.iter().enumerate() {
        let header = req
            .headers
            .get("Pitchgrade-Signature")
            .unwrap()
            .to_str()
            .unwrap();
        let t: i64 = header
            .split(',')
            .find_map(|p| p.strip_prefix("t="))
            .unwrap()
            .parse()
            .unwrap();
        // Post i leaves after i slow answers: at least i seconds after `due`.
        let offset = t - due.timestamp();
        assert!(
            (i as i64..i as i64 + 5).contains(&offset),
            "post {i} signed {offset} s after the batch began"
        );
        let sent = due + TimeDelta::seconds(offset);
        assert!(receiver_accepts(req, SECRET, sent), "post {i}");
    }
    // The log still records the batch's time, which drives the backoff.
    let log = repo.delivery_log(None).await.unwrap();
    assert!(log.iter().all(|a| a.at == due));
}
