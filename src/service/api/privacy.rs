//! Erasure over HTTP: `DELETE /v1/reps/{rep}` (admins), the same erasure as
//! `pitchgrade rep erase` (`crate::privacy::erasure`).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;

use super::auth::{check_rep_id, Caller, Role};
use super::error::{ApiError, ErrorBody};
use super::{ApiPath, ApiState};
use crate::privacy::{self, PrivacyError, RetentionPolicy};

impl From<PrivacyError> for ApiError {
    fn from(e: PrivacyError) -> ApiError {
        match e {
            PrivacyError::NoSuchRep(_) => ApiError::not_found(e.to_string()),
            PrivacyError::Store(e) => ApiError::from(e),
            other => ApiError::internal(other),
        }
    }
}

/// Erases a rep: every recording and transcript, and their id in every row
/// (replaced by a pseudonym, so reports still add up).
#[utoipa::path(
    delete,
    path = "/v1/reps/{rep}",
    tag = "certification",
    params(("rep" = String, Path, description = "Rep id")),
    responses(
        (status = 200, description = "What was deleted, and the pseudonym the rep's rows carry now", body = crate::privacy::Erasure),
        (status = 400, description = "A malformed rep id", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such rep (or erased already)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn erase(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(rep): ApiPath<String>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Admin], "erasing a rep")?;
    check_rep_id(&rep)?;
    let policy = state
        .config
        .program
        .as_ref()
        .map(|p| p.retention.clone())
        .unwrap_or_else(RetentionPolicy::default);
    let actor = match caller.token_id {
        Some(id) => format!("erasure:admin:{id}"),
        None => "erasure:bootstrap-admin".to_string(),
    };
    let done = privacy::erase_rep(
        state.parts.repo.as_ref(),
        state.parts.objects.as_ref(),
        &policy,
        &rep,
        &actor,
        Utc::now(),
    )
    .await?;
    Ok(Json(done).into_response())
}
