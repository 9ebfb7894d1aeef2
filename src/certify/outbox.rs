//! Events for the webhooks. Each is written to the outbox table in the same
//! transaction as the change it reports, so a change is never lost nor
//! announced without happening; the deliverer (`webhook`) posts them later.
//!
//! Every event body is `{"id", "type", "occurred_at", "data"}`; `id` is what a
//! receiver de-duplicates on (delivery is at-least-once) and `occurred_at` is
//! when the change took effect (an expiry at its exact expiry instant).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::store::db::certification::{NewEvent, OutboxEvent};
use crate::store::{DbError, Repo};

pub const CERTIFICATION_ISSUED: &str = "certification.issued";
pub const CERTIFICATION_RENEWED: &str = "certification.renewed";
pub const CERTIFICATION_EXPIRING: &str = "certification.expiring";
pub const CERTIFICATION_EXPIRED: &str = "certification.expired";
pub const RIGHTS_GRANTED: &str = "rights.granted";
pub const RIGHTS_PAUSED: &str = "rights.paused";
pub const RIGHTS_RESTORED: &str = "rights.restored";
pub const GRADE_NEEDS_REVIEW: &str = "grade.needs_review";
pub const AGREEMENT_ALERT: &str = "agreement.alert";

/// Every event type a receiver may see.
pub const EVENT_TYPES: [&str; 9] = [
    CERTIFICATION_ISSUED,
    CERTIFICATION_RENEWED,
    CERTIFICATION_EXPIRING,
    CERTIFICATION_EXPIRED,
    RIGHTS_GRANTED,
    RIGHTS_PAUSED,
    RIGHTS_RESTORED,
    GRADE_NEEDS_REVIEW,
    AGREEMENT_ALERT,
];

pub(crate) fn event(kind: &str, occurred_at: DateTime<Utc>, data: Value) -> NewEvent {
    let id = Uuid::now_v7();
    NewEvent {
        id,
        kind: kind.to_string(),
        occurred_at,
        payload: json!({
            "id": id,
            "type": kind,
            "occurred_at": occurred_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            "data": data,
        }),
    }
}

/// Events in the order they were written, after the event `after` (for an API
/// that lets a partner page through what it missed).
pub async fn list(
    repo: &dyn Repo,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<OutboxEvent>, DbError> {
    repo.list_outbox(after, limit).await
}
