//! The retention pass: deletes recordings and transcripts the policy says
//! have outlived their purpose, on whichever store and database is
//! configured, a batch at a time.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use tracing::warn;

use super::policy::{RetentionPolicy, RETENTION};
use super::PrivacyError;
use crate::pipeline::stored::StoredGrade;
use crate::store::{ObjectError, ObjectKey, ObjectStore, Repo};

/// Rows handled per query; a pass takes at most [`MAX_BATCHES`] of them.
const BATCH: u32 = 200;
const MAX_BATCHES: usize = 50;

/// What one pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    pub recordings_deleted: usize,
    pub transcripts_deleted: usize,
    /// Items that failed (logged with their submission id); retried next pass.
    pub errors: usize,
}

/// Deletes one stored object; one already gone is fine (a pass interrupted
/// after the delete and before the tombstone is finished this way).
pub(super) async fn delete_object(
    objects: &dyn ObjectStore,
    key: &str,
) -> Result<(), PrivacyError> {
    let key = match ObjectKey::parse(key) {
        Ok(key) => key,
        // A key we could never have written names nothing we can delete.
        Err(ObjectError::BadKey { .. }) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    match objects.delete(&key).await {
        Ok(()) | Err(ObjectError::NotFound(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The grade of `submission` without the rep's words, written back.
pub(super) async fn redact(
    repo: &dyn Repo,
    submission: uuid::Uuid,
    reason: &str,
    why: &str,
    now: DateTime<Utc>,
) -> Result<bool, PrivacyError> {
    let Some(grade) = repo.get_submission(submission).await?.and_then(|v| v.grade) else {
        return Ok(false);
    };
    let redacted = StoredGrade::from_json(&grade.grade)
        .and_then(|g| g.without_speech(why).to_json())
        .map_err(|source| PrivacyError::Grade { submission, source })?;
    Ok(repo
        .redact_grade(submission, &redacted, reason, now)
        .await?)
}

/// One pass of the policy at `now`.
pub async fn sweep(
    repo: &dyn Repo,
    objects: &dyn ObjectStore,
    policy: &RetentionPolicy,
    now: DateTime<Utc>,
) -> Result<RetentionReport, PrivacyError> {
    let mut report = RetentionReport::default();
    let recordings_before = now - TimeDelta::days(i64::from(policy.recording_days));
    'recordings: for _ in 0..MAX_BATCHES {
        let due = repo.recordings_due(recordings_before, BATCH).await?;
        if due.is_empty() {
            break;
        }
        let mut progressed = false;
        for recording in &due {
            let mut deleted = Ok(());
            for key in &recording.object_keys {
                deleted = deleted.and(delete_object(objects, key).await);
            }
            match deleted {
                Ok(()) => {
                    if repo
                        .bury_recording(recording.submission_id, RETENTION, now)
                        .await?
                    {
                        report.recordings_deleted += 1;
                        progressed = true;
                    }
                }
                Err(e) => {
                    report.errors += 1;
                    warn!(submission_id = %recording.submission_id, error = %e, "retention: deleting a recording failed; will retry");
                }
            }
        }
        if !progressed {
            // Everything due failed this time: the next pass tries again
            // instead of this one spinning on the same rows.
            break 'recordings;
        }
    }

    let transcripts_before = now - TimeDelta::days(i64::from(policy.transcript_days));
    for _ in 0..MAX_BATCHES {
        let due = repo
            .transcripts_due(transcripts_before, transcripts_before, BATCH)
            .await?;
        if due.is_empty() {
            break;
        }
        let mut progressed = false;
        for id in due {
            match redact(
                repo,
                id,
                RETENTION,
                "The transcript was deleted under the retention policy.",
                now,
            )
            .await
            {
                Ok(true) => {
                    report.transcripts_deleted += 1;
                    progressed = true;
                }
                Ok(false) => {}
                Err(e) => {
                    report.errors += 1;
                    warn!(submission_id = %id, error = %e, "retention: deleting a transcript failed; will retry");
                }
            }
        }
        if !progressed {
            break;
        }
    }
    Ok(report)
}
