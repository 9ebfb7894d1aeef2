//! What a page can fail with, and the page a person sees then.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::store::{DbError, ObjectError};

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("you do not have access to this page")]
    Forbidden,
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("the recording is larger than the {limit_mb} MB limit")]
    TooLarge { limit_mb: u64 },
    #[error("storage error: {0}")]
    Store(#[from] DbError),
    #[error("storage error: {0}")]
    Objects(#[from] ObjectError),
    #[error("certification service error: {0}")]
    Program(String),
    #[error("cannot render the page {page}: {source}")]
    Render {
        page: &'static str,
        #[source]
        source: askama::Error,
    },
    #[error("internal error: {0}")]
    Internal(String),
    /// Refused by the API's own checks (intake, certification): the status and
    /// sentence the API would give, so a page and a client hear the same thing.
    #[error("{message}")]
    Refused {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
}

impl From<crate::service::api::ApiError> for WebError {
    fn from(e: crate::service::api::ApiError) -> WebError {
        WebError::Refused {
            status: e.status,
            code: e.code,
            message: e.message,
        }
    }
}

/// Intake refuses for the page what it refuses for the API, with the API's
/// status and sentence; only what the page's own form got wrong, and faults
/// on our side, are worded for the page.
impl From<crate::intake::IntakeError> for WebError {
    fn from(e: crate::intake::IntakeError) -> WebError {
        use crate::intake::IntakeError;
        match e {
            e @ IntakeError::Body(_) => WebError::BadRequest(e.to_string()),
            e @ IntakeError::Scratch(_) => WebError::Internal(e.to_string()),
            IntakeError::Storing(e) => WebError::Objects(e),
            e => crate::service::api::ApiError::from(e).into(),
        }
    }
}

impl From<crate::certify::CertifyError> for WebError {
    fn from(e: crate::certify::CertifyError) -> WebError {
        // One mapping of certification errors to statuses: the API's.
        crate::service::api::ApiError::from(e).into()
    }
}

impl WebError {
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::Forbidden => StatusCode::FORBIDDEN,
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            WebError::Store(DbError::NotFound { .. }) => StatusCode::NOT_FOUND,
            WebError::Store(DbError::Invalid(_) | DbError::IdempotencyConflict { .. })
            | WebError::Objects(ObjectError::Invalid(_)) => StatusCode::BAD_REQUEST,
            WebError::Store(_)
            | WebError::Objects(_)
            | WebError::Program(_)
            | WebError::Render { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            WebError::Refused { status, .. } => *status,
        }
    }

    /// What the person reads: the cause for their own mistakes, a generic line
    /// for ours (the details go to the log, not to the page).
    fn public_message(&self) -> String {
        if self.status().is_server_error() {
            "Something went wrong on our side. Try again in a minute; if it keeps \
             happening, tell your enablement team."
                .into()
        } else {
            self.to_string()
        }
    }
}

#[derive(Template)]
#[template(path = "web/error.html")]
struct ErrorPage {
    chrome: super::pages::Chrome,
    status: u16,
    message: String,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "web page failed");
        }
        let page = ErrorPage {
            chrome: super::pages::Chrome::anonymous(status.canonical_reason().unwrap_or("Error")),
            status: status.as_u16(),
            message: self.public_message(),
        };
        let body = page
            .render()
            .unwrap_or_else(|_| format!("<!doctype html><title>{status}</title><p>{status}</p>"));
        (status, Html(body)).into_response()
    }
}
