//! The HTTP API (axum): submissions by multipart or direct upload, their
//! status and grade, tokens, and what operators poll.
//!
//! Routes (see `/openapi.json` for the full contract):
//!
//! | method | path | who |
//! |---|---|---|
//! | POST | `/v1/submissions` (multipart: rubric, rep, file) | rep (own), admin |
//! | GET | `/v1/submissions/{id}` | its rep, reviewer, enablement, admin |
//! | GET | `/v1/reps/{rep}/submissions` | that rep, reviewer, enablement, admin |
//! | POST | `/v1/uploads` → presigned PUT (S3 only) | rep (own), admin |
//! | POST | `/v1/uploads/{id}/complete` | the upload's rep, admin |
//! | POST | `/v1/events/s3` (S3 event notifications) | events token, admin |
//! | POST / DELETE | `/v1/tokens`, `/v1/tokens/{id}` | admin |
//! | DELETE | `/v1/reps/{rep}` (erasure) | admin |
//! | … | `/v1/reps/{rep}/rights`, `/v1/reviews`, `/v1/reports` … | see `certification` |
//! | GET | `/v1/rubrics/{id}/versions/{version}` | reviewer, enablement, admin |
//! | GET | `/healthz`, `/readyz`, `/metrics`, `/openapi.json` | anyone |

pub mod args;
pub mod auth;
pub mod certification;
pub mod error;
pub mod health;
pub mod openapi;
pub mod privacy;
pub mod rubrics;
pub mod submissions;
pub mod tokens;
pub mod uploads;
pub mod views;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts};
use axum::http::Request;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;
use tower_http::trace::TraceLayer;

pub use args::ApiArgs;
pub use error::ApiError;

use super::config::ServiceParts;
use crate::intake::{Intake, IntakeLimits};

/// Room for the multipart framing and the small fields around the file.
pub const MULTIPART_OVERHEAD: u64 = 64 * 1024;

/// How the API behaves; `ApiArgs` builds it from flags and environment.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest recording accepted, in bytes (uploads and direct uploads).
    pub max_upload_bytes: u64,
    /// The bootstrap admin token (plain); hashed when the state is built.
    pub admin_token: Option<String>,
    /// The shared secret S3 event notifications present as a bearer token.
    pub events_token: Option<String>,
    /// How long a presigned PUT URL stays valid.
    pub presign_expiry: Duration,
    /// Where multipart uploads are spooled while they arrive.
    pub scratch_dir: PathBuf,
    /// Attempts a grading job gets before it is dead.
    pub max_attempts: u32,
    /// The certification program; `None` grades without certifying.
    pub program: Option<Arc<crate::certify::Program>>,
    /// See [`IntakeLimits::min_recording_share`].
    pub min_recording_share: f64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            max_upload_bytes: crate::ingest::Limits::default().max_bytes,
            admin_token: None,
            events_token: None,
            presign_expiry: Duration::from_secs(60 * 60),
            scratch_dir: std::env::temp_dir(),
            max_attempts: 5,
            program: None,
            min_recording_share: 0.5,
        }
    }
}

/// What every handler gets.
#[derive(Clone)]
pub struct ApiState {
    pub parts: ServiceParts,
    pub config: Arc<ApiConfig>,
    /// Every way a recording comes in goes through this one.
    pub intake: Intake,
    admin_token_hash: Option<Arc<str>>,
    events_token_hash: Option<Arc<str>>,
}

impl ApiState {
    pub fn new(parts: ServiceParts, config: ApiConfig) -> ApiState {
        let hashed = |t: &Option<String>| {
            t.as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| Arc::from(auth::hash_token(t)))
        };
        let intake = Intake::new(
            Arc::clone(&parts.repo),
            Arc::clone(&parts.objects),
            Arc::clone(&parts.rubrics),
            config.program.clone(),
            IntakeLimits {
                max_upload_bytes: config.max_upload_bytes,
                scratch_dir: config.scratch_dir.clone(),
                max_attempts: config.max_attempts,
                min_recording_share: config.min_recording_share,
            },
        );
        ApiState {
            intake,
            admin_token_hash: hashed(&config.admin_token),
            events_token_hash: hashed(&config.events_token),
            parts,
            config: Arc::new(config),
        }
    }
}

/// An HTTP method of the API's routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Put,
    Delete,
}

impl Verb {
    fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Post => MethodFilter::POST,
            Verb::Put => MethodFilter::PUT,
            Verb::Delete => MethodFilter::DELETE,
        }
    }

    /// Lower case, as OpenAPI names the operations of a path.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Post => "post",
            Verb::Put => "put",
            Verb::Delete => "delete",
        }
    }
}

/// What a route's handler is built with beside its method.
pub struct RouteContext {
    /// The largest request body a multipart upload may send.
    pub upload_limit: usize,
}

/// One route of the API: the router is built from [`ROUTES`] alone, so the
/// table is the router's own definition and a test can hold `/openapi.json`
/// to it.
pub struct Route {
    pub verb: Verb,
    pub path: &'static str,
    handler: fn(MethodFilter, &RouteContext) -> MethodRouter<ApiState>,
}

macro_rules! route {
    ($verb:ident $path:literal => $handler:path) => {
        Route {
            verb: Verb::$verb,
            path: $path,
            handler: |method, _| on(method, $handler),
        }
    };
}

/// Every route of the API. A new one goes here, and the OpenAPI test then
/// asks for its documentation.
pub const ROUTES: &[Route] = &[
    Route {
        verb: Verb::Post,
        path: "/v1/submissions",
        handler: |method, context| {
            on(method, submissions::create).layer(DefaultBodyLimit::max(context.upload_limit))
        },
    },
    route!(Get "/v1/submissions/{id}" => submissions::get_one),
    route!(Get "/v1/submissions/{id}/audit" => submissions::audit),
    route!(Get "/v1/reps/{rep}/submissions" => submissions::list_for_rep),
    route!(Post "/v1/uploads" => uploads::presign),
    route!(Post "/v1/uploads/{id}/complete" => uploads::complete),
    route!(Post "/v1/events/s3" => uploads::s3_event),
    route!(Post "/v1/tokens" => tokens::create),
    route!(Delete "/v1/tokens/{id}" => tokens::revoke),
    route!(Put "/v1/reps/{rep}" => certification::put_rep),
    route!(Delete "/v1/reps/{rep}" => privacy::erase),
    route!(Get "/v1/reps/{rep}/rights" => certification::rights),
    route!(Get "/v1/reps/{rep}/retake" => certification::retake_check),
    route!(Put "/v1/firms/{firm}" => certification::put_firm),
    route!(Get "/v1/firms/{firm}/standing" => certification::firm_standing),
    route!(Get "/v1/reviews" => certification::review_queue),
    route!(Post "/v1/reviews/claim" => certification::claim),
    route!(Post "/v1/reviews/{id}/decision" => certification::decide),
    route!(Get "/v1/reports" => certification::report),
    route!(Get "/v1/rubrics/{id}/versions/{version}" => rubrics::version),
    route!(Get "/healthz" => health::healthz),
    route!(Get "/readyz" => health::readyz),
    route!(Get "/metrics" => health::metrics),
    route!(Get "/openapi.json" => openapi::document),
];

/// The API's routes with tracing, ready to serve.
pub fn router(state: ApiState) -> Router {
    let context = RouteContext {
        upload_limit: usize::try_from(
            state
                .config
                .max_upload_bytes
                .saturating_add(MULTIPART_OVERHEAD),
        )
        .unwrap_or(usize::MAX),
    };
    let mut routes = Router::new();
    for route in ROUTES {
        routes = routes.route(route.path, (route.handler)(route.verb.filter(), &context));
    }
    routes
        .fallback(|| async { ApiError::not_found("no such route; see /openapi.json") })
        .layer(axum::middleware::map_response(
            crate::service::http::security_headers,
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                // `submission_id` is filled in by the handler once known, so
                // every log line of the request carries it.
                tracing::info_span!(
                    "request",
                    method = %request.method(),
                    path = %request.uri().path(),
                    submission_id = tracing::field::Empty,
                )
            }),
        )
        .with_state(state)
}

/// `axum::Json` whose rejections are JSON errors like every other failure.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// `axum::extract::Path` with JSON errors (a malformed id is a 404).
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// `axum::extract::Query` with JSON errors.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);
