//! The rubric page: the version of each rubric the service grades with now,
//! what it asks for, and the versions grades used before.

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use crate::rubric::LoadedRubric;

use super::super::auth::{Role, Viewer};
use super::super::error::WebError;
use super::super::program::RubricVersionView;
use super::super::view;
use super::super::WebState;
use super::{render, Chrome};

pub struct CriterionLine {
    pub id: String,
    pub kind: &'static str,
    pub weight: String,
    pub required: bool,
    pub description: String,
}

pub struct HistoryRow {
    pub version: u32,
    pub sha: String,
    pub first_used: String,
    pub last_used: String,
    pub grades: u64,
    pub current: bool,
}

pub struct RubricCard {
    pub id: String,
    pub title: String,
    pub track: String,
    pub version: u32,
    pub sha: String,
    pub source: String,
    pub pass: String,
    pub buyer: String,
    pub criteria: Vec<CriterionLine>,
    pub history: Vec<HistoryRow>,
}

#[derive(Template)]
#[template(path = "web/rubrics.html")]
pub struct RubricsPage {
    pub chrome: Chrome,
    pub rubrics: Vec<RubricCard>,
    pub configured: bool,
    /// Enablement and admins may replay a change (reviewers only read).
    pub can_replay: bool,
}

pub async fn page(
    State(state): State<WebState>,
    Viewer(viewer): Viewer,
) -> Result<Response, WebError> {
    viewer.require(&[Role::Reviewer, Role::Enablement, Role::Admin])?;
    let mut rubrics = Vec::new();
    for loaded in state.parts.rubrics.iter() {
        let history = state.program.rubric_history(&loaded.rubric.id).await?;
        rubrics.push(card(loaded, &history));
    }
    render(&RubricsPage {
        chrome: Chrome::for_viewer("Rubrics", "plain", &viewer, "/rubrics"),
        rubrics,
        configured: state.program.configured(),
        can_replay: matches!(viewer.role, Role::Enablement | Role::Admin),
    })
}

fn short(sha: &str) -> String {
    sha.get(..12).unwrap_or(sha).to_string()
}

pub fn card(loaded: &LoadedRubric, history: &[RubricVersionView]) -> RubricCard {
    let r = &loaded.rubric;
    let description = |id: &str| -> String {
        if let Some(t) = r.talking_points.iter().find(|t| t.id == id) {
            return t.description.clone();
        }
        if let Some(o) = r.objections.iter().find(|o| o.id == id) {
            return format!(
                "Buyer: “{}” — a good answer {}",
                o.raised_as, o.good_response
            );
        }
        match id {
            "tone" => r
                .tone
                .as_ref()
                .map(|t| t.description.clone())
                .unwrap_or_default(),
            "timing" => r
                .timing
                .as_ref()
                .map(|t| {
                    format!(
                        "Full marks from {} to {}",
                        view::mm_ss(t.target_seconds[0]),
                        view::mm_ss(t.target_seconds[1])
                    )
                })
                .unwrap_or_default(),
            "pace" => r
                .delivery
                .as_ref()
                .map(|d| {
                    format!(
                        "{:.0}–{:.0} words a minute",
                        d.words_per_minute[0], d.words_per_minute[1]
                    )
                })
                .unwrap_or_default(),
            "fillers" => r
                .delivery
                .as_ref()
                .map(|d| format!("At most {:.1}% fillers", d.max_filler_ratio * 100.0))
                .unwrap_or_default(),
            "longest_pause" => r
                .delivery
                .as_ref()
                .map(|d| format!("No pause longer than {:.1} s", d.max_pause_seconds))
                .unwrap_or_default(),
            "pitch_variation" => "Varied pitch, not monotone".into(),
            _ => String::new(),
        }
    };
    let criteria = r
        .criteria()
        .into_iter()
        .map(|c| CriterionLine {
            kind: kind_name(c.kind),
            weight: format!("{:.1}", c.weight),
            required: r.pass.required.contains(&c.id),
            description: description(&c.id),
            id: c.id,
        })
        .collect();
    let mut rows: Vec<HistoryRow> = history
        .iter()
        .map(|h| HistoryRow {
            version: h.version,
            sha: short(&h.sha256),
            first_used: h
                .first_used
                .map(|t| t.format("%Y-%m-%d").to_string())
                .unwrap_or_else(|| "–".into()),
            last_used: h
                .last_used
                .map(|t| t.format("%Y-%m-%d").to_string())
                .unwrap_or_else(|| "–".into()),
            grades: h.grades,
            current: h.sha256 == loaded.sha256,
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.version));
    RubricCard {
        id: r.id.clone(),
        title: if r.title.is_empty() {
            r.id.clone()
        } else {
            r.title.clone()
        },
        track: format!("{:?}", r.track).to_lowercase(),
        version: r.version,
        sha: short(&loaded.sha256),
        source: loaded.source.clone(),
        pass: format!(
            "Pass at {:.0} points, review band ±{:.0}{}",
            r.pass.score,
            r.pass.borderline,
            if r.pass.required.is_empty() {
                String::new()
            } else {
                format!("; required: {}", r.pass.required.join(", "))
            }
        ),
        buyer: r.scenario.buyer.clone(),
        criteria,
        history: rows,
    }
}

fn kind_name(k: crate::rubric::CriterionKind) -> &'static str {
    use crate::rubric::CriterionKind as K;
    match k {
        K::TalkingPoint => "talking point",
        K::Objection => "objection",
        K::Tone => "tone",
        K::Timing => "timing",
        K::Pace => "pace",
        K::Fillers => "fillers",
        K::LongestPause => "pauses",
        K::PitchVariation => "pitch variation",
    }
}
