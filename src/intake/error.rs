//! Why intake refused a recording, or could not take it.

use chrono::{DateTime, Utc};

use crate::certify::CertifyError;
use crate::ingest::IngestError;
use crate::store::{DbError, ObjectError};

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The bytes are not a recording we can grade (or there are none).
    #[error(transparent)]
    Refused(#[from] IngestError),
    #[error("the upload is larger than the limit of {max_bytes} bytes")]
    TooLarge { max_bytes: u64 },
    /// The upload's body broke off or is malformed; each edge words it for
    /// its own audience.
    #[error("the upload was cut off or malformed: {}", .0.body_text())]
    Body(axum::extract::multipart::MultipartError),
    /// Far shorter than the rubric's timing asks for: refused before it
    /// counts as an attempt.
    #[error(
        "this recording is {} long, and a pitch for this rubric must run at least {}; \
         it did not count as an attempt: record the whole pitch and upload it again",
        crate::ingest::error::clock(*.seconds), crate::ingest::error::clock(*.min_seconds)
    )]
    TooShort { seconds: f64, min_seconds: f64 },
    #[error("form field `{name}` is longer than {max_bytes} bytes")]
    FieldTooLong { name: String, max_bytes: usize },
    #[error("form field `{name}` is not UTF-8 text")]
    FieldNotText { name: String },
    #[error("there is no rubric {rubric_id:?} on this server; installed: {}", installed.join(", "))]
    UnknownRubric {
        rubric_id: String,
        installed: Vec<String>,
    },
    #[error("name the rubric (`rubric`) or the track (`track`) the pitch is for")]
    NoRubricOrTrack,
    #[error(
        "this server has no certification program, so it cannot pick a rubric for a track: \
         send `rubric`"
    )]
    NoProgram,
    /// Adaptive paths give this rep another of the track's scenarios.
    #[error(
        "rep {rep_id} pitches the {expected:?} scenario for the {track_id} track, not {given:?}: \
         submit with rubric={expected} (or send track={track_id} and let the server choose)"
    )]
    WrongScenario {
        rep_id: String,
        track_id: String,
        expected: String,
        given: String,
    },
    /// The track certifies another role than the roster gives this rep.
    #[error("{message}")]
    TrackNotOpen { message: String },
    /// `message` already says when the rep may try again; the date is kept
    /// apart for clients that show it their own way.
    #[error("{message}")]
    RetakeNotAllowed {
        message: String,
        next_allowed_at: Option<DateTime<Utc>>,
    },
    #[error("Idempotency-Key must be 1 to 255 visible ASCII characters")]
    InvalidIdempotencyKey,
    #[error("nothing has been uploaded for this upload yet: PUT the file to its URL first")]
    UploadMissing,
    /// Writing the upload to the scratch disk failed: our fault, not the file's.
    #[error("writing the upload: {0}")]
    Scratch(#[source] std::io::Error),
    /// Copying the spooled recording into the object store failed.
    #[error("storing the recording: {0}")]
    Storing(#[source] ObjectError),
    /// A stored upload names an object key we would never have made.
    #[error("the stored upload's object key is invalid: {0}")]
    StoredKey(#[source] ObjectError),
    #[error(transparent)]
    Store(#[from] DbError),
    #[error(transparent)]
    Objects(#[from] ObjectError),
    #[error(transparent)]
    Certify(#[from] CertifyError),
}
