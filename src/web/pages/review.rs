//! The reviewer's pages: the queue of borderline grades (oldest first, each
//! with why it is borderline) and the review page, where the audio follows the
//! transcript, each criterion's evidence lights up, and the reviewer decides.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use uuid::Uuid;

use crate::certify::audit_trail::{self, Audience, TrailLine};
use crate::score::decide::{Decision, Verdict};

use super::super::auth::{visible_submission, Role, Viewer};
use super::super::error::WebError;
use super::super::program::{CriterionOverride, QueueItem, ReviewDecision, ReviewRecord};
use super::super::view::{self, GradeView, Paragraph};
use super::super::WebState;
use super::{render, Chrome};

const REVIEWERS: &[Role] = &[Role::Reviewer, Role::Enablement, Role::Admin];
/// Who may decide: enablement reads the queue but does not grade.
const DECIDERS: &[Role] = &[Role::Reviewer, Role::Admin];

pub struct QueueRow {
    pub id: Uuid,
    pub rep_id: String,
    pub rubric_id: String,
    pub score: String,
    pub waiting: String,
    pub why: Vec<String>,
    pub claimed_by: Option<String>,
}

#[derive(Template)]
#[template(path = "web/review_queue.html")]
pub struct QueuePage {
    pub chrome: Chrome,
    pub rows: Vec<QueueRow>,
    pub configured: bool,
}

fn queue_row(q: &QueueItem, now: chrono::DateTime<chrono::Utc>) -> QueueRow {
    QueueRow {
        id: q.submission_id,
        rep_id: q.rep_id.clone(),
        rubric_id: q.rubric_id.clone(),
        score: format!("{:.1}", q.score),
        waiting: waited(now - q.waiting_since),
        why: q.why.clone(),
        claimed_by: q.claimed_by.clone(),
    }
}

/// "3 h", "2 d": how long a grade has waited, as a reviewer scans it.
fn waited(d: chrono::TimeDelta) -> String {
    let minutes = d.num_minutes().max(0);
    match minutes {
        0..=59 => format!("{minutes} min"),
        60..=2879 => format!("{} h", minutes / 60),
        _ => format!("{} d", minutes / 1440),
    }
}

/// Oldest first, whatever order the program answered in.
async fn sorted_queue(
    state: &WebState,
    viewer: &super::super::auth::Principal,
) -> Result<Vec<QueueItem>, WebError> {
    let mut items = state.program.review_queue(viewer.firm.as_deref()).await?;
    items.sort_by_key(|q| (q.waiting_since, q.submission_id));
    Ok(items)
}

pub async fn queue(
    State(state): State<WebState>,
    Viewer(viewer): Viewer,
) -> Result<Response, WebError> {
    viewer.require(REVIEWERS)?;
    let now = chrono::Utc::now();
    let rows = sorted_queue(&state, &viewer)
        .await?
        .iter()
        .map(|q| queue_row(q, now))
        .collect();
    render(&QueuePage {
        chrome: Chrome::for_viewer("Review queue", "queue", &viewer, "/review"),
        rows,
        configured: state.program.configured(),
    })
}

#[derive(Template)]
#[template(path = "web/review.html")]
pub struct ReviewPage {
    pub chrome: Chrome,
    pub id: Uuid,
    pub rep_id: String,
    pub submitted: String,
    pub grade: GradeView,
    pub paragraphs: Vec<Paragraph>,
    pub decided: Option<ReviewRecord>,
    pub may_decide: bool,
    /// The next grade in the queue after this one (`n`).
    pub next: Option<Uuid>,
    pub error: Option<String>,
    pub reason: String,
    /// What the page says instead of a player once the recording is deleted.
    pub recording_gone: Option<&'static str>,
    /// The submission's history, with people's names.
    pub trail: Vec<TrailLine>,
    /// Who decided, by name, from the trail.
    pub decided_by: Option<String>,
}

impl ReviewPage {
    pub fn decision_word(d: &Decision) -> &'static str {
        view::decision_code(*d)
    }

    pub fn verdict_word(v: &Verdict) -> &'static str {
        view::verdict_code(*v)
    }
}

pub async fn page(
    State(state): State<WebState>,
    Viewer(viewer): Viewer,
    Path(id): Path<Uuid>,
) -> Result<Response, WebError> {
    viewer.require(REVIEWERS)?;
    render(&review_page(&state, &viewer, id, None, String::new()).await?)
}

async fn review_page(
    state: &WebState,
    viewer: &super::super::auth::Principal,
    id: Uuid,
    error: Option<String>,
    reason: String,
) -> Result<ReviewPage, WebError> {
    let found = visible_submission(state, viewer, id)
        .await?
        .ok_or_else(|| WebError::NotFound("submission".into()))?;
    let stored = found
        .grade
        .as_ref()
        .ok_or_else(|| WebError::NotFound("grade for this submission".into()))?;
    let parsed = view::parse_grade(&stored.grade)?;
    let queue = sorted_queue(state, viewer).await?;
    let next = match queue.iter().position(|q| q.submission_id == id) {
        Some(i) => queue.get(i + 1).map(|q| q.submission_id),
        None => queue.first().map(|q| q.submission_id),
    };
    let decided = state.program.review_of(id).await?;
    let trail = audit_trail::build(state.parts.repo.as_ref(), &found, Audience::Staff).await?;
    let decided_by = trail
        .iter()
        .rev()
        .find(|l| l.action == "review.decided")
        .map(|l| l.actor.clone());
    Ok(ReviewPage {
        chrome: Chrome::for_viewer("Review a borderline grade", "review", viewer, "/review"),
        id,
        rep_id: found.submission.rep_id.clone(),
        submitted: found
            .submission
            .created_at
            .format("%Y-%m-%d %H:%M UTC")
            .to_string(),
        grade: view::grade_view(&parsed.grade),
        paragraphs: view::transcript_view(&parsed),
        may_decide: viewer.is(DECIDERS) && decided.is_none() && state.program.configured(),
        decided,
        next,
        error,
        reason,
        recording_gone: found
            .submission
            .recording_deleted
            .as_ref()
            .map(|t| crate::privacy::policy::recording_gone(&t.reason)),
        trail,
        decided_by,
    })
}

/// The review form, as posted: `decision` (pass/fail), `reason`, and one
/// `criterion.{id}` per criterion (`keep`, `met`, `partial`, `missed`).
pub async fn decide(
    State(state): State<WebState>,
    Viewer(viewer): Viewer,
    Path(id): Path<Uuid>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    viewer.require(DECIDERS)?;
    // A reviewer confined to a firm decides only that firm's grades.
    if visible_submission(&state, &viewer, id).await?.is_none() {
        return Err(WebError::NotFound("submission".into()));
    }
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
    };
    let reason = field("reason").unwrap_or_default();
    let decision = match field("decision").as_deref() {
        Some("pass") => Some(Decision::Pass),
        Some("fail") => Some(Decision::Fail),
        _ => None,
    };
    let mut criteria = Vec::new();
    for (k, v) in &fields {
        let Some(criterion_id) = k.strip_prefix("criterion.") else {
            continue;
        };
        let verdict = match v.as_str() {
            "keep" | "" => continue,
            "met" => Verdict::Met,
            "partial" => Verdict::Partial,
            "missed" => Verdict::Missed,
            other => {
                return Err(WebError::BadRequest(format!(
                    "unknown verdict {other:?} for {criterion_id}"
                )))
            }
        };
        criteria.push(CriterionOverride {
            criterion_id: criterion_id.to_string(),
            verdict,
        });
    }
    let problem = if reason.chars().count() < 3 {
        Some("Give a reason for your decision: it goes to the audit log and to the rep.")
    } else if decision.is_none() {
        Some("Choose the final decision: pass or fail.")
    } else {
        None
    };
    let (problem, status) = match (problem, decision) {
        (None, Some(decision)) => {
            let decided = state
                .program
                .decide(
                    &viewer,
                    id,
                    ReviewDecision {
                        decision,
                        criteria,
                        reason: reason.clone(),
                    },
                )
                .await;
            match decided {
                Ok(()) => return Ok(Redirect::to(&format!("/review/{id}")).into_response()),
                // The reviewer's own problem (someone else holds the review,
                // an unknown criterion): show it on the form, with their
                // reason kept, instead of an error page that loses it.
                Err(e) if e.status().is_client_error() => (e.to_string(), e.status()),
                Err(e) => return Err(e),
            }
        }
        (problem, _) => (
            problem
                .unwrap_or("Choose the final decision: pass or fail.")
                .to_string(),
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        ),
    };
    let mut response = render(&review_page(&state, &viewer, id, Some(problem), reason).await?)?;
    *response.status_mut() = status;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::waited;

    #[test]
    fn waiting_times_read_at_a_glance() {
        assert_eq!(waited(chrono::TimeDelta::minutes(5)), "5 min");
        assert_eq!(waited(chrono::TimeDelta::hours(3)), "3 h");
        assert_eq!(waited(chrono::TimeDelta::days(4)), "4 d");
        assert_eq!(waited(chrono::TimeDelta::minutes(-5)), "0 min");
    }
}
