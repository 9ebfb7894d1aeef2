//! From stored bytes to a queued submission, shared by every way in
//! (multipart upload, completed direct upload, S3 event): sniff the first
//! bytes, then create the submission and its job in one transaction.
//!
//! The sniff is the ingest stage's own (`ingest::source::sniff`), so the API
//! refuses exactly what a worker would refuse for what the file *is* — a PDF,
//! a text file, AMR — before a job is queued; decoding problems inside a real
//! audio file are still found by the worker and reported on the submission.

use chrono::Utc;

use super::error::ApiError;
use super::ApiState;
use crate::ingest::source::{sniff, Sniffed};
use crate::ingest::IngestError;
use crate::store::db::{Created, JobKind, NewJob, NewSubmission};
use crate::store::ObjectKey;

/// How many leading bytes the sniff looks at (what `ingest::source` reads).
pub const SNIFF_BYTES: usize = 64;

/// Refuses what is certainly not a recording we can grade; otherwise the
/// container it is and the content type to store with it.
pub fn check_head(head: &[u8]) -> Result<(Sniffed, &'static str), ApiError> {
    if head.is_empty() {
        return Err(IngestError::Empty.into());
    }
    let sniffed = sniff(head);
    let content_type = match sniffed {
        Sniffed::NotAudio(kind) => return Err(IngestError::NotAudio { kind }.into()),
        Sniffed::Unknown => return Err(IngestError::UnknownFormat.into()),
        Sniffed::Amr => {
            return Err(IngestError::UnsupportedCodec {
                codec: "AMR-NB".into(),
            }
            .into())
        }
        Sniffed::AmrWb => {
            return Err(IngestError::UnsupportedCodec {
                codec: "AMR-WB".into(),
            }
            .into())
        }
        Sniffed::Wav => "audio/wav",
        Sniffed::Aiff => "audio/aiff",
        Sniffed::Mp3 => "audio/mpeg",
        Sniffed::Adts => "audio/aac",
        Sniffed::Mp4 => "audio/mp4",
        Sniffed::Flac => "audio/flac",
        Sniffed::Ogg => "audio/ogg",
        Sniffed::WebM => "audio/webm",
        Sniffed::Matroska => "audio/x-matroska",
    };
    Ok((sniffed, content_type))
}

/// An `Idempotency-Key` header, checked: 1–255 visible ASCII characters.
pub fn idempotency_key(headers: &axum::http::HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::invalid("Idempotency-Key must be 1 to 255 visible ASCII characters")
        })?;
    Ok(Some(key.to_string()))
}

/// What to do with the stored object when the submission cannot be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// The client still holds the file and will send it again (multipart).
    Delete,
    /// The object is the only copy the server has and the client retries the
    /// completion, not the upload (direct upload).
    Keep,
}

/// Creates the submission and its grading job for an object already stored
/// under `key`. When the idempotency key names an earlier submission, that one
/// is returned and the object just stored is deleted, so a replayed upload
/// leaves no orphan behind.
pub async fn enqueue(
    state: &ApiState,
    new: NewSubmission,
    key: &ObjectKey,
    on_failure: OnFailure,
) -> Result<Created, ApiError> {
    let now = Utc::now();
    if let Err(refused) = check_retake(state, &new, now).await {
        // A retried request for a submission we already accepted is not a new
        // attempt: let the store answer it as the replay it is.
        if replayed(state, &new).await?.is_none() {
            if on_failure == OnFailure::Delete {
                let _ = state.parts.objects.delete(key).await;
            }
            return Err(refused);
        }
    }
    let job = NewJob {
        kind: JobKind::Grade,
        max_attempts: state.config.max_attempts,
        run_at: now,
    };
    let result = state
        .parts
        .repo
        .create_submission_with_job(&new, &job, now)
        .await;
    let orphan = match &result {
        Ok(created) => !created.created && created.submission.object_key != key.as_str(),
        Err(_) => on_failure == OnFailure::Delete,
    };
    if orphan {
        if let Err(e) = state.parts.objects.delete(key).await {
            // Not fatal for the request; the object is unreferenced and an
            // operator can sweep `uploads/` for keys no submission names.
            tracing::warn!(error = %e, %key, "could not delete an unused upload");
        }
    }
    let created = result?;
    tracing::Span::current().record(
        "submission_id",
        tracing::field::display(created.submission.id),
    );
    if created.created {
        tracing::info!(
            submission_id = %created.submission.id,
            rep_id = %created.submission.rep_id,
            rubric_id = %created.submission.rubric_id,
            bytes = created.submission.byte_size,
            "submission queued"
        );
    }
    Ok(created)
}

/// Refuses an unknown rubric before anything is stored (422), naming the ones
/// that exist so the client can correct itself.
pub fn check_rubric(state: &ApiState, rubric_id: &str) -> Result<(), ApiError> {
    if state.parts.rubrics.get(rubric_id).is_some() {
        return Ok(());
    }
    let known: Vec<&str> = state
        .parts
        .rubrics
        .iter()
        .map(|r| r.rubric.id.as_str())
        .collect();
    Err(ApiError::new(
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_rubric",
        format!(
            "there is no rubric {rubric_id:?} on this server; installed: {}",
            known.join(", ")
        ),
    ))
}

/// Refuses a submission the track's retake policy does not allow yet (cooldown
/// after a fail, attempts per window, an attempt still being graded), with the
/// sentence and date the rep needs. No program, or a rubric outside it: no rule.
async fn check_retake(
    state: &ApiState,
    new: &NewSubmission,
    now: chrono::DateTime<Utc>,
) -> Result<(), ApiError> {
    let Some(program) = &state.config.program else {
        return Ok(());
    };
    let Some(track) = program.track_for_rubric(&new.rubric_id) else {
        return Ok(());
    };
    let check = crate::certify::retake::check(
        state.parts.repo.as_ref(),
        program,
        &new.rep_id,
        &track.id,
        now,
    )
    .await?;
    // Adaptive paths: the program, not the client, decides which scenario a
    // rep pitches. Naming another of the track's rubrics would grade the rep
    // against a buyer their firm does not sell to.
    if check.rubric_id != new.rubric_id {
        return Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "wrong_scenario",
            format!(
                "rep {} pitches the {:?} scenario for the {} track, not {:?}: submit with \
                 rubric={} (or send track={} and let the server choose)",
                new.rep_id, check.rubric_id, track.id, new.rubric_id, check.rubric_id, track.id
            ),
        ));
    }
    if check.allowed {
        return Ok(());
    }
    let when = check
        .next_allowed_at
        .map(|t| format!(" (next allowed at {})", t.to_rfc3339()))
        .unwrap_or_default();
    Err(ApiError::new(
        axum::http::StatusCode::CONFLICT,
        "retake_not_allowed",
        format!("{}{when}", check.message),
    ))
}

/// The rubric a submission is graded against: the one the client names, or —
/// when it names a track instead — the scenario the program's adaptive paths
/// give this rep on that track.
pub async fn resolve_rubric(
    state: &ApiState,
    rep_id: &str,
    rubric: Option<String>,
    track: Option<String>,
) -> Result<String, ApiError> {
    match (rubric, track) {
        (Some(rubric), _) => Ok(rubric),
        (None, None) => Err(ApiError::invalid(
            "name the rubric (`rubric`) or the track (`track`) the pitch is for",
        )),
        (None, Some(track)) => {
            let Some(program) = &state.config.program else {
                return Err(ApiError::invalid(
                    "this server has no certification program, so it cannot pick a rubric \
                     for a track: send `rubric`",
                ));
            };
            // Only the scenario here: `enqueue` runs the full retake check.
            let rubric = crate::certify::retake::scenario(
                state.parts.repo.as_ref(),
                program,
                rep_id,
                &track,
            )
            .await?;
            check_rubric(state, &rubric)?;
            Ok(rubric)
        }
    }
}

/// The rep's earlier submission with this idempotency key, if any.
async fn replayed(
    state: &ApiState,
    new: &NewSubmission,
) -> Result<Option<crate::store::db::Submission>, ApiError> {
    let Some(key) = &new.idempotency_key else {
        return Ok(None);
    };
    let earlier = state
        .parts
        .repo
        .list_submissions(&new.rep_id, crate::store::db::MAX_PAGE)
        .await?;
    Ok(earlier
        .into_iter()
        .find(|s| s.idempotency_key.as_deref() == Some(key.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_documents_and_text_with_the_reason() {
        let pdf = check_head(b"%PDF-1.7\n%\xE2\xE3").unwrap_err();
        assert_eq!((pdf.status.as_u16(), pdf.code), (415, "not_audio"));
        assert!(pdf.message.contains("PDF"), "{}", pdf.message);
        let text = check_head(b"Hello, this is my pitch as text").unwrap_err();
        assert_eq!(
            (text.status.as_u16(), text.code),
            (415, "unsupported_format")
        );
        assert_eq!(check_head(b"").unwrap_err().code, "empty_file");
        assert_eq!(
            check_head(b"#!AMR\n").unwrap_err().code,
            "unsupported_format"
        );
    }

    #[test]
    fn names_audio_by_its_bytes() {
        assert_eq!(check_head(b"RIFF\0\0\0\0WAVEfmt ").unwrap().1, "audio/wav");
        assert_eq!(check_head(b"\0\0\0\x20ftypM4A ").unwrap().1, "audio/mp4");
    }
}
