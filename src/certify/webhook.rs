//! Delivering outbox events to a partner's webhook endpoint.
//!
//! Each event is POSTed as JSON with three headers:
//! - `Pitchgrade-Event-Id`: the event id (also `id` in the body); delivery is
//!   at-least-once, so receivers de-duplicate on it;
//! - `Pitchgrade-Event-Type`: e.g. `certification.expired`;
//! - `Pitchgrade-Signature: t=<unix seconds>,v1=<hex>`: HMAC-SHA256 with the
//!   shared secret over `"<t>.<raw body>"`. A receiver recomputes it over the
//!   bytes it received, compares in constant time, and rejects a `t` too far
//!   from its clock (replays). `docs/webhooks.md` shows a receiver.
//!
//! A 2xx response delivers the event; anything else (or no response) is retried
//! with exponential backoff until `max_attempts`, then the event is dead. Every
//! attempt is in the delivery log.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use super::CertifyError;
use crate::store::db::certification::{DeliveryAttempt, DeliveryOutcome, OutboxEvent};
use crate::store::Repo;

pub const SIGNATURE_HEADER: &str = "Pitchgrade-Signature";
pub const EVENT_ID_HEADER: &str = "Pitchgrade-Event-Id";
pub const EVENT_TYPE_HEADER: &str = "Pitchgrade-Event-Type";
/// How far a receiver should let `t` stray from its clock.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub url: String,
    pub secret: String,
    /// Attempts per event before it is dead.
    pub max_attempts: u32,
    /// Delay after the first failure; doubles each time, up to `backoff_cap`.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    pub timeout: Duration,
    /// Events per `deliver_due` call.
    pub batch: u32,
}

impl WebhookConfig {
    pub fn new(url: impl Into<String>, secret: impl Into<String>) -> Self {
        // Eight attempts over about 4 hours rides out a receiver's deploy or outage.
        WebhookConfig {
            url: url.into(),
            secret: secret.into(),
            max_attempts: 8,
            backoff_base: Duration::from_secs(30),
            backoff_cap: Duration::from_secs(3600),
            timeout: Duration::from_secs(10),
            batch: 100,
        }
    }

    /// Delay before the attempt after failed attempt `n` (1-based).
    pub fn backoff(&self, n: u32) -> Duration {
        let exponent = n.saturating_sub(1).min(31);
        self.backoff_base
            .checked_mul(1u32 << exponent)
            .map_or(self.backoff_cap, |d| d.min(self.backoff_cap))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook URL {0:?} must be http(s)")]
    BadUrl(String),
    #[error("the webhook secret must be at least 16 bytes")]
    WeakSecret,
    #[error("building the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// The `v1` signature: hex HMAC-SHA256 over `"<t>.<body>"`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length; this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

pub fn signature_header(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", sign(secret, timestamp, body))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("malformed signature header")]
    Malformed,
    #[error("signature timestamp is outside the tolerance")]
    Stale,
    #[error("signature does not match")]
    Mismatch,
}

/// What a receiver does: checks the header against the raw body it received.
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => timestamp = v.parse::<i64>().ok(),
            Some(("v1", v)) => {
                signatures.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?)
            }
            _ => {}
        }
    }
    let t = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    // `abs_diff` because `t` is the sender's to choose: a subtraction overflows
    // on an extreme one (i64::MIN) and would panic instead of refusing it.
    if now.timestamp().abs_diff(t) > tolerance.as_secs() {
        return Err(SignatureError::Stale);
    }
    for sig in signatures {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length");
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        // verify_slice compares in constant time.
        if mac.verify_slice(&sig).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

/// What one `deliver_due` call did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryStats {
    pub delivered: u32,
    pub retrying: u32,
    pub dead: u32,
}

pub struct Deliverer {
    client: reqwest::Client,
    config: WebhookConfig,
}

impl Deliverer {
    pub fn new(config: WebhookConfig) -> Result<Deliverer, WebhookError> {
        if !(config.url.starts_with("https://") || config.url.starts_with("http://")) {
            return Err(WebhookError::BadUrl(config.url));
        }
        if config.secret.len() < 16 {
            return Err(WebhookError::WeakSecret);
        }
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            // A redirect would re-post the event somewhere nobody configured.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(WebhookError::Client)?;
        Ok(Deliverer { client, config })
    }

    /// Posts every event due at `now` (one batch), recording each attempt.
    pub async fn deliver_due(
        &self,
        repo: &dyn Repo,
        now: DateTime<Utc>,
    ) -> Result<DeliveryStats, CertifyError> {
        // Hidden from other deliverers for longer than one post can take.
        let claim = self.config.timeout * 2 + Duration::from_secs(30);
        let events = repo.claim_outbox(self.config.batch, claim, now).await?;
        // `now` is when the batch fell due; each post is signed when it leaves,
        // or behind a slow receiver the later events of a batch would carry a
        // `t` older than the tolerance receivers are told to apply.
        let started = std::time::Instant::now();
        let mut stats = DeliveryStats::default();
        for event in &events {
            let sent_at = TimeDelta::from_std(started.elapsed())
                .ok()
                .and_then(|elapsed| now.checked_add_signed(elapsed))
                .unwrap_or(now);
            let attempt = self.post(event, now, sent_at).await;
            match attempt.outcome {
                DeliveryOutcome::Delivered => stats.delivered += 1,
                DeliveryOutcome::Retry => stats.retrying += 1,
                DeliveryOutcome::Dead => stats.dead += 1,
            }
            repo.record_delivery(&attempt, now).await?;
        }
        Ok(stats)
    }

    async fn post(
        &self,
        event: &OutboxEvent,
        now: DateTime<Utc>,
        sent_at: DateTime<Utc>,
    ) -> DeliveryAttempt {
        let attempt = event.attempts + 1;
        let body = match serde_json::to_vec(&event.payload) {
            Ok(b) => b,
            Err(e) => return self.failed(event, attempt, now, None, format!("encoding: {e}")),
        };
        let signature = signature_header(self.config.secret.as_bytes(), sent_at.timestamp(), &body);
        let sent = self
            .client
            .post(&self.config.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(EVENT_ID_HEADER, event.id.to_string())
            .header(EVENT_TYPE_HEADER, &event.kind)
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(resp) if resp.status().is_success() => DeliveryAttempt {
                event_id: event.id,
                attempt,
                endpoint: self.config.url.clone(),
                at: now,
                status_code: Some(resp.status().as_u16()),
                error: None,
                outcome: DeliveryOutcome::Delivered,
                next_attempt_at: None,
            },
            Ok(resp) => {
                let status = resp.status();
                self.failed(
                    event,
                    attempt,
                    now,
                    Some(status.as_u16()),
                    format!("HTTP {status}"),
                )
            }
            Err(e) => self.failed(event, attempt, now, None, e.to_string()),
        }
    }

    fn failed(
        &self,
        event: &OutboxEvent,
        attempt: u32,
        now: DateTime<Utc>,
        status: Option<u16>,
        error: String,
    ) -> DeliveryAttempt {
        let (outcome, next) = if attempt >= self.config.max_attempts {
            (DeliveryOutcome::Dead, None)
        } else {
            let delay =
                TimeDelta::from_std(self.config.backoff(attempt)).unwrap_or(TimeDelta::hours(1));
            (DeliveryOutcome::Retry, Some(now + delay))
        };
        DeliveryAttempt {
            event_id: event.id,
            attempt,
            endpoint: self.config.url.clone(),
            at: now,
            status_code: status,
            error: Some(error),
            outcome,
            next_attempt_at: next,
        }
    }
}
