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
pub use spool::{body_error, text_field, Spooled, MAX_TEXT_FIELD};

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
    /// A recording shorter than this share of the rubric's lower timing
    /// limit (`timing.limit_seconds[0]`, where timing already earns nothing)
    /// is refused at intake, before it costs the rep an attempt and a
    /// cooldown. 0 turns the rule off.
    pub min_recording_share: f64,
}

/// Quick checks decoding at once, across every request: each is a fraction
/// of a second of one core, and the API must not starve under a burst.
static QUICK_CHECKS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

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

    /// Reads a small text field of an upload form (capped while it streams).
    pub async fn text_field(
        &self,
        field: &mut axum::extract::multipart::Field<'_>,
        name: &str,
    ) -> Result<String, IntakeError> {
        text_field(field, name, self.limits.max_upload_bytes).await
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
        // The retake policy first: "not yet" is the answer that matters to a
        // rep in a cooldown, whatever the file. Advisory here (no lock): the
        // binding check runs again under the rep's lock before the insert.
        let probe = NewSubmission {
            rep_id: rep_id.to_string(),
            rubric_id: rubric_id.to_string(),
            object_key: String::new(),
            content_type: String::new(),
            byte_size: upload.size,
            idempotency_key: idempotency_key.clone(),
        };
        if let Err(refused) = self.check_retake(&probe, Utc::now()).await {
            if self.replayed(&probe).await?.is_none() {
                return Err(refused);
            }
        }
        self.check_recording(rubric_id, &upload).await?;
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
        )
        .await
    }

    /// Runs the ingest stage's quick check on a spooled recording, so a file
    /// that is cut off, damaged, silent or far too short for the rubric is
    /// refused in seconds with the reason the worker would give minutes
    /// later — and costs no attempt. Trouble on our side (a thread, the
    /// disk) is logged and left for the worker to meet again.
    async fn check_recording(&self, rubric_id: &str, upload: &Spooled) -> Result<(), IntakeError> {
        let Ok(_permit) = QUICK_CHECKS.acquire().await else {
            return Ok(());
        };
        let path = upload.path().to_path_buf();
        let limits = crate::ingest::Limits {
            max_bytes: self.limits.max_upload_bytes,
            ..crate::ingest::Limits::default()
        };
        let checked =
            tokio::task::spawn_blocking(move || crate::ingest::quick_check(&path, &limits)).await;
        let seconds = match checked {
            Ok(Ok(seconds)) => seconds,
            Ok(Err(e)) if e.is_permanent() => return Err(e.into()),
            Ok(Err(e)) => {
                tracing::warn!(error = %e.detail(), "intake's quick check failed; the worker will decode");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "intake's quick check did not finish; the worker will decode");
                None
            }
        };
        let least = self
            .rubrics
            .get(rubric_id)
            .and_then(|r| r.rubric.timing.as_ref())
            .map(|t| t.limit_seconds[0] * self.limits.min_recording_share)
            .unwrap_or(0.0);
        match seconds {
            Some(seconds) if least > 0.0 && seconds < least => Err(IntakeError::TooShort {
                seconds,
                min_seconds: least,
            }),
            _ => Ok(()),
        }
    }

    /// Turns a stored direct upload into a queued submission, once: the
    /// upload's id doubles as the idempotency key when the client gave none,
    /// so the client and an S3 event completing together still make one
    /// submission.
    ///
    /// The presigned PUT stays valid after this (S3 cannot revoke a
    /// signature), so the object at its key is the rep's to replace at will.
    /// The recording is therefore first copied, server-side, to a key only we
    /// write; that copy is the one checked (size, first bytes), graded and
    /// played to the reviewer, and the rep's key is deleted. A presigned PUT
    /// cannot cap what it accepts, hence the size check here.
    pub async fn complete_upload(&self, upload: &Upload) -> Result<Created, IntakeError> {
        let idempotency_key = upload
            .idempotency_key
            .clone()
            .unwrap_or_else(|| format!("upload:{}", upload.id));
        // Completed before (a retry, or the client and an S3 event): the same
        // answer, without touching what the first completion already moved.
        if let Some(earlier) = self.earlier(&upload.rep_id, &idempotency_key).await? {
            return Ok(earlier);
        }
        let sent = ObjectKey::parse(&upload.object_key).map_err(IntakeError::StoredKey)?;
        let key = ObjectKey::new_recording(Utc::now());
        match self.objects.copy(&sent, &key).await {
            Ok(()) => {}
            Err(ObjectError::NotFound(_)) => {
                // A completion running beside this one may have just moved it.
                return match self.earlier(&upload.rep_id, &idempotency_key).await? {
                    Some(earlier) => Ok(earlier),
                    None => Err(IntakeError::UploadMissing),
                };
            }
            Err(e) => return Err(e.into()),
        }
        let head = match self.objects.head(&key, SNIFF_BYTES).await {
            Ok(h) => h,
            Err(e) => {
                self.discard(&key).await;
                return Err(e.into());
            }
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
                // Refused for what it is, so keeping either copy serves no one.
                self.discard(&key).await;
                self.discard(&sent).await;
                return Err(refusal);
            }
        };
        // On failure `enqueue` deletes our copy; the rep's object stays, so a
        // retried completion still finds it.
        let created = self
            .enqueue(
                NewSubmission {
                    rep_id: upload.rep_id.clone(),
                    rubric_id: upload.rubric_id.clone(),
                    object_key: key.to_string(),
                    content_type: content_type.to_string(),
                    byte_size: head.size,
                    idempotency_key: Some(idempotency_key),
                },
                &key,
            )
            .await?;
        self.repo
            .set_upload_submission(upload.id, created.submission.id)
            .await?;
        self.discard(&sent).await;
        Ok(created)
    }

    /// The rep's submission made earlier with this idempotency key, as the
    /// store's own replay answer (which writes nothing and names the job).
    async fn earlier(&self, rep_id: &str, key: &str) -> Result<Option<Created>, IntakeError> {
        let Some(earlier) = self
            .repo
            .find_submission_by_idempotency_key(rep_id, key)
            .await?
        else {
            return Ok(None);
        };
        let job = NewJob {
            kind: JobKind::Grade,
            max_attempts: self.limits.max_attempts,
            run_at: Utc::now(),
        };
        let replay = NewSubmission {
            rep_id: earlier.rep_id.clone(),
            rubric_id: earlier.rubric_id.clone(),
            object_key: earlier.object_key.clone(),
            content_type: earlier.content_type.clone(),
            byte_size: earlier.byte_size,
            idempotency_key: Some(key.to_string()),
        };
        let created = self
            .repo
            .create_submission_with_job(&replay, &job, Utc::now())
            .await?;
        Ok(Some(created))
    }

    /// Deletes an object nobody will reference; a failure is only logged, as
    /// the request's outcome does not depend on it.
    async fn discard(&self, key: &ObjectKey) {
        if let Err(e) = self.objects.delete(key).await {
            tracing::warn!(error = %e, %key, "could not delete an unused object");
        }
    }

    /// Creates the submission and its grading job for an object already stored
    /// under `key`, a key of ours. When the idempotency key names an earlier
    /// submission, that one is returned; the object just stored is deleted
    /// whenever no submission ends up naming it, so neither a replay nor a
    /// refusal leaves an orphan behind.
    async fn enqueue(&self, new: NewSubmission, key: &ObjectKey) -> Result<Created, IntakeError> {
        // The retake check and the insert are one step per rep: concurrent
        // uploads of one rep must not all pass a check none has inserted for.
        let lock = match &self.program {
            Some(_) => Some(self.repo.lock_rep_intake(&new.rep_id).await?),
            None => None,
        };
        let result = self.check_and_insert(new, key).await;
        if let Some(lock) = lock {
            if let Err(e) = lock.release().await {
                // The insert is settled either way; the transaction holding the
                // lock ends when its connection goes back to the pool.
                tracing::warn!(error = %e, "could not release a rep's intake lock");
            }
        }
        result
    }

    async fn check_and_insert(
        &self,
        new: NewSubmission,
        key: &ObjectKey,
    ) -> Result<Created, IntakeError> {
        let now = Utc::now();
        if let Err(refused) = self.check_retake(&new, now).await {
            // A retried request for a submission we already accepted is not a
            // new attempt: let the store answer it as the replay it is.
            if self.replayed(&new).await?.is_none() {
                self.discard(key).await;
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
            Err(_) => true,
        };
        if orphan {
            self.discard(key).await;
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
        let repo = self.repo.as_ref();
        let check =
            crate::certify::retake::check(repo, program, &new.rep_id, &track.id, now).await?;
        // Another role's track: refused before the scenario or the retake rules.
        if let Some(message) = check.not_open {
            return Err(IntakeError::TrackNotOpen { message });
        }
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
