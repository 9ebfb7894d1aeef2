//! Turning an upload from the rep's page into a submission — through the API's
//! intake (`service::api::intake`), not a second path: the same sniff, the same
//! size limit, the same retake policy and adaptive-path check, the same
//! idempotency rules. A file the API would refuse, the page refuses with the
//! same status and sentence.
//!
//! The only thing done here is reading the form's file field to a temporary
//! file as it arrives (memory stays bounded whatever its size), because the
//! page's form names its fields for people (`recording`), not for the API.

use axum::extract::multipart::Field;
use axum::http::{HeaderMap, HeaderValue};
use chrono::Utc;
use tokio::io::AsyncWriteExt;

use crate::service::api::intake::{self, OnFailure, SNIFF_BYTES};
use crate::service::api::{ApiError, ApiState};
use crate::store::db::{NewSubmission, Submission};
use crate::store::ObjectKey;

use super::error::WebError;

/// A recording received in full, waiting in a temporary file (deleted when
/// this is dropped).
pub struct Spooled {
    file: tempfile::NamedTempFile,
    pub size: u64,
    /// From the bytes, never from what the browser claims: it is what the
    /// audio player is later served with.
    pub content_type: &'static str,
}

/// Reads the file field to a temporary file, refusing it as soon as it is
/// over the API's limit or its first bytes show it is not a recording.
pub async fn spool(api: &ApiState, field: &mut Field<'_>) -> Result<Spooled, WebError> {
    let max = api.config.max_upload_bytes;
    let internal = |e: std::io::Error| WebError::Internal(format!("writing the upload: {e}"));
    let file = tempfile::Builder::new()
        .prefix("pitchgrade-web-upload-")
        .tempfile_in(&api.config.scratch_dir)
        .map_err(internal)?;
    let mut out = tokio::fs::File::from_std(file.reopen().map_err(internal)?);
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    let mut sniffed = None;
    let mut size = 0u64;
    while let Some(chunk) = field.chunk().await.map_err(|e| cut_off(e, max))? {
        size += chunk.len() as u64;
        if size > max {
            return Err(ApiError::too_large(max).into());
        }
        if sniffed.is_none() {
            let room = SNIFF_BYTES - head.len();
            head.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if head.len() == SNIFF_BYTES {
                sniffed = Some(intake::check_head(&head)?);
            }
        }
        out.write_all(&chunk).await.map_err(internal)?;
    }
    // A file shorter than the sniff window (or empty) is judged on what came.
    let (_, content_type) = match sniffed {
        Some(s) => s,
        None => intake::check_head(&head)?,
    };
    out.flush().await.map_err(internal)?;
    Ok(Spooled {
        file,
        size,
        content_type,
    })
}

/// The body limit counts the multipart framing too; both it and our own count
/// answer with the API's sentence, naming the limit.
fn cut_off(e: axum::extract::multipart::MultipartError, max: u64) -> WebError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large(max).into()
    } else {
        WebError::BadRequest(format!(
            "the upload was cut off or malformed: {}",
            e.body_text()
        ))
    }
}

/// An idempotency key from the form, checked by the API's own rule (the API
/// reads it from a header, so it is handed over as one).
pub fn idempotency_key(value: &str) -> Result<Option<String>, WebError> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    let mut headers = HeaderMap::new();
    let header = HeaderValue::from_str(value).map_err(|_| {
        WebError::BadRequest("the idempotency key must be visible ASCII characters".into())
    })?;
    headers.insert("idempotency-key", header);
    Ok(intake::idempotency_key(&headers)?)
}

/// Stores the recording and creates the submission with its grading job
/// through the API's intake. Returns the earlier submission when this rep used
/// the idempotency key before (a retried upload).
pub async fn submit(
    api: &ApiState,
    rep_id: &str,
    rubric_id: &str,
    upload: Spooled,
    idempotency_key: Option<String>,
) -> Result<Submission, WebError> {
    intake::check_rubric(api, rubric_id)?;
    let key = ObjectKey::new_upload(Utc::now());
    api.parts
        .objects
        .put_file(&key, upload.file.path(), upload.content_type)
        .await?;
    let Spooled {
        file,
        size,
        content_type,
    } = upload;
    drop(file);
    let created = intake::enqueue(
        api,
        NewSubmission {
            rep_id: rep_id.to_string(),
            rubric_id: rubric_id.to_string(),
            object_key: key.to_string(),
            content_type: content_type.to_string(),
            byte_size: size,
            idempotency_key,
        },
        &key,
        OnFailure::Delete,
    )
    .await?;
    Ok(created.submission)
}
