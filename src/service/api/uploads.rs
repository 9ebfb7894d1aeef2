//! Direct uploads: the client asks for a presigned PUT URL, sends the bytes
//! straight to S3 (large recordings never pass through the API), then
//! completes the upload — or S3 itself reports the new object through an
//! event notification. Completing sniffs the stored object's first bytes and
//! checks its size before the submission is queued.
//!
//! A presigned PUT cannot cap the size it accepts, so the size limit is
//! enforced at completion: an object over the limit is deleted and refused.
//! On the local object store there is nothing to presign: `POST /v1/uploads`
//! answers 501 and points to the multipart upload, which works everywhere.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::{self, Caller, Role};
use super::error::{ApiError, ErrorBody};
use super::submissions::{accepted, idempotency_key};
use super::views::SubmissionResponse;
use super::{ApiJson, ApiPath, ApiState};
use crate::store::db::uploads::NewUpload;
use crate::store::{ObjectError, ObjectKey};

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UploadRequest {
    /// Id of an installed rubric.
    pub rubric: String,
    /// The rep the recording is for (a rep token may omit it).
    pub rep: Option<String>,
    /// The Content-Type the client will PUT with; it is part of the signature.
    /// Default `application/octet-stream`. The stored format is sniffed anyway.
    pub content_type: Option<String>,
}

/// Where and how to send the recording, and how to finish.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UploadTicket {
    pub upload_id: Uuid,
    /// Always `PUT`.
    pub method: String,
    /// The presigned URL; send the file's bytes as the request body.
    pub url: String,
    /// Headers the PUT must carry exactly (they are signed).
    pub headers: BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
    /// Larger objects are refused at completion.
    pub max_bytes: u64,
    /// `POST` here (no body) once the PUT succeeded.
    pub complete_url: String,
}

/// Starts a direct upload: a presigned PUT URL for the recording.
#[utoipa::path(
    post,
    path = "/v1/uploads",
    tag = "uploads",
    request_body = UploadRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Applied when the upload is completed: the same key (per rep) yields one submission")),
    responses(
        (status = 201, description = "Upload URL issued", body = UploadTicket),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "The token may not submit for this rep", body = ErrorBody),
        (status = 422, description = "Unknown rubric", body = ErrorBody),
        (status = 501, description = "The object store cannot presign (local disk): use POST /v1/submissions", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn presign(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(request): ApiJson<UploadRequest>,
) -> Result<Response, ApiError> {
    let idempotency_key = idempotency_key(&headers)?;
    let rep_id = caller.submitting_rep(request.rep.as_deref())?;
    state.intake.check_rubric(&request.rubric)?;
    let content_type = request
        .content_type
        .as_deref()
        .map(str::trim)
        .unwrap_or("application/octet-stream");
    let plain = content_type.len() <= 100
        && content_type
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/.+-;= ".contains(&b));
    if content_type.is_empty() || !plain {
        return Err(ApiError::invalid("content_type is not a plain media type"));
    }

    let now = Utc::now();
    let key = ObjectKey::new_upload(now);
    let expiry = state.config.presign_expiry;
    let url = match state
        .parts
        .objects
        .presign_put(&key, content_type, expiry)
        .await
    {
        Ok(url) => url,
        Err(ObjectError::Unsupported(_)) => {
            return Err(ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                "presign_unsupported",
                "direct upload needs an S3 object store and this server keeps recordings on \
                 local disk: upload the file with POST /v1/submissions (multipart) instead",
            ))
        }
        Err(e) => return Err(e.into()),
    };
    let expires_at = now + chrono::Duration::from_std(expiry).unwrap_or(chrono::Duration::hours(1));
    let upload = state
        .parts
        .repo
        .create_upload(
            &NewUpload {
                rep_id,
                rubric_id: request.rubric,
                object_key: key.to_string(),
                idempotency_key,
                expires_at,
            },
            now,
        )
        .await?;
    let ticket = UploadTicket {
        upload_id: upload.id,
        method: "PUT".into(),
        url: url.to_string(),
        headers: BTreeMap::from([("Content-Type".to_string(), content_type.to_string())]),
        expires_at,
        max_bytes: state.config.max_upload_bytes,
        complete_url: format!("/v1/uploads/{}/complete", upload.id),
    };
    Ok((StatusCode::CREATED, Json(ticket)).into_response())
}

/// Finishes a direct upload: checks the stored object and queues it.
#[utoipa::path(
    post,
    path = "/v1/uploads/{id}/complete",
    tag = "uploads",
    params(("id" = Uuid, Path, description = "The upload id from POST /v1/uploads")),
    responses(
        (status = 202, description = "Queued for grading", body = SubmissionResponse),
        (status = 200, description = "Already completed (or an idempotent replay)", body = SubmissionResponse),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 404, description = "No such upload (or not yours)", body = ErrorBody),
        (status = 409, description = "Nothing has been uploaded to the URL yet", body = ErrorBody),
        (status = 413, description = "Larger than the upload limit (the object was deleted)", body = ErrorBody),
        (status = 415, description = "Not an audio recording we can read (the object was deleted)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn complete(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Rep, Role::Admin], "completing an upload")?;
    let upload = match state.parts.repo.get_upload(id).await? {
        Some(u) if caller.can_read(&u.rep_id) => u,
        _ => return Err(ApiError::not_found(format!("upload {id} not found"))),
    };
    Ok(accepted(state.intake.complete_upload(&upload).await?))
}

/// An S3 event notification, as AWS (via SNS/EventBridge forwarding) and
/// MinIO's webhook target send it; only the fields used here.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct S3Event {
    #[serde(rename = "Records", default)]
    pub records: Vec<S3Record>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct S3Record {
    /// e.g. `s3:ObjectCreated:Put` (MinIO) or `ObjectCreated:Put` (AWS).
    #[serde(rename = "eventName", default)]
    pub event_name: String,
    pub s3: S3Entity,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct S3Entity {
    pub object: S3Object,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct S3Object {
    /// URL-encoded object key, bucket prefix included.
    pub key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct S3EventResult {
    pub results: Vec<S3RecordResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct S3RecordResult {
    pub key: String,
    /// `queued`, `already_queued`, `rejected` (the file was refused; see
    /// `message`) or `ignored` (not an object-created event for a pending upload).
    pub outcome: String,
    pub submission_id: Option<Uuid>,
    pub message: Option<String>,
}

/// Completes direct uploads from S3 event notifications (point a MinIO
/// webhook or an AWS notification forwarder here).
///
/// Authorised by the events token (`PITCHGRADE_S3_EVENTS_TOKEN`, sent as a
/// bearer token: MinIO's `auth_token`) or an admin token. A refused file is
/// reported per record; a fault on our side fails the request so the sender
/// retries.
#[utoipa::path(
    post,
    path = "/v1/events/s3",
    tag = "uploads",
    request_body = S3Event,
    responses(
        (status = 200, description = "What each record did", body = S3EventResult),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Neither the events token nor an admin token", body = ErrorBody),
        (status = 503, description = "Database or store unavailable: retry", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn s3_event(
    State(state): State<ApiState>,
    headers: HeaderMap,
    ApiJson(event): ApiJson<S3Event>,
) -> Result<Json<S3EventResult>, ApiError> {
    let token = auth::bearer(&headers)?;
    let events_token = state.events_token_hash.as_deref() == Some(&*auth::hash_token(token));
    if !events_token {
        auth::caller_of(&state, token)
            .await?
            .require(&[Role::Admin], "posting S3 events")?;
    }
    let mut results = Vec::with_capacity(event.records.len());
    for record in event.records {
        results.push(handle_record(&state, record).await?);
    }
    Ok(Json(S3EventResult { results }))
}

async fn handle_record(state: &ApiState, record: S3Record) -> Result<S3RecordResult, ApiError> {
    let key = decode_key(&record.s3.object.key);
    let mut result = S3RecordResult {
        key: key.clone(),
        outcome: "ignored".into(),
        submission_id: None,
        message: None,
    };
    let created_event = record
        .event_name
        .trim_start_matches("s3:")
        .starts_with("ObjectCreated:");
    let upload = match upload_key(&key) {
        Some(ours) if created_event => state.parts.repo.find_upload_by_key(&ours).await?,
        _ => None,
    };
    let Some(upload) = upload else {
        return Ok(result);
    };
    if let Some(id) = upload.submission_id {
        result.outcome = "already_queued".into();
        result.submission_id = Some(id);
        return Ok(result);
    }
    match state
        .intake
        .complete_upload(&upload)
        .await
        .map_err(ApiError::from)
    {
        Ok(created) => {
            result.outcome = if created.created {
                "queued"
            } else {
                "already_queued"
            }
            .into();
            result.submission_id = Some(created.submission.id);
        }
        Err(e) if e.status.is_client_error() => {
            result.outcome = "rejected".into();
            result.message = Some(e.message);
        }
        Err(e) => return Err(e),
    }
    Ok(result)
}

/// S3 events form-encode keys (`%2F`, `+` for space).
fn decode_key(raw: &str) -> String {
    let pair = format!("k={raw}");
    url::form_urlencoded::parse(pair.as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Our part of an event's key: the bucket prefix is dropped, leaving
/// `uploads/yyyy/mm/id` — the only shape `ObjectKey::new_upload` makes.
fn upload_key(full: &str) -> Option<String> {
    let segments: Vec<&str> = full.split('/').collect();
    let tail = segments.get(segments.len().checked_sub(4)?..)?;
    if tail[0] != "uploads" {
        return None;
    }
    let key = tail.join("/");
    ObjectKey::parse(&key).ok().map(|k| k.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_keys_are_decoded_and_stripped_of_the_bucket_prefix() {
        let raw = "recordings%2Fprod%2Fuploads%2F2026%2F03%2F0195a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b";
        let key = decode_key(raw);
        assert_eq!(
            key,
            "recordings/prod/uploads/2026/03/0195a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"
        );
        assert_eq!(
            upload_key(&key).as_deref(),
            Some("uploads/2026/03/0195a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b")
        );
        assert_eq!(upload_key("uploads/x"), None);
        assert_eq!(upload_key("other/2026/03/abc"), None);
        assert_eq!(upload_key("a/uploads/2026/../abc"), None);
    }
}
