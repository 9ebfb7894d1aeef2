//! The web pages: what reps, reviewers and enablement use in a browser.
//!
//! Server-rendered HTML (askama templates under `templates/web/`) with one small
//! plain-JavaScript file for what a server cannot do (recording, upload
//! progress, status polling, the audio player's sync with the transcript).
//! CSS and JS are compiled into the binary, so `pitchgrade serve` needs nothing
//! beside itself; there is no build step and no CDN.
//!
//! Sign-in takes one of the API's tokens and keeps it in an HttpOnly,
//! SameSite=Strict cookie, so page scripts never see it and other sites cannot
//! ride on it. Every page checks the role the token carries; a rep only ever
//! sees their own submissions.
//!
//! What the pages show about certification (rights, review queue, reports)
//! comes through [`program::Program`], a narrow port the certification module
//! implements, so the pages are built and tested from view models alone.

pub mod adapters;
pub mod assets;
pub mod auth;
pub mod charts;
pub mod error;
pub mod media;
pub mod pages;
pub mod program;
pub mod view;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

use crate::service::api::ApiState;
use crate::service::ServiceParts;

pub use adapters::{ApiTokens, CertifyProgram};
pub use auth::{Authenticator, Principal, Role};
pub use error::WebError;
pub use program::{NoProgram, ProgramPages};

/// Settings a deployment may change. (The upload limit is not here: it is the
/// API's, `ApiConfig::max_upload_bytes`, so both ways in refuse the same file.)
#[derive(Clone, Default)]
pub struct WebOptions {
    /// Mark the session cookie `Secure` (set when served over HTTPS).
    pub secure_cookies: bool,
    /// The judge the replay page re-scores with (the workers' kind); `None`
    /// and the page points to `pitchgrade rubric replay` instead.
    pub replay_judge: Option<Arc<dyn crate::score::judge::Judge>>,
}

impl std::fmt::Debug for WebOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebOptions")
            .field("secure_cookies", &self.secure_cookies)
            .field(
                "replay_judge",
                &self.replay_judge.as_ref().map(|j| j.name().to_string()),
            )
            .finish()
    }
}

/// Everything the pages read from. Cheap to clone (all shared).
#[derive(Clone)]
pub struct WebState {
    pub parts: ServiceParts,
    /// The API's state: uploads from the pages go through its intake (sniff,
    /// size limit, retake policy, adaptive paths), the one the API uses.
    pub api: ApiState,
    pub auth: Arc<dyn Authenticator>,
    pub program: Arc<dyn ProgramPages>,
    pub options: WebOptions,
    pub(crate) audio: Arc<media::AudioCache>,
}

impl WebState {
    pub fn new(
        api: ApiState,
        auth: Arc<dyn Authenticator>,
        program: Arc<dyn ProgramPages>,
        options: WebOptions,
    ) -> WebState {
        WebState {
            parts: api.parts.clone(),
            api,
            auth,
            program,
            options,
            audio: Arc::new(media::AudioCache::new()),
        }
    }
}

/// The API and the pages on one router, one port: what `pitchgrade serve`
/// listens with (and what the browser tests start). Sign-in uses the API's
/// tokens; the certification pages use the API's program, or say there is
/// none when the server runs without one.
pub fn app(api: ApiState, options: WebOptions) -> Router {
    let program: Arc<dyn ProgramPages> = match &api.config.program {
        Some(p) => Arc::new(CertifyProgram::new(api.parts.repo.clone(), p.clone())),
        None => Arc::new(NoProgram),
    };
    let auth: Arc<dyn Authenticator> = Arc::new(ApiTokens::new(api.clone()));
    let pages = router(WebState::new(api.clone(), auth, program, options));
    // The pages have no fallback, so the API's (a JSON 404) answers unknown paths.
    crate::service::api::router(api)
        .merge(pages)
        // Outermost, so error pages and extractor rejections get them too.
        .layer(axum::middleware::map_response(
            crate::service::http::security_headers,
        ))
}

/// The pages, merged beside the API (`/v1/...`) by `pitchgrade serve`.
pub fn router(state: WebState) -> Router {
    use pages::{dashboard, firm, rep, replay, review, rubrics};
    Router::new()
        .route("/", get(pages::home))
        .route("/sign-in", get(auth::sign_in_page).post(auth::sign_in))
        .route("/sign-out", post(auth::sign_out))
        .route("/static/{file}", get(assets::serve))
        .route("/rep", get(rep::index))
        .route("/rep/new/{rubric}", get(rep::new_pitch))
        .route(
            "/rep/submissions",
            post(rep::upload).layer(axum::extract::DefaultBodyLimit::max(
                usize::try_from(state.api.config.max_upload_bytes)
                    .unwrap_or(usize::MAX)
                    .saturating_add(64 * 1024),
            )),
        )
        .route("/submissions/{id}", get(rep::result))
        .route("/submissions/{id}/status", get(rep::status))
        .route("/submissions/{id}/audio", get(media::audio))
        .route("/review", get(review::queue))
        .route("/review/{id}", get(review::page).post(review::decide))
        .route("/program", get(dashboard::page))
        .route("/firm", get(firm::own))
        .route("/firms/{firm}", get(firm::any))
        .route("/rubrics", get(rubrics::page))
        .route(
            "/rubrics/replay",
            get(replay::form)
                .post(replay::run)
                .layer(axum::extract::DefaultBodyLimit::max(
                    // A rubric file at its largest, form-encoded (up to 3 bytes a byte).
                    usize::try_from(crate::rubric::MAX_RUBRIC_BYTES * 3 + 4096)
                        .unwrap_or(usize::MAX),
                )),
        )
        .layer(axum::middleware::from_fn(auth::same_origin_writes))
        .with_state(state)
}
