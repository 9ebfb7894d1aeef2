//! The rep's pages: their pitches, recording or uploading a new one, and the
//! result with its evidence, coaching, retake time and what it unlocked.

use askama::Template;
use axum::extract::{Multipart, Path, State};
use axum::http::header::ACCEPT;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use uuid::Uuid;

use crate::certify::audit_trail::{self, Audience, TrailLine};
use crate::rubric::LoadedRubric;
use crate::store::db::{Submission, SubmissionStatus};

use super::super::auth::{visible_submission, Principal, Role, Viewer};
use super::super::error::WebError;
use super::super::program::OutcomeView;
use super::super::view::{self, GradeView, Paragraph};
use super::super::WebState;
use super::{render, Chrome};

/// A row of the rep's list of pitches.
pub struct PitchRow {
    pub id: Uuid,
    pub rubric: String,
    pub when: String,
    /// The CSS class and what tests read: the final result once there is one
    /// (`pass`, `fail`), else the submission's status.
    pub status: &'static str,
    /// "Pass", "Not yet", "With a reviewer", "Grading"…
    pub status_label: &'static str,
    /// The machine's score, once graded.
    pub score: Option<String>,
}

/// A rubric a rep can record against.
pub struct RubricChoice {
    pub id: String,
    pub title: String,
    pub track: String,
}

#[derive(Template)]
#[template(path = "web/rep_index.html")]
pub struct RepIndex {
    pub chrome: Chrome,
    pub rubrics: Vec<RubricChoice>,
    pub pitches: Vec<PitchRow>,
}

pub async fn index(
    State(state): State<WebState>,
    Viewer(viewer): Viewer,
) -> Result<Response, WebError> {
    viewer.require(&[Role::Rep])?;
    let repo = state.parts.repo.as_ref();
    let submissions = repo.list_submissions(&viewer.id, 100).await?;
    // The result the rep lives with is the final decision (a reviewer's, for
    // a borderline grade): one query for all of them.
    let decisions: std::collections::HashMap<Uuid, crate::store::db::certification::CertDecision> =
        repo.list_decisions(Some(&viewer.id), None)
            .await?
            .into_iter()
            .map(|d| (d.submission_id, d))
            .collect();
    let mut pitches = Vec::with_capacity(submissions.len());
    for s in &submissions {
        let mut row = pitch_row(s, decisions.get(&s.id));
        // Graded but not decided (no program, or with a reviewer): the
        // machine's result and score from the grade itself.
        if row.score.is_none()
            && matches!(
                s.status,
                SubmissionStatus::Graded | SubmissionStatus::NeedsReview
            )
        {
            if let Some(g) = repo.get_submission(s.id).await?.and_then(|v| v.grade) {
                row.score = Some(format!("{:.1}", g.score));
                // Without a program the machine's decision is the result.
                if s.status == SubmissionStatus::Graded {
                    (row.status, row.status_label) = match g.decision {
                        crate::score::decide::Decision::Pass => ("pass", "Pass"),
                        crate::score::decide::Decision::Fail => ("fail", "Not yet"),
                        crate::score::decide::Decision::Borderline => {
                            ("needs_review", "With a reviewer")
                        }
                    };
                }
            }
        }
        pitches.push(row);
    }
    let offered = offered_rubrics(&state, &viewer.id).await?;
    let rubrics = state
        .parts
        .rubrics
        .iter()
        .filter(|r| offered.as_ref().is_none_or(|o| o.allows(&r.rubric.id)))
        .map(|r| RubricChoice {
            id: r.rubric.id.clone(),
            title: title_of(r),
            track: format!("{:?}", r.rubric.track).to_lowercase(),
        })
        .collect();
    render(&RepIndex {
        chrome: Chrome::for_viewer("My pitches", "plain", &viewer, "/rep"),
        rubrics,
        pitches,
    })
}

fn pitch_row(
    s: &Submission,
    decision: Option<&crate::store::db::certification::CertDecision>,
) -> PitchRow {
    use crate::store::db::certification::Outcome;
    let (status, status_label) = match (decision.map(|d| d.outcome), s.status) {
        (Some(Outcome::Pass), _) => ("pass", "Pass"),
        (Some(Outcome::Fail), _) => ("fail", "Not yet"),
        (None, status) => (status.as_str(), view::status_label(status)),
    };
    PitchRow {
        id: s.id,
        rubric: s.rubric_id.clone(),
        when: s.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        status,
        status_label,
        score: decision.map(|d| format!("{:.1}", d.machine_score)),
    }
}

fn title_of(r: &LoadedRubric) -> String {
    if r.rubric.title.is_empty() {
        r.rubric.id.clone()
    } else {
        r.rubric.title.clone()
    }
}

/// An objection the buyer will raise.
pub struct ObjectionLine {
    pub id: String,
    pub raised_as: String,
}

#[derive(Template)]
#[template(path = "web/record.html")]
pub struct RecordPage {
    pub chrome: Chrome,
    pub rubric_id: String,
    pub buyer: String,
    pub context: String,
    pub objections: Vec<ObjectionLine>,
    /// e.g. "3:00 to 5:00", from the rubric's timing target.
    pub target: Option<String>,
    pub max_mb: u64,
    /// Why the rep cannot submit for this scenario yet (cooldown, attempts
    /// used, one still being graded), said before they record, not after
    /// the upload; `None` when they may.
    pub blocked: Option<String>,
}

pub async fn new_pitch(
    State(state): State<WebState>,
    Viewer(viewer): Viewer,
    Path(rubric_id): Path<String>,
) -> Result<Response, WebError> {
    viewer.require(&[Role::Rep])?;
    let loaded = state
        .parts
        .rubrics
        .get(&rubric_id)
        .ok_or_else(|| WebError::NotFound(format!("rubric {rubric_id:?}")))?;
    if let Some(offered) = offered_rubrics(&state, &viewer.id).await? {
        if !offered.allows(&rubric_id) {
            return Err(WebError::Refused {
                status: axum::http::StatusCode::FORBIDDEN,
                code: "not_your_scenario",
                message: "This scenario is not one of yours: your role and firm have their own. Go back to My pitches to see them.".into(),
            });
        }
    }
    let r = &loaded.rubric;
    let objections = r
        .scenario
        .objections
        .iter()
        .map(|id| ObjectionLine {
            id: id.clone(),
            raised_as: r
                .objections
                .iter()
                .find(|o| &o.id == id)
                .map(|o| o.raised_as.clone())
                .unwrap_or_default(),
        })
        .collect();
    render(&RecordPage {
        chrome: Chrome::for_viewer(&title_of(loaded), "record", &viewer, "/rep"),
        rubric_id: r.id.clone(),
        buyer: r.scenario.buyer.clone(),
        context: r.scenario.context.trim().to_string(),
        objections,
        target: r.timing.as_ref().map(|t| {
            format!(
                "{} to {}",
                view::mm_ss(t.target_seconds[0]),
                view::mm_ss(t.target_seconds[1])
            )
        }),
        max_mb: state.api.config.max_upload_bytes / (1024 * 1024),
        blocked: retake_blocked(&state, &viewer.id, &r.id).await?,
    })
}

/// The rubrics a rep may record under the program: the scenarios of the
/// tracks open to their role, as their firm's paths give them, and any rubric
/// outside the program (practice, certifying nothing).
struct Offered<'a> {
    program: &'a crate::certify::Program,
    rubrics: std::collections::BTreeSet<String>,
}

impl Offered<'_> {
    fn allows(&self, rubric_id: &str) -> bool {
        self.rubrics.contains(rubric_id) || self.program.track_for_rubric(rubric_id).is_none()
    }
}

/// `None` without a program: then every installed rubric is open.
async fn offered_rubrics<'a>(
    state: &'a WebState,
    rep_id: &str,
) -> Result<Option<Offered<'a>>, WebError> {
    let Some(program) = state.api.config.program.as_deref() else {
        return Ok(None);
    };
    let offers =
        crate::certify::retake::offered(state.parts.repo.as_ref(), program, rep_id).await?;
    Ok(Some(Offered {
        program,
        rubrics: offers.into_iter().map(|o| o.rubric_id).collect(),
    }))
}

/// The retake policy's answer for this rep and this rubric's track, when it
/// is "not now"; what intake would refuse the upload with.
async fn retake_blocked(
    state: &WebState,
    rep_id: &str,
    rubric_id: &str,
) -> Result<Option<String>, WebError> {
    let Some(program) = state.api.config.program.as_ref() else {
        return Ok(None);
    };
    let Some(track) = program.track_for_rubric(rubric_id) else {
        return Ok(None);
    };
    let check = crate::certify::retake::check(
        state.parts.repo.as_ref(),
        program,
        rep_id,
        &track.id,
        chrono::Utc::now(),
    )
    .await?;
    Ok((!check.allowed).then_some(check.message))
}

/// `POST /rep/submissions` (multipart: `rubric`, optional `idempotency_key`,
/// then `recording`). Answers JSON to the page's script, a redirect to a
/// plain form post.
pub async fn upload(
    State(state): State<WebState>,
    Viewer(viewer): Viewer,
    headers: HeaderMap,
    multipart: Multipart,
) -> Response {
    let wants_json = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    match receive(&state, &viewer, multipart).await {
        Ok(submission) => {
            let url = format!("/submissions/{}", submission.id);
            if wants_json {
                (
                    StatusCode::CREATED,
                    Json(serde_json::json!({ "id": submission.id, "url": url })),
                )
                    .into_response()
            } else {
                Redirect::to(&url).into_response()
            }
        }
        Err(e) if wants_json => {
            let status = e.status();
            let message = if status.is_server_error() {
                tracing::error!(error = %e, "upload failed");
                "the upload could not be stored; try again in a minute".to_string()
            } else {
                e.to_string()
            };
            (status, Json(serde_json::json!({ "error": message }))).into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn receive(
    state: &WebState,
    viewer: &Principal,
    mut multipart: Multipart,
) -> Result<Submission, WebError> {
    viewer.require(&[Role::Rep])?;
    let bad = |e: axum::extract::multipart::MultipartError| {
        WebError::BadRequest(format!(
            "the upload was cut off or malformed: {}",
            e.body_text()
        ))
    };
    let mut rubric = None;
    let mut key = None;
    let mut upload = None;
    while let Some(mut field) = multipart.next_field().await.map_err(bad)? {
        match field.name().unwrap_or("") {
            "rubric" => {
                let id = state.api.intake.text_field(&mut field, "rubric").await?;
                // Checked as it arrives (the form sends it first), so an
                // unknown rubric costs no upload.
                state.api.intake.check_rubric(&id)?;
                rubric = Some(id);
            }
            "idempotency_key" => {
                key = idempotency_key(
                    &state
                        .api
                        .intake
                        .text_field(&mut field, "idempotency_key")
                        .await?,
                )?
            }
            "recording" if upload.is_some() => {
                return Err(WebError::BadRequest(
                    "send one recording per submission".into(),
                ))
            }
            "recording" => upload = Some(state.api.intake.spool(&mut field).await?),
            _ => {}
        }
    }
    let rubric = rubric.ok_or_else(|| WebError::BadRequest("choose a rubric".into()))?;
    let upload = upload.ok_or_else(|| WebError::BadRequest("attach a recording".into()))?;
    let created = state
        .api
        .intake
        .submit(&viewer.id, &rubric, upload, key)
        .await?;
    Ok(created.submission)
}

/// An idempotency key from the form, checked by the API's rule: blank is none,
/// and what could not travel as the API's header is refused as the page's own
/// mistake before intake sees it.
fn idempotency_key(value: &str) -> Result<Option<String>, WebError> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    HeaderValue::from_str(value).map_err(|_| {
        WebError::BadRequest("the idempotency key must be visible ASCII characters".into())
    })?;
    Ok(Some(crate::intake::idempotency_key(value)?))
}

#[derive(Template)]
#[template(path = "web/result.html")]
pub struct ResultPage {
    pub chrome: Chrome,
    pub id: Uuid,
    pub rubric_id: String,
    pub submitted: String,
    pub status: &'static str,
    pub status_label: &'static str,
    /// Still queued or being graded: the page polls.
    pub pending: bool,
    pub failure: Option<String>,
    pub grade: Option<GradeView>,
    pub paragraphs: Vec<Paragraph>,
    pub outcome: Option<OutcomeView>,
    pub program_configured: bool,
    /// Shown to staff looking at someone else's result.
    pub rep_id: String,
    pub is_rep: bool,
    /// Whether the page offers the recording (a partner admin hears their
    /// reps only where the program allows it).
    pub audio: bool,
    /// What the page says instead of a player once the recording is deleted.
    pub recording_gone: Option<&'static str>,
    /// The transcript and quotes were deleted under the retention policy.
    pub transcript_gone: bool,
    /// The submission's history (for the rep: without reviewers' names).
    pub trail: Vec<TrailLine>,
}

impl ResultPage {
    pub fn decision_word(d: &crate::score::decide::Decision) -> &'static str {
        view::decision_code(*d)
    }

    /// A reviewer's decision, when one was made: it is the result the rep
    /// lives with, so the page leads with it rather than the machine's
    /// "borderline".
    pub fn final_label(d: &crate::score::decide::Decision) -> &'static str {
        match d {
            crate::score::decide::Decision::Pass => "Pass",
            crate::score::decide::Decision::Fail => "Not yet",
            crate::score::decide::Decision::Borderline => "Borderline",
        }
    }

    pub fn reviewed(&self) -> Option<&crate::web::program::ReviewRecord> {
        self.outcome.as_ref().and_then(|o| o.review.as_ref())
    }
}

pub async fn result(
    State(state): State<WebState>,
    Viewer(viewer): Viewer,
    Path(id): Path<Uuid>,
) -> Result<Response, WebError> {
    // Someone else's submission reads as missing, not forbidden: ids are not confirmed.
    let found = visible_submission(&state, &viewer, id)
        .await?
        .ok_or_else(|| WebError::NotFound("submission".into()))?;
    let s = &found.submission;
    let (grade, paragraphs) = match &found.grade {
        Some(g) => {
            let parsed = view::parse_grade(&g.grade)?;
            (
                Some(view::grade_view(&parsed.grade)),
                view::transcript_view(&parsed),
            )
        }
        None => (None, Vec::new()),
    };
    let outcome = if found.grade.is_some() {
        state.program.outcome(s).await?
    } else {
        None
    };
    let audience = Audience::of(viewer.role == Role::Rep);
    let trail = audit_trail::build(state.parts.repo.as_ref(), &found, audience).await?;
    let home = match viewer.role {
        Role::Rep => "/rep",
        Role::PartnerAdmin => "/firm",
        _ => "/review",
    };
    render(&ResultPage {
        chrome: Chrome::for_viewer(
            &if viewer.role == Role::Rep {
                "Your pitch".to_string()
            } else {
                format!("Pitch by {}", s.rep_id)
            },
            "result",
            &viewer,
            home,
        ),
        id: s.id,
        rubric_id: s.rubric_id.clone(),
        submitted: s.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        status: s.status.as_str(),
        status_label: view::status_label(s.status),
        pending: !is_final(s.status),
        failure: s.failure_reason.clone(),
        grade,
        paragraphs,
        outcome,
        program_configured: state.program.configured(),
        rep_id: s.rep_id.clone(),
        is_rep: viewer.role == Role::Rep,
        audio: crate::web::media::may_hear(&state, &viewer) && s.recording_deleted.is_none(),
        recording_gone: s
            .recording_deleted
            .as_ref()
            .map(|t| crate::privacy::policy::recording_gone(&t.reason)),
        transcript_gone: s.transcript_deleted_at.is_some(),
        trail,
    })
}

fn is_final(s: SubmissionStatus) -> bool {
    matches!(
        s,
        SubmissionStatus::Graded | SubmissionStatus::NeedsReview | SubmissionStatus::Failed
    )
}

/// `GET /submissions/{id}/status`: what the result page polls.
pub async fn status(
    State(state): State<WebState>,
    Viewer(viewer): Viewer,
    Path(id): Path<Uuid>,
) -> Result<Response, WebError> {
    let found = visible_submission(&state, &viewer, id)
        .await?
        .ok_or_else(|| WebError::NotFound("submission".into()))?;
    let s = found.submission.status;
    Ok(Json(serde_json::json!({
        "status": s.as_str(),
        "label": view::status_label(s),
        "final": is_final(s),
    }))
    .into_response())
}
