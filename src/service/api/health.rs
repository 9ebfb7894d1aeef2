//! What operators and orchestrators poll: liveness, readiness, metrics.
//!
//! `/healthz` only says the process answers (restart it if not); `/readyz`
//! says it can do its job — the database and the object store both answer —
//! so a load balancer stops sending uploads to an instance that would fail
//! them. Neither needs a token, and neither reveals more than ok / not ok
//! per dependency (the error detail goes to the log).

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::ApiState;

/// A dependency slower than this is as good as down for a readiness probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable` (readiness only).
    pub status: String,
    /// Readiness only: `ok` or `unavailable`.
    pub database: Option<String>,
    pub objects: Option<String>,
}

/// Liveness: the process is up and serving.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is up", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        database: None,
        objects: None,
    })
}

/// Readiness: the database and the object store both answer.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "A dependency is unavailable", body = Health),
    ))]
pub async fn readyz(State(state): State<ApiState>) -> Response {
    let database = probe("database", state.parts.repo.health_check()).await;
    let objects = probe("object store", state.parts.objects.health_check()).await;
    let word = |ok: bool| if ok { "ok" } else { "unavailable" }.to_string();
    let ready = database && objects;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Health {
        status: word(ready),
        database: Some(word(database)),
        objects: Some(word(objects)),
    };
    (status, Json(body)).into_response()
}

async fn probe<T, E: std::fmt::Display>(
    what: &str,
    check: impl std::future::Future<Output = Result<T, E>>,
) -> bool {
    match tokio::time::timeout(PROBE_TIMEOUT, check).await {
        Ok(Ok(_)) => true,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: {what} unavailable");
            false
        }
        Err(_) => {
            tracing::warn!("readiness: {what} did not answer within {PROBE_TIMEOUT:?}");
            false
        }
    }
}

/// Prometheus metrics (OpenMetrics text). The queue depth is read from the
/// database on every scrape, so it is current even in an API-only process.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Metrics in OpenMetrics text format", content_type = "application/openmetrics-text", body = String)))]
pub async fn metrics(State(state): State<ApiState>) -> Response {
    match tokio::time::timeout(PROBE_TIMEOUT, state.parts.repo.queue_depth()).await {
        Ok(Ok(depth)) => state.parts.metrics.set_queue_depth(&depth),
        Ok(Err(e)) => tracing::warn!(error = %e, "metrics: cannot read the queue depth"),
        Err(_) => tracing::warn!("metrics: queue depth query timed out"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.parts.metrics.render(),
    )
        .into_response()
}
