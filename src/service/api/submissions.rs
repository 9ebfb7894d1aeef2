//! Submissions: create one by multipart upload, read one, list a rep's.
//!
//! The upload goes through intake (`crate::intake`) like every other way in:
//! streamed to a temporary file while it arrives, counted against the size
//! limit and sniffed as it goes, then copied to the object store and queued.

use axum::extract::{Multipart, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use uuid::Uuid;

use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::views::{SubmissionList, SubmissionResponse};
use super::{ApiPath, ApiQuery, ApiState};
use crate::certify::audit_trail::{self, Audience, TrailLine};
use crate::intake;
use crate::store::db::tokens::Role;

/// The multipart form of `POST /v1/submissions` (for the OpenAPI document).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct SubmissionForm {
    /// Id of an installed rubric. Give this or `track`.
    rubric: Option<String>,
    /// A track of the certification program: the server picks the rubric
    /// (scenario) the program's adaptive paths give this rep.
    track: Option<String>,
    /// The rep the recording is for. A rep token may omit it (its own rep);
    /// an admin token must give it.
    rep: Option<String>,
    /// The recording (WAV, MP3, M4A/MP4, FLAC, OGG, WebM…). Its format is
    /// read from its bytes; the file name and declared type are ignored.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Creates a submission from a multipart upload and queues it for grading.
///
/// With an `Idempotency-Key` the same request sent again returns the first
/// submission (200) instead of creating a second one (202).
#[utoipa::path(
    post,
    path = "/v1/submissions",
    tag = "submissions",
    request_body(content = inline(SubmissionForm), content_type = "multipart/form-data"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation: the same key (per rep) returns the first submission")),
    responses(
        (status = 202, description = "Queued for grading", body = SubmissionResponse),
        (status = 200, description = "Replay of an earlier request with the same Idempotency-Key", body = SubmissionResponse),
        (status = 400, description = "Missing or malformed field", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "The token may not submit for this rep", body = ErrorBody),
        (status = 409, description = "Idempotency-Key reused for another rubric, or the retake policy does not allow an attempt yet", body = ErrorBody),
        (status = 413, description = "Larger than the upload limit", body = ErrorBody),
        (status = 415, description = "Not an audio recording we can read", body = ErrorBody),
        (status = 422, description = "Empty file, unknown rubric, or a rubric the rep's adaptive path does not give them (`wrong_scenario`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<ApiState>,
    caller: Result<Caller, ApiError>,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Result<Response, ApiError> {
    let result = match caller {
        Ok(caller) => receive(&state, caller, &headers, &mut multipart).await,
        Err(e) => Err(e),
    };
    if let Err(e) = &result {
        // Over the limit we stop reading at once; any other refusal lets the
        // client finish sending (bounded by the limit and a timeout) so it
        // reads our answer instead of a connection reset.
        if e.status != StatusCode::PAYLOAD_TOO_LARGE {
            linger(multipart);
        }
    }
    result
}

/// How long a refused upload is still read (and discarded).
const LINGER: std::time::Duration = std::time::Duration::from_secs(10);

fn linger(mut multipart: Multipart) {
    tokio::spawn(async move {
        let drain = async {
            while let Ok(Some(mut field)) = multipart.next_field().await {
                while let Ok(Some(_)) = field.chunk().await {}
            }
        };
        let _ = tokio::time::timeout(LINGER, drain).await;
    });
}

async fn receive(
    state: &ApiState,
    caller: Caller,
    headers: &HeaderMap,
    multipart: &mut Multipart,
) -> Result<Response, ApiError> {
    caller.require(
        &[super::auth::Role::Rep, super::auth::Role::Admin],
        "creating a submission",
    )?;
    let idempotency_key = idempotency_key(headers)?;
    let max = state.config.max_upload_bytes;
    // A declared length over the limit is refused before a byte is read.
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > max.saturating_add(super::MULTIPART_OVERHEAD) {
            return Err(ApiError::too_large(max));
        }
    }

    let mut rubric = None;
    let mut track = None;
    let mut rep = None;
    let mut upload = None;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::from(intake::body_error(e, max)))?
    {
        match field.name() {
            // Checked as soon as they arrive: sent before the file (as
            // `pitchgrade submit` does), a bad one costs no upload.
            Some("rubric") => {
                let id = state.intake.text_field(&mut field, "rubric").await?;
                state.intake.check_rubric(&id)?;
                rubric = Some(id);
            }
            Some("track") => track = Some(state.intake.text_field(&mut field, "track").await?),
            Some("rep") => {
                let id = state.intake.text_field(&mut field, "rep").await?;
                caller.submitting_rep(Some(&id))?;
                rep = Some(id);
            }
            Some("file") if upload.is_some() => {
                return Err(ApiError::invalid("send one recording per submission"))
            }
            Some("file") => upload = Some(state.intake.spool(&mut field).await?),
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "unknown form field {:?}: send `rubric` (or `track`), `rep` and `file`",
                    other.chars().take(40).collect::<String>()
                )))
            }
            None => return Err(ApiError::invalid("every form field needs a name")),
        }
    }
    let upload =
        upload.ok_or_else(|| ApiError::invalid("missing form field `file` (the recording)"))?;
    let rep_id = caller.submitting_rep(rep.as_deref())?;
    let rubric = state.intake.resolve_rubric(&rep_id, rubric, track).await?;
    let created = state
        .intake
        .submit(&rep_id, &rubric, upload, idempotency_key)
        .await?;
    Ok(accepted(created))
}

/// An `Idempotency-Key` header, checked by intake's rule.
pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    // A header that is not text cannot be a valid key: intake refuses it as
    // it refuses an empty one.
    Ok(Some(intake::idempotency_key(value.to_str().unwrap_or(""))?))
}

/// 202 with a `Location` for a new submission; 200 for an idempotent replay.
pub(super) fn accepted(created: crate::store::db::Created) -> Response {
    let status = if created.created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    let location = format!("/v1/submissions/{}", created.submission.id);
    let mut response = (
        status,
        Json(SubmissionResponse::from_submission(created.submission)),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    if !created.created {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// A submission: status, and its grade with criteria and evidence once graded.
#[utoipa::path(
    get,
    path = "/v1/submissions/{id}",
    tag = "submissions",
    params(("id" = Uuid, Path, description = "Submission id")),
    responses(
        (status = 200, description = "The submission", body = SubmissionResponse),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 404, description = "No such submission (or not yours)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get_one(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<SubmissionResponse>, ApiError> {
    let view = visible(&state, &caller, id).await?;
    Ok(Json(SubmissionResponse::from_view(view)))
}

/// Submission `id` if `caller` may read it. Another rep's (or another
/// firm's) submission answers exactly like a missing one, so ids cannot be
/// probed; the firm check runs before anything of the submission is read.
async fn visible(
    state: &ApiState,
    caller: &Caller,
    id: Uuid,
) -> Result<crate::store::db::SubmissionView, ApiError> {
    tracing::Span::current().record("submission_id", tracing::field::display(id));
    let repo = state.parts.repo.as_ref();
    let not_found = || ApiError::not_found(format!("submission {id} not found"));
    if !caller.may_read_submission(repo, id).await? {
        return Err(not_found());
    }
    match repo.get_submission(id).await? {
        Some(v) if caller.can_read(&v.submission.rep_id) => Ok(v),
        _ => Err(not_found()),
    }
}

/// A submission's audit trail in order, in sentences: received, graded,
/// sent to review, claimed, overridden, decided, certified, rights. The rep
/// sees their own without reviewers' names or claims.
#[utoipa::path(
    get,
    path = "/v1/submissions/{id}/audit",
    tag = "submissions",
    params(("id" = Uuid, Path, description = "Submission id")),
    responses(
        (status = 200, description = "The trail, oldest first", body = Vec<TrailLine>),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 404, description = "No such submission (or not yours)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn audit(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Vec<TrailLine>>, ApiError> {
    let view = visible(&state, &caller, id).await?;
    let audience = Audience::of(caller.role == Role::Rep);
    Ok(Json(
        audit_trail::build(state.parts.repo.as_ref(), &view, audience).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// At most this many, newest first (default 50, at most 500).
    limit: Option<u32>,
}

/// A rep's submissions, newest first.
#[utoipa::path(
    get,
    path = "/v1/reps/{rep}/submissions",
    tag = "submissions",
    params(("rep" = String, Path, description = "Rep id"), ListQuery),
    responses(
        (status = 200, description = "The rep's submissions", body = SubmissionList),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "A rep token listing another rep", body = ErrorBody),
        (status = 404, description = "A partner admin asking about a rep outside its firm", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list_for_rep(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(rep): ApiPath<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<SubmissionList>, ApiError> {
    if !caller.can_read(&rep) {
        return Err(ApiError::forbidden(
            "a rep token can only list its own submissions",
        ));
    }
    caller.may_read_rep(state.parts.repo.as_ref(), &rep).await?;
    let limit = query
        .limit
        .unwrap_or(50)
        .clamp(1, crate::store::db::MAX_PAGE);
    let submissions = state
        .parts
        .repo
        .list_submissions(&rep, limit)
        .await?
        .into_iter()
        .map(SubmissionResponse::from_submission)
        .collect();
    Ok(Json(SubmissionList {
        rep_id: rep,
        submissions,
    }))
}
