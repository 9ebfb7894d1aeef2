//! Replay before shipping, for enablement: paste an edited rubric, see what it
//! would do to the program's past grades (`certify::replay`), change nothing.
//!
//! Storing the re-scored grades (`--apply`) stays on the command line, where
//! it is one deliberate act with its own audit actor; the page only reads.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::Form;
use serde::Deserialize;

use crate::certify::replay::{self, decision_word as word, Replay, ReplayOptions};
use crate::score::decide::Decision;
use crate::store::db::certification::Outcome;

use super::super::auth::{Role, Viewer};
use super::super::error::WebError;
use super::super::WebState;
use super::{render, Chrome};

/// Most grades one page replay re-scores: with the offline judge a grade
/// takes about a tenth of a second (BENCHMARKS.md, "Rubric replay"), so a
/// page answers in under a minute; the CLI replays any number.
pub const PAGE_MAX_GRADES: u32 = 300;

#[derive(Debug, Default, Deserialize)]
pub struct ReplayQuery {
    pub rubric: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ReplayForm {
    pub text: String,
    #[serde(default)]
    pub since: String,
}

/// One changed decision as the page lists it.
pub struct ChangedRow {
    pub submission_id: String,
    pub rep_id: String,
    pub submitted: String,
    pub before: String,
    pub after: String,
    /// `up` (towards pass), `down` (towards fail) or `review`.
    pub direction: &'static str,
    pub final_today: String,
    pub flips: Vec<(String, String, String)>,
}

pub struct ReplayView {
    pub heading: String,
    pub transitions: Vec<(String, String, u32, bool)>,
    pub shift: Option<String>,
    pub first_attempt: String,
    pub changed: Vec<ChangedRow>,
    /// criterion, same share, kappa, met before → after
    pub criteria: Vec<[String; 4]>,
    pub certifications: Vec<String>,
    pub tiers: Vec<String>,
    pub rule: &'static str,
    pub skipped: Vec<String>,
    pub truncated: bool,
}

#[derive(Template)]
#[template(path = "web/replay.html")]
pub struct ReplayPage {
    pub chrome: Chrome,
    pub text: String,
    pub since: String,
    pub problem: Option<String>,
    pub warning: Option<String>,
    pub available: bool,
    pub result: Option<ReplayView>,
    pub max_grades: u32,
}

const WHO: &[Role] = &[Role::Enablement, Role::Admin];

fn page_for(viewer: &super::super::auth::Principal, state: &WebState) -> ReplayPage {
    ReplayPage {
        chrome: Chrome::for_viewer("Replay a rubric change", "plain", viewer, "/rubrics"),
        text: String::new(),
        since: String::new(),
        problem: None,
        warning: None,
        available: state.options.replay_judge.is_some(),
        result: None,
        max_grades: PAGE_MAX_GRADES,
    }
}

/// `GET /rubrics/replay[?rubric=ID]`: the form, holding the rubric's current text.
pub async fn form(
    State(state): State<WebState>,
    Viewer(viewer): Viewer,
    Query(q): Query<ReplayQuery>,
) -> Result<Response, WebError> {
    viewer.require(WHO)?;
    let mut page = page_for(&viewer, &state);
    if let Some(id) = q.rubric {
        let loaded = state
            .parts
            .rubrics
            .get(&id)
            .ok_or_else(|| WebError::NotFound(format!("rubric {id:?}")))?;
        page.text = loaded.text.clone();
    }
    render(&page)
}

/// `POST /rubrics/replay`: the diff of the pasted rubric against past grades.
pub async fn run(
    State(state): State<WebState>,
    Viewer(viewer): Viewer,
    Form(form): Form<ReplayForm>,
) -> Result<Response, WebError> {
    viewer.require(WHO)?;
    let mut page = page_for(&viewer, &state);
    page.text = form.text.clone();
    page.since = form.since.trim().to_string();
    let Some(judge) = state.options.replay_judge.clone() else {
        return render(&page);
    };
    let since = match page.since.as_str() {
        "" => None,
        day => match chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d") {
            Ok(d) => d.and_hms_opt(0, 0, 0).map(|t| t.and_utc()),
            Err(_) => {
                page.problem = Some(format!("{day:?} is not a day like 2026-01-31."));
                return render(&page);
            }
        },
    };
    let rubric = match crate::rubric::parse("the pasted rubric", form.text.as_bytes()) {
        Ok(r) => r,
        Err(e) => {
            page.problem = Some(e.to_string());
            return render(&page);
        }
    };
    let repo = state.parts.repo.as_ref();
    if let Err(e) = crate::rubric::history::check_files(repo, std::slice::from_ref(&rubric)).await {
        page.warning = Some(e.to_string());
    }
    let options = ReplayOptions {
        since,
        firm: None,
        max_grades: Some(PAGE_MAX_GRADES),
    };
    let program = state.api.config.program.as_deref();
    let replay = replay::replay(
        repo,
        program,
        &rubric,
        judge.as_ref(),
        &options,
        chrono::Utc::now(),
    )
    .await?;
    page.result = Some(view(&replay));
    render(&page)
}

fn rank(d: Decision) -> u8 {
    match d {
        Decision::Fail => 0,
        Decision::Borderline => 1,
        Decision::Pass => 2,
    }
}

fn pct(r: &crate::certify::reports::Rate) -> String {
    r.rate.map_or_else(
        || "n/a".to_string(),
        |v| format!("{:.0}% ({} of {})", v * 100.0, r.count, r.total),
    )
}

pub fn view(r: &Replay) -> ReplayView {
    let f = &r.first_attempt;
    ReplayView {
        heading: format!(
            "{} v{} against {} stored grades, {} judge",
            r.rubric_id, r.new_version, r.replayed, r.judge
        ),
        transitions: r
            .transitions
            .iter()
            .map(|t| {
                (
                    word(t.from).to_string(),
                    word(t.to).to_string(),
                    t.count,
                    t.from != t.to,
                )
            })
            .collect(),
        shift: r.score_shift.map(|s| {
            format!(
                "New minus old score: median {:+.1}, from {:+.1} to {:+.1} (10th to 90th percentile {:+.1} to {:+.1}); {} grades moved more than 5 points.",
                s.median, s.min, s.max, s.p10, s.p90, s.moved_over_5
            )
        }),
        first_attempt: format!(
            "First-attempt pass rate {} before, {} after (healthy {:.0}–{:.0}%).",
            pct(&f.before),
            pct(&f.after),
            f.band.0 * 100.0,
            f.band.1 * 100.0
        ),
        changed: r
            .changed
            .iter()
            .map(|c| ChangedRow {
                submission_id: c.submission_id.to_string(),
                rep_id: c.rep_id.clone(),
                submitted: c.submitted_at.format("%Y-%m-%d").to_string(),
                before: format!("{} {:.1}", word(c.before.decision), c.before.score),
                after: format!("{} {:.1}", word(c.after.decision), c.after.score),
                direction: match (rank(c.before.decision), rank(c.after.decision)) {
                    (_, 1) => "review",
                    (b, a) if a > b => "up",
                    _ => "down",
                },
                final_today: match c.final_outcome {
                    Some(Outcome::Pass) => "pass".into(),
                    Some(Outcome::Fail) => "fail".into(),
                    None => "not final".into(),
                },
                flips: c
                    .flips
                    .iter()
                    .map(|f| {
                        (
                            f.criterion.clone(),
                            format!("{:?} → {:?}", f.before, f.after).to_lowercase(),
                            f.why.clone(),
                        )
                    })
                    .collect(),
            })
            .collect(),
        criteria: r
            .criteria
            .iter()
            .map(|c| {
                [
                    c.criterion.clone(),
                    pct(&c.agreement),
                    c.kappa
                        .map_or_else(|| "–".to_string(), |k| format!("{k:.2}")),
                    format!("{} → {}", c.met_before, c.met_after),
                ]
            })
            .collect(),
        certifications: r
            .certifications
            .iter()
            .map(|c| {
                format!(
                    "{} {} the {} certification (not applied)",
                    c.rep_id,
                    if c.change == "would_lose" {
                        "would lose"
                    } else {
                        "would gain"
                    },
                    c.track
                )
            })
            .collect(),
        tiers: r
            .tiers
            .iter()
            .map(|t| {
                format!(
                    "{}: tier {} → {} if applied",
                    t.firm_id,
                    t.before.as_deref().unwrap_or("none"),
                    t.after.as_deref().unwrap_or("none")
                )
            })
            .collect(),
        rule: r.rule,
        skipped: r
            .skipped
            .iter()
            .map(|s| format!("{}: {}", s.submission_id, s.reason))
            .collect(),
        truncated: r.truncated,
    }
}
