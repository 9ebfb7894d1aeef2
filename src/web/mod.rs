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

pub mod assets;
pub mod auth;
pub mod charts;
pub mod error;
pub mod intake;
pub mod media;
pub mod pages;
pub mod program;
pub mod view;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

use crate::service::ServiceParts;

pub use auth::{Authenticator, Principal, Role};
pub use error::WebError;
pub use program::{NoProgram, Program};

/// Settings a deployment may change.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// Mark the session cookie `Secure` (set when served over HTTPS).
    pub secure_cookies: bool,
    /// Largest recording accepted from the upload form, in bytes.
    pub max_upload_bytes: u64,
}

impl Default for WebOptions {
    fn default() -> Self {
        WebOptions {
            secure_cookies: false,
            max_upload_bytes: crate::ingest::Limits::default().max_bytes,
        }
    }
}

/// Everything the pages read from. Cheap to clone (all shared).
#[derive(Clone)]
pub struct WebState {
    pub parts: ServiceParts,
    pub auth: Arc<dyn Authenticator>,
    pub program: Arc<dyn Program>,
    pub options: WebOptions,
    pub(crate) audio: Arc<media::AudioCache>,
}

impl WebState {
    pub fn new(
        parts: ServiceParts,
        auth: Arc<dyn Authenticator>,
        program: Arc<dyn Program>,
        options: WebOptions,
    ) -> WebState {
        WebState {
            parts,
            auth,
            program,
            options,
            audio: Arc::new(media::AudioCache::new()),
        }
    }
}

/// The pages, ready to be merged beside the API (`/v1/...`) in `pitchgrade serve`.
pub fn router(state: WebState) -> Router {
    use pages::{dashboard, rep, review, rubrics};
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
                usize::try_from(state.options.max_upload_bytes)
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
        .route("/rubrics", get(rubrics::page))
        .layer(axum::middleware::from_fn(auth::same_origin_writes))
        .with_state(state)
}
