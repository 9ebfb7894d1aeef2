//! What the API sends back: submissions with their status and grade, and the
//! listing. Also deserialisable, so `pitchgrade submit` reads the same types.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::pipeline::stored::StoredGrade;
use crate::store::db::{Submission, SubmissionView};

/// Where a submission is. `needs_review` means graded as borderline and
/// waiting for a reviewer; `failed` comes with `failure_reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Queued,
    Processing,
    Graded,
    NeedsReview,
    Failed,
}

impl Status {
    /// No further change will come from the machine.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Graded | Status::NeedsReview | Status::Failed)
    }
}

impl From<crate::store::db::SubmissionStatus> for Status {
    fn from(s: crate::store::db::SubmissionStatus) -> Status {
        use crate::store::db::SubmissionStatus as S;
        match s {
            S::Queued => Status::Queued,
            S::Processing => Status::Processing,
            S::Graded => Status::Graded,
            S::NeedsReview => Status::NeedsReview,
            S::Failed => Status::Failed,
        }
    }
}

/// A submission as its rep (or a reviewer) sees it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubmissionResponse {
    pub id: Uuid,
    pub rep_id: String,
    pub rubric_id: String,
    pub status: Status,
    /// Why the submission failed, worded for the rep.
    pub failure_reason: Option<String>,
    /// The recording's format as its bytes say, not as the client claimed.
    pub content_type: String,
    pub byte_size: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Present once graded: the full grade (docs/grade-json.md) — decision,
    /// score, `criteria` with their `evidence` (quotes with times), reasons,
    /// flags — plus the transcript and audio figures it was built from, and
    /// `graded_at` / `attempt`.
    #[schema(value_type = Option<Object>)]
    pub grade: Option<serde_json::Value>,
    /// Present once the recording was deleted (under the retention policy, or
    /// by an erasure): when and why. The grade stays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_deleted: Option<crate::store::db::Tombstone>,
    /// When the transcript and evidence quotes were deleted under the
    /// retention policy; the grade's numbers and verdicts stay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript_deleted_at: Option<DateTime<Utc>>,
}

impl SubmissionResponse {
    pub fn from_view(view: SubmissionView) -> SubmissionResponse {
        let grade = view.grade.map(|g| {
            let read = StoredGrade::from_json(&g.grade).and_then(|stored| stored.to_json());
            let mut body = match read {
                Ok(body) => body,
                // Not a grade the worker wrote: still the submission's grade,
                // so it is shown as stored rather than withheld.
                Err(e) => {
                    tracing::warn!(error = %e, submission_id = %g.submission_id, "answering with the stored grade as it is");
                    g.grade
                }
            };
            if let Some(obj) = body.as_object_mut() {
                obj.insert("graded_at".into(), serde_json::json!(g.created_at));
                obj.insert("attempt".into(), serde_json::json!(g.attempt));
            }
            body
        });
        let mut response = SubmissionResponse::from_submission(view.submission);
        response.grade = grade;
        response
    }

    pub fn from_submission(s: Submission) -> SubmissionResponse {
        SubmissionResponse {
            id: s.id,
            rep_id: s.rep_id,
            rubric_id: s.rubric_id,
            status: s.status.into(),
            failure_reason: s.failure_reason,
            content_type: s.content_type,
            byte_size: s.byte_size,
            created_at: s.created_at,
            updated_at: s.updated_at,
            grade: None,
            recording_deleted: s.recording_deleted,
            transcript_deleted_at: s.transcript_deleted_at,
        }
    }
}

/// One rep's submissions, newest first (grades omitted: fetch one to see it).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubmissionList {
    pub rep_id: String,
    pub submissions: Vec<SubmissionResponse>,
}
