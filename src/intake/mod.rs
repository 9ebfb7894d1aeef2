//! From a recording to a queued submission, for every way in: the API's
//! multipart upload, the rep's upload page, a completed direct upload and an
//! S3 event. One path, so a file one of them refuses, all of them refuse, with
//! the same reason: the same sniff, size limit, rubric check, retake policy,
//! adaptive-path check and idempotency rules.
//!
//! The sniff is the ingest stage's own (`ingest::source::sniff`), so intake
//! refuses exactly what a worker would refuse for what the file *is* — a PDF,
//! a text file, AMR — before a job is queued; decoding problems inside a real
//! audio file are still found by the worker and reported on the submission.
//!
//! Each edge (API, web pages) turns [`IntakeError`] into its own error, so the
//! status and sentence a client hears are decided there, once.

mod error;
mod spool;

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};

pub use error::IntakeError;
pub use spool::{body_error, Spooled};

use crate::certify::Program;
use crate::ingest::source::{sniff, Sniffed};
use crate::ingest::IngestError;
use crate::rubric::RubricCatalog;
use crate::store::db::uploads::Upload;
use crate::store::db::{Created, JobKind, NewJob, NewSubmission, Submission};
use crate::store::{ObjectError, ObjectKey, ObjectStore, Repo};

/// How many leading bytes the sniff looks at (what `ingest::source` reads).
pub const SNIFF_BYTES: usize = 64;

/// Longest idempotency key accepted (it is stored and indexed per rep).
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The bounds intake works within.
#[derive(Debug, Clone)]
pub struct IntakeLimits {
    /// Largest recording accepted, in bytes, however it arrives.
    pub max_upload_bytes: u64,
    /// Where uploads wait on local disk while they arrive.
    pub scratch_dir: PathBuf,
    /// Attempts a grading job gets before it is dead.
    pub max_attempts: u32,
}

/// What intake needs to turn a recording into a queued submission.
#[derive(Clone)]
pub struct Intake {
    repo: Arc<dyn Repo>,
    objects: Arc<dyn ObjectStore>,
    rubrics: Arc<RubricCatalog>,
    /// `None` grades without certifying: no retake policy, no adaptive paths.
    program: Option<Arc<Program>>,
    limits: IntakeLimits,
}

/// What to do with the stored object when the submission cannot be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnFailure {
    /// The client still holds the file and will send it again (multipart).
    Delete,
    /// The object is the only copy the server has and the client retries the
    /// completion, not the upload (direct upload).
    Keep,
}

/// Refuses what is certainly not a recording we can grade; otherwise the
/// container it is and the content type to store with it.
pub fn check_head(head: &[u8]) -> Result<(Sniffed, &'static str), IntakeError> {
    if head.is_empty() {
        return Err(IngestError::Empty.into());
    }
    let sniffed = sniff(head);
    let unsupported = |codec: &str| IngestError::UnsupportedCodec {
        codec: codec.into(),
    };
    let content_type = match sniffed {
        Sniffed::NotAudio(kind) => return Err(IngestError::NotAudio { kind }.into()),
        Sniffed::Unknown => return Err(IngestError::UnknownFormat.into()),
        Sniffed::Amr => return Err(unsupported("AMR-NB").into()),
        Sniffed::AmrWb => return Err(unsupported("AMR-WB").into()),
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

/// An idempotency key as the client sent it, checked: 1–255 visible ASCII
/// characters once trimmed.
pub fn idempotency_key(raw: &str) -> Result<String, IntakeError> {
    let key = raw.trim();
    let valid = !key.is_empty()
        && key.len() <= MAX_IDEMPOTENCY_KEY
        && key.bytes().all(|b| b.is_ascii_graphic());
    if !valid {
        return Err(IntakeError::InvalidIdempotencyKey);
    }
    Ok(key.to_string())
}

impl Intake {
    pub fn new(
        repo: Arc<dyn Repo>,
        objects: Arc<dyn ObjectStore>,
        rubrics: Arc<RubricCatalog>,
        program: Option<Arc<Program>>,
        limits: IntakeLimits,
    ) -> Intake {
        Intake {
            repo,
            objects,
            rubrics,
            program,
            limits,
        }
    }

    pub fn limits(&self) -> &IntakeLimits {
        &self.limits
    }

    /// Refuses an unknown rubric before anything is stored, naming the ones
    /// that exist so the client can correct itself.
    pub fn check_rubric(&self, rubric_id: &str) -> Result<(), IntakeError> {
        if self.rubrics.get(rubric_id).is_some() {
            return Ok(());
        }
        Err(IntakeError::UnknownRubric {
            rubric_id: rubric_id.to_string(),
            installed: self.rubrics.iter().map(|r| r.rubric.id.clone()).collect(),
        })
    }

    /// The rubric a submission is graded against: the one the client names, or
    /// — when it names a track instead — the scenario the program's adaptive
    /// paths give this rep on that track.
    pub async fn resolve_rubric(
        &self,
        rep_id: &str,
        rubric: Option<String>,
        track: Option<String>,
    ) -> Result<String, IntakeError> {
        match (rubric, track) {
            (Some(rubric), _) => Ok(rubric),
            (None, None) => Err(IntakeError::NoRubricOrTrack),
            (None, Some(track)) => {
                let Some(program) = &self.program else {
                    return Err(IntakeError::NoProgram);
                };
                // Only the scenario here: `enqueue` runs the full retake check.
                let rubric =
                    crate::certify::retake::scenario(self.repo.as_ref(), program, rep_id, &track)
                        .await?;
                self.check_rubric(&rubric)?;
                Ok(rubric)
            }
        }
    }

    /// Stores a spooled recording and creates the submission with its grading
    /// job. Returns the earlier submission when this rep used the idempotency
    /// key before (a retried upload).
    pub async fn submit(
        &self,
        rep_id: &str,
        rubric_id: &str,
        upload: Spooled,
        idempotency_key: Option<String>,
    ) -> Result<Created, IntakeError> {
        self.check_rubric(rubric_id)?;
        let key = ObjectKey::new_upload(Utc::now());
        self.objects
            .put_file(&key, upload.path(), upload.content_type)
            .await
            .map_err(IntakeError::Storing)?;
        let Spooled {
            file,
            size,
            content_type,
        } = upload;
        // The store has its own copy now; the scratch disk is not kept busy
        // while the database is written.
        drop(file);
        self.enqueue(
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
        .await
    }

    /// Turns a stored direct upload into a queued submission, once: the
    /// upload's id doubles as the idempotency key when the client gave none,
    /// so the client and an S3 event completing together still make one
    /// submission. The object's size and first bytes are checked first; a
    /// presigned PUT cannot cap what it accepts.
    pub async fn complete_upload(&self, upload: &Upload) -> Result<Created, IntakeError> {
        let key = ObjectKey::parse(&upload.object_key).map_err(IntakeError::StoredKey)?;
        let head = match self.objects.head(&key, SNIFF_BYTES).await {
            Ok(h) => h,
            Err(ObjectError::NotFound(_)) => return Err(IntakeError::UploadMissing),
            Err(e) => return Err(e.into()),
        };
        let max = self.limits.max_upload_bytes;
        let checked = if head.size > max {
            Err(IntakeError::TooLarge { max_bytes: max })
        } else {
            check_head(&head.first_bytes)
        };
        let content_type = match checked {
            Ok((_, content_type)) => content_type,
            Err(refusal) => {
                // Refused for what it is, so keeping it serves no one.
                if let Err(e) = self.objects.delete(&key).await {
                    tracing::warn!(error = %e, %key, "could not delete a refused upload");
                }
                return Err(refusal);
            }
        };
        let idempotency_key = upload
            .idempotency_key
            .clone()
            .unwrap_or_else(|| format!("upload:{}", upload.id));
        let created = self
            .enqueue(
                NewSubmission {
                    rep_id: upload.rep_id.clone(),
                    rubric_id: upload.rubric_id.clone(),
                    object_key: upload.object_key.clone(),
                    content_type: content_type.to_string(),
                    byte_size: head.size,
                    idempotency_key: Some(idempotency_key),
                },
                &key,
                OnFailure::Keep,
            )
            .await?;
        self.repo
            .set_upload_submission(upload.id, created.submission.id)
            .await?;
        Ok(created)
    }

    /// Creates the submission and its grading job for an object already stored
    /// under `key`. When the idempotency key names an earlier submission, that
    /// one is returned and the object just stored is deleted, so a replayed
    /// upload leaves no orphan behind.
    async fn enqueue(
        &self,
        new: NewSubmission,
        key: &ObjectKey,
        on_failure: OnFailure,
    ) -> Result<Created, IntakeError> {
        let now = Utc::now();
        if let Err(refused) = self.check_retake(&new, now).await {
            // A retried request for a submission we already accepted is not a
            // new attempt: let the store answer it as the replay it is.
            if self.replayed(&new).await?.is_none() {
                if on_failure == OnFailure::Delete {
                    let _ = self.objects.delete(key).await;
                }
                return Err(refused);
            }
        }
        let job = NewJob {
            kind: JobKind::Grade,
            max_attempts: self.limits.max_attempts,
            run_at: now,
        };
        let result = self.repo.create_submission_with_job(&new, &job, now).await;
        let orphan = match &result {
            Ok(created) => !created.created && created.submission.object_key != key.as_str(),
            Err(_) => on_failure == OnFailure::Delete,
        };
        if orphan {
            if let Err(e) = self.objects.delete(key).await {
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

    /// Refuses a submission the track's retake policy does not allow yet
    /// (cooldown after a fail, attempts per window, an attempt still being
    /// graded), with the sentence and date the rep needs. No program, or a
    /// rubric outside it: no rule.
    async fn check_retake(
        &self,
        new: &NewSubmission,
        now: DateTime<Utc>,
    ) -> Result<(), IntakeError> {
        let Some(program) = &self.program else {
            return Ok(());
        };
        let Some(track) = program.track_for_rubric(&new.rubric_id) else {
            return Ok(());
        };
        let check =
            crate::certify::retake::check(self.repo.as_ref(), program, &new.rep_id, &track.id, now)
                .await?;
        // Adaptive paths: the program, not the client, decides which scenario a
        // rep pitches. Naming another of the track's rubrics would grade the
        // rep against a buyer their firm does not sell to.
        if check.rubric_id != new.rubric_id {
            return Err(IntakeError::WrongScenario {
                rep_id: new.rep_id.clone(),
                track_id: track.id.clone(),
                expected: check.rubric_id,
                given: new.rubric_id.clone(),
            });
        }
        if check.allowed {
            return Ok(());
        }
        Err(IntakeError::RetakeNotAllowed {
            message: check.message,
            next_allowed_at: check.next_allowed_at,
        })
    }

    /// The rep's earlier submission with this idempotency key, if any.
    async fn replayed(&self, new: &NewSubmission) -> Result<Option<Submission>, IntakeError> {
        let Some(key) = &new.idempotency_key else {
            return Ok(None);
        };
        Ok(self
            .repo
            .find_submission_by_idempotency_key(&new.rep_id, key)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_audio_by_its_bytes() {
        assert_eq!(check_head(b"RIFF\0\0\0\0WAVEfmt ").unwrap().1, "audio/wav");
        assert_eq!(check_head(b"\0\0\0\x20ftypM4A ").unwrap().1, "audio/mp4");
    }

    #[test]
    fn idempotency_keys_are_trimmed_visible_ascii() {
        assert_eq!(idempotency_key(" upload-7 ").unwrap(), "upload-7");
        for bad in ["", "   ", "two words", "caf\u{e9}", &"k".repeat(256)] {
            assert!(
                matches!(
                    idempotency_key(bad),
                    Err(IntakeError::InvalidIdempotencyKey)
                ),
                "{bad:?}"
            );
        }
    }
}
