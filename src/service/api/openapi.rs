//! The OpenAPI 3.1 document at `/openapi.json`, derived from the handlers'
//! annotations. Every route of [`super::ROUTES`] must appear here: the API
//! tests compare the two, so a route added without its annotation fails them.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{certification, error, health, privacy, rubrics, submissions, tokens, uploads, views};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "pitchgrade",
        description = "Grades recorded sales pitches against enablement rubrics. \
            Authenticate with `Authorization: Bearer <token>`; roles: rep (own submissions only), \
            reviewer, enablement (read all), admin (everything, tokens).",
    ),
    paths(
        submissions::create,
        submissions::get_one,
        submissions::audit,
        submissions::list_for_rep,
        uploads::presign,
        uploads::complete,
        uploads::s3_event,
        tokens::create,
        tokens::revoke,
        certification::put_rep,
        privacy::erase,
        certification::rights,
        certification::retake_check,
        certification::put_firm,
        certification::firm_standing,
        certification::review_queue,
        certification::claim,
        certification::decide,
        certification::report,
        rubrics::version,
        health::healthz,
        health::readyz,
        health::metrics,
        document,
    ),
    components(schemas(
        error::ErrorBody,
        error::ErrorDetail,
        views::Status,
        views::SubmissionResponse,
        views::SubmissionList,
        crate::certify::audit_trail::TrailLine,
        uploads::UploadRequest,
        uploads::UploadTicket,
        uploads::S3Event,
        uploads::S3EventResult,
        tokens::TokenRequest,
        tokens::IssuedToken,
        health::Health,
        rubrics::RubricVersionBody,
        certification::RepBody,
        certification::FirmBody,
        certification::ClaimBody,
        crate::certify::review::ReviewInput,
        crate::certify::review::CriterionInput,
        crate::certify::review::ReviewOutcome,
        crate::privacy::Erasure,
        crate::store::db::Tombstone,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "submissions", description = "Upload recordings and read their grades"),
        (name = "uploads", description = "Direct (presigned) uploads to S3"),
        (name = "tokens", description = "API tokens (admin)"),
        (name = "certification", description = "Reps, firms, rights, retakes and program reports"),
        (name = "reviews", description = "Human review of borderline grades"),
        (name = "rubrics", description = "The exact rubric text each version was graded with"),
        (name = "operations", description = "Health, readiness, metrics, this document"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
