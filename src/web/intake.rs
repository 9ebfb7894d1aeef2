//! Turning an upload from the rep's page into a submission with its job.
//!
//! The recording is streamed to a temporary file (memory stays bounded
//! whatever its size), sniffed (a PDF renamed `.webm` is refused before it
//! costs a worker anything), stored under a key we generate, and only then
//! is the submission created with its job in one transaction.

use std::path::Path;

use chrono::Utc;
use tokio::io::AsyncReadExt;

use crate::ingest::source::{sniff, Sniffed};
use crate::service::ServiceParts;
use crate::store::db::{JobKind, NewJob, NewSubmission, Submission};
use crate::store::ObjectKey;

use super::error::WebError;

/// Attempts a grading job gets before its submission fails.
const MAX_ATTEMPTS: u32 = 5;

/// A recording received in full, waiting in a temporary file.
pub struct Upload<'a> {
    pub rubric_id: &'a str,
    pub path: &'a Path,
    pub byte_size: u64,
    pub idempotency_key: Option<String>,
}

/// Checks the upload and creates the submission; returns it (the earlier one
/// when the idempotency key was used before by this rep).
pub async fn create_submission(
    parts: &ServiceParts,
    rep_id: &str,
    upload: Upload<'_>,
) -> Result<Submission, WebError> {
    if parts.rubrics.get(upload.rubric_id).is_none() {
        return Err(WebError::BadRequest(format!(
            "there is no rubric {:?} on this server",
            upload.rubric_id
        )));
    }
    if upload.byte_size == 0 {
        return Err(WebError::BadRequest("the recording is empty".into()));
    }
    let content_type = content_type_of(upload.path).await?;
    let now = Utc::now();
    let key = ObjectKey::new_upload(now);
    parts
        .objects
        .put_file(&key, upload.path, content_type)
        .await?;
    let created = parts
        .repo
        .create_submission_with_job(
            &NewSubmission {
                rep_id: rep_id.to_string(),
                rubric_id: upload.rubric_id.to_string(),
                object_key: key.as_str().to_string(),
                content_type: content_type.to_string(),
                byte_size: upload.byte_size,
                idempotency_key: upload.idempotency_key,
            },
            &NewJob {
                kind: JobKind::Grade,
                max_attempts: MAX_ATTEMPTS,
                run_at: now,
            },
            now,
        )
        .await?;
    if !created.created {
        // A retried upload: the first one's object is the one graded.
        let _ = parts.objects.delete(&key).await;
    }
    Ok(created.submission)
}

/// The content type from the bytes, never from what the browser claims: it
/// is what the audio player is later served with.
async fn content_type_of(path: &Path) -> Result<&'static str, WebError> {
    let mut head = [0u8; 64];
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| WebError::Internal(format!("reading the upload back: {e}")))?;
    let mut filled = 0;
    while filled < head.len() {
        let n = file
            .read(&mut head[filled..])
            .await
            .map_err(|e| WebError::Internal(format!("reading the upload back: {e}")))?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(match sniff(&head[..filled]) {
        Sniffed::Wav => "audio/wav",
        Sniffed::Aiff => "audio/aiff",
        Sniffed::Mp3 => "audio/mpeg",
        Sniffed::Adts => "audio/aac",
        Sniffed::Mp4 => "audio/mp4",
        Sniffed::Flac => "audio/flac",
        Sniffed::Ogg => "audio/ogg",
        Sniffed::WebM => "audio/webm",
        Sniffed::Matroska => "audio/x-matroska",
        Sniffed::Amr | Sniffed::AmrWb => "audio/amr",
        Sniffed::NotAudio(kind) => {
            return Err(WebError::BadRequest(format!(
                "this file is {kind}, not a recording"
            )))
        }
        Sniffed::Unknown => {
            return Err(WebError::BadRequest(
                "this file is not a recording we can read; record in the page or upload \
                 WAV, MP3, M4A, OGG, WebM or FLAC"
                    .into(),
            ))
        }
    })
}
