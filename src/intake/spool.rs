//! Receiving an upload: streamed to a temporary file while it arrives — never
//! held in memory — and counted against the size limit as it goes; its first
//! bytes are sniffed as soon as they are in, so a PDF is refused before the
//! rest of it is read. Text fields are read the same way, chunk by chunk
//! against a small cap, so a 150 MB "rubric" field costs 256 bytes of memory
//! before it is refused, not 150 MB.

use std::path::Path;

use axum::extract::multipart::{Field, MultipartError};
use axum::http::StatusCode;
use tokio::io::AsyncWriteExt;

use super::{check_head, Intake, IntakeError, SNIFF_BYTES};

/// A recording received in full, waiting in a temporary file (deleted when
/// this is dropped).
pub struct Spooled {
    pub(super) file: tempfile::NamedTempFile,
    pub size: u64,
    /// From the bytes, never from what the client claims: it is what the
    /// audio player is later served with.
    pub content_type: &'static str,
}

impl Spooled {
    pub(super) fn path(&self) -> &Path {
        self.file.path()
    }
}

impl Intake {
    /// Reads one multipart file field to a temporary file, refusing it as soon
    /// as it is over the limit or its first bytes show it is not a recording.
    pub async fn spool(&self, field: &mut Field<'_>) -> Result<Spooled, IntakeError> {
        let max = self.limits.max_upload_bytes;
        let file = tempfile::Builder::new()
            .prefix("pitchgrade-upload-")
            .tempfile_in(&self.limits.scratch_dir)
            .map_err(IntakeError::Scratch)?;
        let mut out = tokio::fs::File::from_std(file.reopen().map_err(IntakeError::Scratch)?);
        let mut head = Vec::with_capacity(SNIFF_BYTES);
        let mut sniffed = None;
        let mut size = 0u64;
        while let Some(chunk) = field.chunk().await.map_err(|e| body_error(e, max))? {
            size += chunk.len() as u64;
            if size > max {
                return Err(IntakeError::TooLarge { max_bytes: max });
            }
            if sniffed.is_none() {
                let room = SNIFF_BYTES - head.len();
                head.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if head.len() == SNIFF_BYTES {
                    sniffed = Some(check_head(&head)?);
                }
            }
            out.write_all(&chunk).await.map_err(IntakeError::Scratch)?;
        }
        // A file shorter than the sniff window (or empty) is judged on what came.
        let (_, content_type) = match sniffed {
            Some(s) => s,
            None => check_head(&head)?,
        };
        out.flush().await.map_err(IntakeError::Scratch)?;
        Ok(Spooled {
            file,
            size,
            content_type,
        })
    }
}

/// Longest text field (rubric, track, rep, idempotency key) accepted in an
/// upload form; every legitimate value is far shorter.
pub const MAX_TEXT_FIELD: usize = 256;

/// Reads a small text field of an upload form, refusing it as soon as it
/// grows past [`MAX_TEXT_FIELD`], trimmed.
pub async fn text_field(
    field: &mut Field<'_>,
    name: &str,
    max_upload: u64,
) -> Result<String, IntakeError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| body_error(e, max_upload))? {
        if bytes.len() + chunk.len() > MAX_TEXT_FIELD {
            return Err(IntakeError::FieldTooLong {
                name: name.chars().take(40).collect(),
                max_bytes: MAX_TEXT_FIELD,
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(bytes).map_err(|_| IntakeError::FieldNotText {
        name: name.chars().take(40).collect(),
    })?;
    Ok(text.trim().to_string())
}

/// The body limit counts the multipart framing too; both it and our own count
/// are the same refusal, naming the limit.
pub fn body_error(e: MultipartError, max: u64) -> IntakeError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        IntakeError::TooLarge { max_bytes: max }
    } else {
        IntakeError::Body(e)
    }
}
