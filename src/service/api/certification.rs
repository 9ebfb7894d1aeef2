//! Certification over HTTP: the review queue, gating ("can this rep sell?"),
//! firms and reps, retake checks and the program report.
//!
//! The rules live in `crate::certify`; these handlers only authenticate, map
//! errors to status codes and serialise. Without a program file the service
//! grades but certifies nothing, and these routes answer 503 saying so.
//!
//! | method | path | who |
//! |---|---|---|
//! | GET | `/v1/reps/{rep}/rights` | that rep, its firm's partner admin, reviewer, enablement, admin |
//! | GET | `/v1/reps/{rep}/retake?track=` | that rep, its firm's partner admin, reviewer, enablement, admin |
//! | PUT | `/v1/reps/{rep}` (firm, role, active) | its firm's partner admin, enablement, admin |
//! | PUT | `/v1/firms/{firm}` (name, segment) | enablement, admin |
//! | GET | `/v1/firms/{firm}/standing` | the firm's partner admin, enablement, admin |
//! | GET | `/v1/reviews` | reviewer, enablement, admin |
//! | POST | `/v1/reviews/claim` (optional id) | reviewer, admin |
//! | POST | `/v1/reviews/{id}/decision` | the reviewer holding the claim |
//! | GET | `/v1/reports` (`?format=csv`, `?firm=`) | partner admin (its firm, forced), enablement, admin |
//!
//! A caller confined to a firm (a partner admin; a reviewer whose token is
//! bound to a firm) gets 404 for anything of another firm's, and its lists
//! are filtered in the repository's queries.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use uuid::Uuid;

use super::auth::{check_rep_id, Caller, Role};
use super::error::{ApiError, ErrorBody};
use super::{ApiJson, ApiPath, ApiQuery, ApiState};
use crate::certify::reports::{self, ReportOptions};
use crate::certify::review::{self, ReviewInput};
use crate::certify::{gating, retake, roster, CertifyError, Program};
use crate::store::db::certification::{NewFirm, NewRep};

const READERS: &[Role] = &[Role::Reviewer, Role::Enablement, Role::Admin];
const PROGRAM_ADMINS: &[Role] = &[Role::Enablement, Role::Admin];
/// Who may keep a roster and read a firm's standing and report: the program's
/// admins for every firm, a partner admin for its own.
const FIRM_ADMINS: &[Role] = &[Role::PartnerAdmin, Role::Enablement, Role::Admin];
const REVIEWERS: &[Role] = &[Role::Reviewer, Role::Admin];

fn program(state: &ApiState) -> Result<Arc<Program>, ApiError> {
    state.config.program.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_program",
            "this server has no certification program configured (PITCHGRADE_PROGRAM)",
        )
    })
}

impl From<CertifyError> for ApiError {
    fn from(e: CertifyError) -> ApiError {
        match e {
            CertifyError::Store(e) => ApiError::from(e),
            CertifyError::SubmissionNotFound(_)
            | CertifyError::ReviewNotFound(_)
            | CertifyError::UnknownTrack(_) => ApiError::not_found(e.to_string()),
            CertifyError::NotGraded(_)
            | CertifyError::ReviewAlreadyDecided(_)
            | CertifyError::NotClaimed { .. }
            | CertifyError::Contention(_) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            CertifyError::InvalidReview(_)
            | CertifyError::UnknownRole { .. }
            | CertifyError::Invalid(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request",
                e.to_string(),
            ),
        }
    }
}

/// 404 for a firm a caller confined to another firm asks about, exactly as
/// for a firm that does not exist.
fn may_read_firm(caller: &Caller, firm: &str) -> Result<(), ApiError> {
    match caller.firm() {
        Some(own) if own != firm => Err(ApiError::not_found(format!("no firm {firm:?}"))),
        _ => Ok(()),
    }
}

/// The rep's rights right now, with the certifications behind them.
#[utoipa::path(
    get,
    path = "/v1/reps/{rep}/rights",
    tag = "certification",
    params(("rep" = String, Path, description = "Rep id")),
    responses(
        (status = 200, description = "The rep's rights and the certifications behind them", content_type = "application/json"),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "A rep token asking about another rep", body = ErrorBody),
        (status = 503, description = "No certification program is configured", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn rights(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(rep): ApiPath<String>,
) -> Result<Response, ApiError> {
    caller.may_read_rep(state.parts.repo.as_ref(), &rep).await?;
    let program = program(&state)?;
    let rights = gating::rights_of(state.parts.repo.as_ref(), &program, &rep, Utc::now()).await?;
    Ok(Json(rights).into_response())
}

#[derive(Debug, Deserialize)]
pub struct RetakeQuery {
    pub track: String,
}

/// Whether the rep may submit for a track now, and if not, from when.
#[utoipa::path(
    get,
    path = "/v1/reps/{rep}/retake",
    tag = "certification",
    params(
        ("rep" = String, Path, description = "Rep id"),
        ("track" = String, Query, description = "The track to check"),
    ),
    responses(
        (status = 200, description = "Whether the rep may submit now, and if not from when", content_type = "application/json"),
        (status = 400, description = "No track given", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "A rep token asking about another rep", body = ErrorBody),
        (status = 404, description = "Unknown track", body = ErrorBody),
        (status = 503, description = "No certification program is configured", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn retake_check(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(rep): ApiPath<String>,
    ApiQuery(q): ApiQuery<RetakeQuery>,
) -> Result<Response, ApiError> {
    caller.may_read_rep(state.parts.repo.as_ref(), &rep).await?;
    let program = program(&state)?;
    let check = retake::check(
        state.parts.repo.as_ref(),
        &program,
        &rep,
        &q.track,
        Utc::now(),
    )
    .await?;
    Ok(Json(check).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RepBody {
    pub firm: String,
    pub role: String,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

#[utoipa::path(
    put,
    path = "/v1/reps/{rep}",
    tag = "certification",
    params(("rep" = String, Path, description = "Rep id")),
    request_body = RepBody,
    responses(
        (status = 200, description = "The rep as stored", content_type = "application/json"),
        (status = 400, description = "A malformed rep id or body", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Not an enablement, admin or partner admin token, or a partner admin naming another firm", body = ErrorBody),
        (status = 404, description = "A partner admin naming a rep of another firm", body = ErrorBody),
        (status = 422, description = "Unknown role or firm", body = ErrorBody),
        (status = 503, description = "No certification program is configured", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
/// Creates or updates a rep (enablement keeps the roster in sync with the
/// partner portal; a partner admin adds and deactivates its own firm's reps,
/// the roster its coverage is computed on).
pub async fn put_rep(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(rep): ApiPath<String>,
    ApiJson(body): ApiJson<RepBody>,
) -> Result<Response, ApiError> {
    caller.require(FIRM_ADMINS, "changing the roster")?;
    check_rep_id(&rep)?;
    if let Some(own) = caller.firm() {
        if body.firm != own {
            return Err(ApiError::forbidden(format!(
                "a partner admin keeps the roster of its own firm ({own:?}) only"
            )));
        }
        // An id already on another firm's roster is not this firm's to take
        // over; answered as for any rep outside the firm.
        match state.parts.repo.get_rep(&rep).await? {
            Some(existing) if existing.firm_id != own => {
                return Err(ApiError::not_found(format!(
                    "no rep {rep:?} in firm {own:?}"
                )))
            }
            _ => {}
        }
    }
    let program = program(&state)?;
    if !program.roles().contains(body.role.as_str()) {
        return Err(CertifyError::UnknownRole {
            role: body.role,
            known: program.roles().into_iter().collect::<Vec<_>>().join(", "),
        }
        .into());
    }
    let repo = state.parts.repo.as_ref();
    if repo.get_firm(&body.firm).await?.is_none() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_firm",
            format!(
                "no firm {:?}; create it with PUT /v1/firms/{{id}} first",
                body.firm
            ),
        ));
    }
    let saved = repo
        .upsert_rep(
            &NewRep {
                id: rep,
                firm_id: body.firm,
                role: body.role,
                active: body.active,
            },
            Utc::now(),
        )
        .await?;
    Ok(Json(saved).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct FirmBody {
    pub name: String,
    #[serde(default)]
    pub segment: Option<String>,
}

/// Creates or updates a partner firm.
#[utoipa::path(
    put,
    path = "/v1/firms/{firm}",
    tag = "certification",
    params(("firm" = String, Path, description = "Firm id")),
    request_body = FirmBody,
    responses(
        (status = 200, description = "The firm as stored; `warnings` names a segment no adaptive path knows", content_type = "application/json"),
        (status = 400, description = "A malformed firm id or body", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Not an enablement or admin token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn put_firm(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(firm): ApiPath<String>,
    ApiJson(body): ApiJson<FirmBody>,
) -> Result<Response, ApiError> {
    caller.require(PROGRAM_ADMINS, "changing the roster")?;
    if !roster::is_valid_id(&firm) {
        return Err(ApiError::invalid(format!(
            "a firm id is {}",
            roster::ID_RULE
        )));
    }
    // A clear 400 rather than storing whatever fits in the body limit.
    roster::check_name("a firm's name", &body.name)
        .and_then(|()| match &body.segment {
            Some(segment) => roster::check_name("a firm's segment", segment),
            None => Ok(()),
        })
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    // A segment no adaptive path names is probably a typo ("mps" for
    // "msp"): stored as given, but said, since the firm's reps would get the
    // default scenario without anyone noticing.
    let warning = match (&body.segment, state.config.program.as_deref()) {
        (Some(segment), Some(program)) => {
            let known = program.segments();
            (!known.contains(segment.as_str())).then(|| {
                let known: Vec<&str> = known.into_iter().collect();
                format!(
                    "segment {segment:?} is not one the program's adaptive paths name ({}): \
                     this firm's reps get each track's default scenario",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )
            })
        }
        _ => None,
    };
    let saved = state
        .parts
        .repo
        .upsert_firm(
            &NewFirm {
                id: firm,
                name: body.name,
                segment: body.segment,
            },
            Utc::now(),
        )
        .await?;
    let mut answer = serde_json::to_value(&saved).map_err(ApiError::internal)?;
    if let (Some(warning), Some(obj)) = (warning, answer.as_object_mut()) {
        obj.insert("warnings".into(), serde_json::json!([warning]));
    }
    Ok(Json(answer).into_response())
}

/// A firm's tier and certified coverage per role, against the tier rules.
#[utoipa::path(
    get,
    path = "/v1/firms/{firm}/standing",
    tag = "certification",
    params(("firm" = String, Path, description = "Firm id")),
    responses(
        (status = 200, description = "The firm's tier and certified coverage per role", content_type = "application/json"),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Not an enablement, admin or partner admin token", body = ErrorBody),
        (status = 404, description = "No such firm (or another firm, for a partner admin)", body = ErrorBody),
        (status = 503, description = "No certification program is configured", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn firm_standing(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(firm): ApiPath<String>,
) -> Result<Response, ApiError> {
    caller.require(FIRM_ADMINS, "reading a firm's standing")?;
    may_read_firm(&caller, &firm)?;
    let program = program(&state)?;
    let repo = state.parts.repo.as_ref();
    if repo.get_firm(&firm).await?.is_none() {
        return Err(ApiError::not_found(format!("no firm {firm:?}")));
    }
    let standing = gating::firm_standing(repo, &program, &firm, Utc::now()).await?;
    Ok(Json(standing).into_response())
}

/// Borderline grades waiting for a reviewer, oldest first.
#[utoipa::path(
    get,
    path = "/v1/reviews",
    tag = "reviews",
    responses(
        (status = 200, description = "Reviews waiting, oldest first", content_type = "application/json"),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Not a reviewer, enablement or admin token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn review_queue(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.require(READERS, "reading the review queue")?;
    let queue = review::queue(state.parts.repo.as_ref(), 200, caller.firm()).await?;
    Ok(Json(queue).into_response())
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ClaimBody {
    /// A particular review; the oldest free one when absent.
    #[serde(default)]
    pub id: Option<Uuid>,
}

/// The name a reviewer's claims and decisions are recorded under; the web
/// pages use it too, so a claim made in one is honoured by the other.
pub fn reviewer_name(caller: &Caller) -> String {
    match caller.token_id {
        Some(id) => format!("{}:{id}", caller.role),
        None => "bootstrap-admin".to_string(),
    }
}

/// Claims a review so two reviewers never decide the same grade.
#[utoipa::path(
    post,
    path = "/v1/reviews/claim",
    tag = "reviews",
    request_body(content = ClaimBody, description = "Optional: a particular review; an empty body claims the oldest free one"),
    responses(
        (status = 200, description = "The claimed review", content_type = "application/json"),
        (status = 204, description = "Nothing free to claim"),
        (status = 400, description = "A malformed body", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Not a reviewer or admin token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn claim(
    State(state): State<ApiState>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    caller.require(REVIEWERS, "claiming a review")?;
    // The body is optional: empty claims the oldest free review.
    let id = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<ClaimBody>(&body)
            .map_err(|e| ApiError::invalid(format!("claim body: {e}")))?
            .id
    };
    match review::claim(
        state.parts.repo.as_ref(),
        &reviewer_name(&caller),
        id,
        caller.firm(),
        Utc::now(),
    )
    .await?
    {
        Some(r) => Ok(Json(r).into_response()),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// The reviewer's decision (overall and/or per criterion) with a required reason.
#[utoipa::path(
    post,
    path = "/v1/reviews/{id}/decision",
    tag = "reviews",
    params(("id" = Uuid, Path, description = "Review id")),
    request_body = ReviewInput,
    responses(
        (status = 200, description = "The decision as applied (certification, rights)", content_type = "application/json"),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Not a reviewer or admin token", body = ErrorBody),
        (status = 404, description = "No such review", body = ErrorBody),
        (status = 409, description = "Already decided, or not claimed by this reviewer", body = ErrorBody),
        (status = 422, description = "No reason, or an unknown criterion", body = ErrorBody),
        (status = 503, description = "No certification program is configured", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn decide(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<ReviewInput>,
) -> Result<Response, ApiError> {
    caller.require(REVIEWERS, "deciding a review")?;
    if caller.firm().is_some() {
        let rep = state.parts.repo.get_review(id).await?.map(|r| r.rep_id);
        let inside = match rep {
            Some(rep) => caller
                .may_read_rep(state.parts.repo.as_ref(), &rep)
                .await
                .is_ok(),
            None => false,
        };
        if !inside {
            return Err(CertifyError::ReviewNotFound(id).into());
        }
    }
    let program = program(&state)?;
    let applied = review::decide(
        state.parts.repo.as_ref(),
        &program,
        id,
        &reviewer_name(&caller),
        &input,
        Utc::now(),
    )
    .await?;
    Ok(Json(applied).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct ReportQuery {
    #[serde(default)]
    pub format: Option<String>,
    /// One firm's report. A partner admin always gets its own firm's.
    #[serde(default)]
    pub firm: Option<String>,
}

/// Program health: pass rates, coverage, reviewer agreement, tier forecast.
#[utoipa::path(
    get,
    path = "/v1/reports",
    tag = "certification",
    params(
        ("format" = Option<String>, Query, description = "`csv` for a spreadsheet; JSON otherwise"),
        ("firm" = Option<String>, Query, description = "One partner firm's figures only; a partner admin always gets its own firm's"),
    ),
    responses(
        (status = 200, description = "Pass rates, coverage, reviewer agreement, tier forecast (as `text/csv` with `?format=csv`)", content_type = "application/json"),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Not an enablement, admin or partner admin token", body = ErrorBody),
        (status = 404, description = "No such firm (or another firm, for a partner admin)", body = ErrorBody),
        (status = 503, description = "No certification program is configured", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn report(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> Result<Response, ApiError> {
    caller.require(FIRM_ADMINS, "reading program reports")?;
    let firm = match (caller.firm(), q.firm) {
        (Some(own), Some(asked)) if asked != own => {
            return Err(ApiError::not_found(format!("no firm {asked:?}")))
        }
        (Some(own), _) => Some(own.to_string()),
        (None, asked) => asked,
    };
    let program = program(&state)?;
    if let Some(firm) = &firm {
        if state.parts.repo.get_firm(firm).await?.is_none() {
            return Err(ApiError::not_found(format!("no firm {firm:?}")));
        }
    }
    let report = reports::build(
        state.parts.repo.as_ref(),
        &program,
        Utc::now(),
        &ReportOptions {
            firm,
            ..ReportOptions::default()
        },
    )
    .await?;
    if q.format.as_deref() == Some("csv") {
        return Ok((
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            reports::to_csv(&report),
        )
            .into_response());
    }
    Ok(Json(report).into_response())
}
