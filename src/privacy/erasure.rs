//! Erasing one rep: their recordings (every stored copy), their transcripts
//! and evidence quotes, and their id, which every row then names as a
//! pseudonym, so counts, rates and coverage still add up without saying who.
//!
//! What stays under the pseudonym is what the program reports need: grades'
//! numbers and verdicts, decisions, certifications and the audit trail. A
//! certification still in force keeps counting for the firm's tier (an
//! erasure pauses nobody's standing) unless the program's
//! `[retention] erasure_deactivates_rep` takes the rep off the roster.

use std::io::Read;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::policy::{RetentionPolicy, ERASURE};
use super::retention::{delete_object, redact};
use super::PrivacyError;
use crate::store::db::retention::RepErasure;
use crate::store::{ObjectStore, Repo};

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Erasure {
    /// What the rep's rows are called now. Shown once, to whoever asked;
    /// nothing stored maps it back to the rep.
    pub pseudonym: String,
    /// Submissions whose recording was deleted.
    pub recordings_deleted: usize,
    /// Stored objects deleted (a direct upload and its recording are two).
    pub objects_deleted: usize,
    pub transcripts_deleted: usize,
    /// Whether the rep was also taken off the coverage roster.
    pub deactivated: bool,
}

fn pseudonym() -> Result<String, PrivacyError> {
    let mut bytes = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(PrivacyError::Randomness)?;
    Ok(format!("erased-{}", hex::encode(bytes)))
}

/// Erases `rep_id` everywhere, as `actor` (who asked, for the audit log).
/// Run again after a failure, it finishes what is left.
pub async fn erase_rep(
    repo: &dyn Repo,
    objects: &dyn ObjectStore,
    policy: &RetentionPolicy,
    rep_id: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Erasure, PrivacyError> {
    let on_roster = repo.get_rep(rep_id).await?.is_some();
    if !on_roster && repo.list_submissions(rep_id, 1).await?.is_empty() {
        return Err(PrivacyError::NoSuchRep(rep_id.to_string()));
    }
    // The objects first: if anything after fails, the rows still name the
    // rep and the next attempt finds the rest.
    let recordings = repo.recordings_of(rep_id).await?;
    let mut objects_deleted = 0;
    for recording in &recordings {
        for key in &recording.object_keys {
            delete_object(objects, key).await?;
            objects_deleted += 1;
        }
    }
    let mut recordings_deleted = 0;
    for recording in &recordings {
        if repo
            .bury_recording(recording.submission_id, ERASURE, now)
            .await?
        {
            recordings_deleted += 1;
        }
    }
    let mut transcripts_deleted = 0;
    for id in repo.transcripts_of(rep_id).await? {
        if redact(
            repo,
            id,
            ERASURE,
            "The transcript was deleted at the rep's request.",
            now,
        )
        .await?
        {
            transcripts_deleted += 1;
        }
    }
    let erasure = RepErasure {
        rep_id: rep_id.to_string(),
        pseudonym: pseudonym()?,
        actor: actor.to_string(),
        deactivate: policy.erasure_deactivates_rep,
    };
    if !repo.erase_rep(&erasure, now).await? {
        return Err(PrivacyError::NoSuchRep(rep_id.to_string()));
    }
    Ok(Erasure {
        pseudonym: erasure.pseudonym,
        recordings_deleted,
        objects_deleted,
        transcripts_deleted,
        deactivated: erasure.deactivate && on_roster,
    })
}
