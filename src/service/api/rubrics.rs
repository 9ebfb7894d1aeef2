//! The exact text behind a grade: every rubric version graded with stays
//! readable after its file moves on (see `rubric::history`).

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use super::auth::{Caller, Role};
use super::error::ErrorBody;
use super::{ApiError, ApiPath, ApiState};

/// One rubric version as first graded with.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RubricVersionBody {
    pub rubric_id: String,
    pub version: u32,
    /// sha256 of the file's bytes, as every grade made with it names.
    pub sha256: String,
    /// When the first grade was made with it (RFC 3339).
    pub first_used_at: String,
    /// The rubric file's text (TOML).
    pub text: String,
}

#[utoipa::path(
    get,
    path = "/v1/rubrics/{id}/versions/{version}",
    tag = "rubrics",
    params(
        ("id" = String, Path, description = "Rubric id"),
        ("version" = u32, Path, description = "Rubric version"),
    ),
    responses(
        (status = 200, description = "The text the version was graded with", body = RubricVersionBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "A rep token", body = ErrorBody),
        (status = 404, description = "No grade was ever made with this version", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn version(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((id, version)): ApiPath<(String, u32)>,
) -> Result<Json<RubricVersionBody>, ApiError> {
    caller.require(
        &[Role::Reviewer, Role::Enablement, Role::Admin],
        "reading rubric history",
    )?;
    let stored = state
        .parts
        .repo
        .rubric_version(&id, version)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no grade was made with rubric {id:?} version {version}"
            ))
        })?;
    Ok(Json(RubricVersionBody {
        rubric_id: stored.rubric_id,
        version: stored.version,
        sha256: stored.sha256,
        first_used_at: stored.first_used_at.to_rfc3339(),
        text: stored.body,
    }))
}
