//! Every API failure as JSON — `{"error": {"code", "message"}}` — with the
//! status code a client can act on. `code` is stable for programs; `message`
//! is one sentence for the person (often the rep who uploaded the file).
//! Infrastructure faults are logged with their detail and answered without it.

use axum::extract::multipart::MultipartError;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::ingest::IngestError;
use crate::intake::IntakeError;
use crate::store::{DbError, ObjectError};

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

/// The JSON body of every error response.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `unauthorized`, `forbidden`, `not_found`,
    /// `invalid_request`, `unknown_rubric`, `not_audio`, `unsupported_format`,
    /// `empty_file`, `too_large`, `upload_missing`, `idempotency_conflict`,
    /// `presign_unsupported`, `unavailable`, `internal`.
    pub code: String,
    /// One sentence for a person.
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn too_large(max_bytes: u64) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "the upload is larger than the {} MB limit: upload a shorter recording or export it as M4A or MP3",
                max_bytes.div_ceil(1024 * 1024)
            ),
        )
    }

    /// A fault on our side: the detail goes to the log, not to the client.
    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %detail, "request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side; try again",
        )
    }

    fn unavailable(what: &str, detail: impl std::fmt::Display) -> ApiError {
        tracing::warn!(error = %detail, "{what} unavailable");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("the {what} is unavailable right now; try again in a moment"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"pitchgrade\""),
            );
        }
        response
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> ApiError {
        match e {
            DbError::IdempotencyConflict { .. } => ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_conflict",
                "this Idempotency-Key was already used for a submission to another rubric; use a new key",
            ),
            DbError::Invalid(m) => ApiError::invalid(m),
            DbError::NotFound { what, id } => ApiError::not_found(format!("{what} {id} not found")),
            e @ (DbError::Database { .. } | DbError::Migrate(_) | DbError::Io { .. }) => {
                ApiError::unavailable("database", e)
            }
            e => ApiError::internal(e),
        }
    }
}

impl From<ObjectError> for ApiError {
    fn from(e: ObjectError) -> ApiError {
        match e {
            ObjectError::Invalid(m) => ApiError::invalid(m),
            e @ (ObjectError::S3 { .. } | ObjectError::Io { .. }) => {
                ApiError::unavailable("recording store", e)
            }
            e => ApiError::internal(e),
        }
    }
}

/// A recording refused by its bytes: 413 for size, 415 for what it is.
impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> ApiError {
        let (status, code) = match &e {
            IngestError::Empty => (StatusCode::UNPROCESSABLE_ENTITY, "empty_file"),
            IngestError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            IngestError::NotAudio { .. } => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "not_audio"),
            IngestError::Io { .. } | IngestError::Internal(_) => return ApiError::internal(e),
            IngestError::UnknownFormat | IngestError::UnsupportedCodec { .. } => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_format")
            }
            IngestError::TooShort { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "too_short"),
            IngestError::TooLong { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "too_long"),
            IngestError::Silent => (StatusCode::UNPROCESSABLE_ENTITY, "silent"),
            // Cut off, damaged, an unreadable header: the file is a recording,
            // just not one that can be played to the end.
            _ => (StatusCode::UNPROCESSABLE_ENTITY, "unreadable_recording"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

/// One status and code per intake refusal, whichever way the recording came.
impl From<IntakeError> for ApiError {
    fn from(e: IntakeError) -> ApiError {
        let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
        match e {
            IntakeError::Refused(e) => e.into(),
            IntakeError::TooLarge { max_bytes } => ApiError::too_large(max_bytes),
            IntakeError::Body(e) => e.into(),
            e @ IntakeError::UnknownRubric { .. } => {
                ApiError::new(unprocessable, "unknown_rubric", e.to_string())
            }
            e @ IntakeError::WrongScenario { .. } => {
                ApiError::new(unprocessable, "wrong_scenario", e.to_string())
            }
            e @ IntakeError::TrackNotOpen { .. } => {
                ApiError::new(StatusCode::FORBIDDEN, "track_not_open", e.to_string())
            }
            e @ IntakeError::RetakeNotAllowed { .. } => {
                ApiError::new(StatusCode::CONFLICT, "retake_not_allowed", e.to_string())
            }
            e @ IntakeError::TooShort { .. } => {
                ApiError::new(unprocessable, "too_short", e.to_string())
            }
            e @ IntakeError::UploadMissing => {
                ApiError::new(StatusCode::CONFLICT, "upload_missing", e.to_string())
            }
            e @ (IntakeError::NoRubricOrTrack
            | IntakeError::NoProgram
            | IntakeError::InvalidIdempotencyKey
            | IntakeError::FieldTooLong { .. }
            | IntakeError::FieldNotText { .. }) => ApiError::invalid(e.to_string()),
            IntakeError::Storing(e) | IntakeError::Objects(e) => e.into(),
            IntakeError::Store(e) => e.into(),
            IntakeError::Certify(e) => e.into(),
            e @ (IntakeError::Scratch(_) | IntakeError::StoredKey(_)) => ApiError::internal(e),
        }
    }
}

impl From<MultipartError> for ApiError {
    fn from(e: MultipartError) -> ApiError {
        match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "the upload is larger than the limit: upload a shorter recording or export it as M4A or MP3",
            ),
            s if s.is_client_error() => {
                ApiError::invalid(format!("malformed multipart body: {}", e.body_text()))
            }
            _ => ApiError::internal(e.body_text()),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> ApiError {
        match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(e.status(), "too_large", e.body_text()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request",
                "send a JSON body with Content-Type: application/json",
            ),
            _ => ApiError::invalid(json_sentence(&e.body_text())),
        }
    }
}

/// serde's words as a sentence a client developer reads once and fixes:
/// "missing field `reason` at line 1 column 20" becomes "the JSON body needs
/// the field `reason`".
fn json_sentence(text: &str) -> String {
    let detail = text.split_once(": ").map_or(text, |(_, rest)| rest).trim();
    // The position is noise for bodies this small.
    let detail = match detail.rfind(" at line ") {
        Some(at) => &detail[..at],
        None => detail,
    };
    if let Some(field) = detail.strip_prefix("missing field ") {
        return format!("the JSON body needs the field {field}");
    }
    if let Some(rest) = detail.strip_prefix("unknown field ") {
        let field = rest.split(',').next().unwrap_or(rest);
        return format!("the JSON body has a field this route does not take: {field}");
    }
    if detail.starts_with("unknown variant ") || detail.starts_with("invalid ") {
        return format!("a field of the JSON body has a value this route does not take ({detail})");
    }
    if detail.starts_with("EOF") || detail.starts_with("expected") || detail.starts_with("trailing")
    {
        return format!("the body is not valid JSON ({detail})");
    }
    format!("the JSON body could not be read: {detail}")
}

impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> ApiError {
        // An id that is not a UUID names nothing that exists.
        ApiError::not_found(e.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> ApiError {
        ApiError::invalid(e.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::check_head;

    #[test]
    fn json_refusals_read_as_sentences() {
        assert_eq!(
            json_sentence(
                "Failed to deserialize the JSON body into the target type: \
                 missing field `reason` at line 1 column 20"
            ),
            "the JSON body needs the field `reason`"
        );
        assert_eq!(
            json_sentence(
                "Failed to parse the request body as JSON: EOF while parsing an object at line 1 column 1"
            ),
            "the body is not valid JSON (EOF while parsing an object)"
        );
        let odd = json_sentence(
            "Failed to deserialize the JSON body into the target type: decision: unknown variant `maybe`, \
             expected `pass` or `fail` at line 1 column 22",
        );
        assert!(odd.contains("unknown variant `maybe`"), "{odd}");
        assert!(!odd.contains("line 1"), "{odd}");
    }

    fn refusal(head: &[u8]) -> ApiError {
        check_head(head).map(|_| ()).unwrap_err().into()
    }

    #[test]
    fn refuses_documents_and_text_with_the_reason() {
        let pdf = refusal(b"%PDF-1.7\n%\xE2\xE3");
        assert_eq!((pdf.status.as_u16(), pdf.code), (415, "not_audio"));
        assert!(pdf.message.contains("PDF"), "{}", pdf.message);
        let text = refusal(b"Hello, this is my pitch as text");
        assert_eq!(
            (text.status.as_u16(), text.code),
            (415, "unsupported_format")
        );
        assert_eq!(refusal(b"").code, "empty_file");
        assert_eq!(refusal(b"#!AMR\n").code, "unsupported_format");
    }
}
