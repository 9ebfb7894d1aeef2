//! Token management over HTTP (admins only): create one (the secret is in the
//! response, once) and revoke one.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::{self, Caller, Role};
use super::error::{ApiError, ErrorBody};
use super::{ApiJson, ApiPath, ApiState};
use crate::store::db::tokens::NewToken;
use crate::store::Repo;

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenRequest {
    pub role: Role,
    /// Required for (and only for) `rep` tokens.
    pub rep: Option<String>,
    /// The partner firm the token is confined to: required for
    /// `partner_admin`, optional for `reviewer` (a partner-side reviewer sees
    /// that firm's reviews only), refused for the other roles.
    #[serde(default)]
    pub firm: Option<String>,
    /// A note for operators ("alice's laptop").
    pub label: Option<String>,
    /// The person the token acts as ("Rita"): audit trails say
    /// "Rita (reviewer)" instead of a token id.
    #[serde(default)]
    pub name: Option<String>,
    /// How long the token works: `90d`, `12h`, or `never`. New tokens expire
    /// after [`DEFAULT_TOKEN_LIFETIME_DAYS`] days unless told otherwise.
    #[serde(default)]
    pub expires_in: Option<String>,
}

/// A leaked token stops working on its own, at the latest after this.
pub const DEFAULT_TOKEN_LIFETIME_DAYS: i64 = 90;
/// Ten years: past this "never" says it better.
const MAX_TOKEN_LIFETIME_DAYS: i64 = 3650;

/// Reads a token lifetime: `<n>d` (days), `<n>h` (hours) or `never` (`None`).
pub fn parse_lifetime(text: &str) -> Result<Option<TimeDelta>, ApiError> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    let refuse = || {
        ApiError::invalid(format!(
            "a token lifetime is like 90d or 12h (at most {MAX_TOKEN_LIFETIME_DAYS} days), or never; \
             not {text:?}"
        ))
    };
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: i64 = number.parse().map_err(|_| refuse())?;
    let lifetime = match unit {
        "d" => TimeDelta::try_days(n),
        "h" => TimeDelta::try_hours(n),
        _ => None,
    }
    .ok_or_else(refuse)?;
    if lifetime <= TimeDelta::zero() || lifetime > TimeDelta::days(MAX_TOKEN_LIFETIME_DAYS) {
        return Err(refuse());
    }
    Ok(Some(lifetime))
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IssuedToken {
    pub id: Uuid,
    /// The secret. Shown once: only its hash is stored.
    pub token: String,
    pub role: Role,
    pub rep_id: Option<String>,
    /// The firm the token is confined to, if any.
    pub firm_id: Option<String>,
    pub label: String,
    /// The person it acts as; empty when none was given.
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// When the token stops working; absent for a token that never expires.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Creates a token and stores only its hash; used by this route and by
/// `pitchgrade token create`.
pub async fn issue(repo: &dyn Repo, request: &TokenRequest) -> Result<IssuedToken, ApiError> {
    let rep_id = request
        .rep
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    if let Some(rep) = rep_id {
        auth::check_rep_id(rep)?;
    }
    let firm_id = request
        .firm
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty());
    if let Some(firm) = firm_id {
        // A token bound to a firm nobody registered would see nothing, and
        // silently: say so now.
        if repo.get_firm(firm).await?.is_none() {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_firm",
                format!("no firm {firm:?}; create it with PUT /v1/firms/{{id}} first"),
            ));
        }
    }
    let label = request.label.clone().unwrap_or_default();
    if label.chars().count() > 200 {
        return Err(ApiError::invalid("a label is at most 200 characters"));
    }
    let display_name = request
        .name
        .as_deref()
        .unwrap_or_default()
        .trim()
        .to_string();
    // Shown to others on pages and in the audit trail: short, one line.
    if display_name.chars().count() > 80 || display_name.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "a name is one line of at most 80 characters",
        ));
    }
    let lifetime = match request.expires_in.as_deref() {
        Some(text) => parse_lifetime(text)?,
        None => Some(TimeDelta::days(DEFAULT_TOKEN_LIFETIME_DAYS)),
    };
    let now = Utc::now();
    let token = auth::new_token().map_err(ApiError::internal)?;
    let stored = repo
        .create_token(
            &NewToken {
                token_hash: auth::hash_token(&token),
                role: request.role,
                rep_id: rep_id.map(str::to_string),
                firm_id: firm_id.map(str::to_string),
                label,
                display_name,
                expires_at: lifetime.and_then(|l| now.checked_add_signed(l)),
            },
            now,
        )
        .await?;
    Ok(IssuedToken {
        id: stored.id,
        token,
        role: stored.role,
        rep_id: stored.rep_id,
        firm_id: stored.firm_id,
        label: stored.label,
        name: stored.display_name,
        created_at: stored.created_at,
        expires_at: stored.expires_at,
    })
}

/// Creates an API token (admin).
#[utoipa::path(
    post,
    path = "/v1/tokens",
    tag = "tokens",
    request_body = TokenRequest,
    responses(
        (status = 201, description = "The new token; its secret is not shown again", body = IssuedToken),
        (status = 400, description = "A rep token without a rep, a partner_admin token without a firm, another role with one, or a malformed lifetime", body = ErrorBody),
        (status = 422, description = "The firm named does not exist", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(request): ApiJson<TokenRequest>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Admin], "creating tokens")?;
    let issued = issue(state.parts.repo.as_ref(), &request).await?;
    tracing::info!(token_id = %issued.id, role = %issued.role, "token created");
    Ok((StatusCode::CREATED, Json(issued)).into_response())
}

/// Revokes an API token (admin).
#[utoipa::path(
    delete,
    path = "/v1/tokens/{id}",
    tag = "tokens",
    params(("id" = Uuid, Path, description = "Token id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No live token with this id", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn revoke(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    caller.require(&[Role::Admin], "revoking tokens")?;
    if state.parts.repo.revoke_token(id, Utc::now()).await? {
        tracing::info!(token_id = %id, "token revoked");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no live token {id}")))
    }
}
