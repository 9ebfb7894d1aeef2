//! The stored grade, turned into what the result and review pages show.
//!
//! The stored grade is read as `pipeline::stored::StoredGrade`: the grade JSON
//! (docs/grade-json.md) with the `transcript` (words with times) beside it. Numbers are formatted here,
//! once, so the templates only place text.

use crate::pipeline::stored::StoredGrade;
use crate::score::decide::{Decision, Verdict};
use crate::score::grade::CriterionGrade;
use crate::score::Grade;
use crate::store::db::SubmissionStatus;
use crate::transcribe::Word;

use super::error::WebError;

/// One quote a verdict rests on, with where it is in the recording.
#[derive(Debug, Clone, PartialEq)]
pub struct EvidenceView {
    pub quote: String,
    pub start: f64,
    pub end: f64,
    /// `m:ss`, as the player shows it.
    pub at: String,
}

/// A row of the criteria table.
#[derive(Debug, Clone, PartialEq)]
pub struct CriterionRow {
    pub id: String,
    pub label: String,
    pub kind: &'static str,
    pub required: bool,
    /// `met`, `partial`, `missed` or `unscored` (also the CSS class).
    pub verdict: &'static str,
    pub points: String,
    /// Machine score as a number, for the review form; `None` when unscored.
    pub score: Option<f64>,
    pub max: f64,
    pub detail: String,
    pub evidence: Vec<EvidenceView>,
    pub coaching: Option<String>,
}

impl CriterionRow {
    /// Not fully met: the rep gets this row's tip.
    pub fn missed(&self) -> bool {
        matches!(self.verdict, "missed" | "partial")
    }
}

/// A grade as the pages show it.
#[derive(Debug, Clone, PartialEq)]
pub struct GradeView {
    pub decision: &'static str,
    pub decision_label: &'static str,
    pub score: String,
    pub pass_score: String,
    pub band: String,
    pub reasons: Vec<String>,
    pub criteria: Vec<CriterionRow>,
    pub rubric: String,
    pub rubric_id: String,
    pub notes: Vec<String>,
    /// "only 20 of 90 points could be scored…" when some criteria could not
    /// be scored (a judge that was unreachable): the score is a share of
    /// those points, and a bare "100" would read as a perfect pitch.
    pub partial: Option<String>,
}

impl GradeView {
    /// One tip per criterion that was not fully met, in rubric order.
    pub fn tips(&self) -> Vec<(&str, &str)> {
        self.criteria
            .iter()
            .filter(|c| c.missed())
            .filter_map(|c| c.coaching.as_deref().map(|t| (c.label.as_str(), t)))
            .collect()
    }
}

/// A spoken word, for the transcript the audio player follows.
#[derive(Debug, Clone, PartialEq)]
pub struct WordView {
    pub text: String,
    pub start: f64,
    pub end: f64,
    /// Ids of the criteria whose evidence covers this word (space-separated).
    pub criteria: String,
}

/// A run of words (a transcriber segment), with a seek button at its start.
#[derive(Debug, Clone, PartialEq)]
pub struct Paragraph {
    pub start: f64,
    pub at: String,
    pub words: Vec<WordView>,
}

/// Reads the stored grade with the type the worker wrote it with (the grade
/// plus the `transcript` and `audio` it was built from).
pub fn parse_grade(stored: &serde_json::Value) -> Result<StoredGrade, WebError> {
    StoredGrade::from_json(stored).map_err(|e| WebError::Internal(e.to_string()))
}

pub fn grade_view(g: &Grade) -> GradeView {
    let criteria: Vec<CriterionRow> = g.criteria.iter().map(criterion_row).collect();
    let mut notes = Vec::new();
    if g.flags.injection_flagged {
        notes.push(
            "Part of the recording addressed the grader instead of the buyer; it earned nothing \
             and the grade was sent to a reviewer."
                .to_string(),
        );
    }
    if g.flags.audio_criteria_unscored {
        notes.push("Delivery criteria that need audio were left out of the score.".to_string());
    }
    if g.flags.filler_count_is_lower_bound {
        notes.push(
            "The transcriber may drop “um” and “uh”: the filler count is a lower bound.".into(),
        );
    }
    GradeView {
        decision: decision_code(g.decision),
        decision_label: match g.decision {
            Decision::Pass => "Pass",
            Decision::Fail => "Not yet",
            Decision::Borderline => "Sent to a reviewer",
        },
        score: format!("{:.1}", g.score),
        pass_score: fmt_num(g.pass_score),
        band: fmt_num(g.borderline_band),
        reasons: g.reasons.iter().map(|r| r.message.clone()).collect(),
        criteria,
        rubric: format!("{} v{}", g.rubric.id, g.rubric.version),
        rubric_id: g.rubric.id.clone(),
        notes,
        partial: g.points_scored().map(|(scored, total)| {
            format!(
                "only {} of {} points could be scored; the score is a share of those",
                fmt_num(scored),
                fmt_num(total)
            )
        }),
    }
}

fn criterion_row(c: &CriterionGrade) -> CriterionRow {
    let detail = match &c.measured {
        Some(m) => format!(
            "{} {} (target {})",
            fmt_measured(m.value, &m.unit),
            m.unit,
            m.target
        ),
        None => c.rationale.clone(),
    };
    CriterionRow {
        id: c.id.clone(),
        label: humanise(&c.id),
        kind: kind_label(c.kind),
        required: c.required,
        verdict: verdict_code(c.verdict),
        points: match c.score {
            Some(s) => format!("{s:.1} / {:.1}", c.max),
            None => format!("– / {:.1}", c.max),
        },
        score: c.score,
        max: c.max,
        detail,
        evidence: c
            .evidence
            .iter()
            .map(|e| EvidenceView {
                quote: e.quote.clone(),
                start: e.start,
                end: e.end,
                at: mm_ss(e.start),
            })
            .collect(),
        coaching: c.coaching.clone(),
    }
}

/// The transcript in paragraphs, each word tagged with the criteria whose
/// evidence covers it. Missing or unreadable transcripts give no paragraphs.
pub fn transcript_view(stored: &StoredGrade) -> Vec<Paragraph> {
    let (Some(t), grade) = (&stored.transcript, &stored.grade) else {
        return Vec::new();
    };
    let tag = |w: &Word| -> String {
        let mut ids: Vec<&str> = Vec::new();
        for c in &grade.criteria {
            // Evidence times are word-aligned; a small tolerance absorbs rounding.
            let covers = c
                .evidence
                .iter()
                .any(|e| w.start < e.end - 0.005 && w.end > e.start + 0.005);
            if covers {
                ids.push(&c.id);
            }
        }
        ids.join(" ")
    };
    let word = |w: &Word| WordView {
        text: w.text.trim().to_string(),
        start: w.start,
        end: w.end,
        criteria: tag(w),
    };
    let mut paragraphs = Vec::new();
    let mut covered = 0;
    for s in &t.segments {
        let (a, b) = (s.words.start.max(covered), s.words.end.min(t.words.len()));
        if a >= b {
            continue;
        }
        paragraphs.push(Paragraph {
            start: s.start,
            at: mm_ss(s.start),
            words: t.words[a..b].iter().map(word).collect(),
        });
        covered = b;
    }
    // Backends without segments (or words past the last one): one paragraph.
    if covered < t.words.len() {
        let rest = &t.words[covered..];
        paragraphs.push(Paragraph {
            start: rest[0].start,
            at: mm_ss(rest[0].start),
            words: rest.iter().map(word).collect(),
        });
    }
    paragraphs
}

pub fn decision_code(d: Decision) -> &'static str {
    match d {
        Decision::Pass => "pass",
        Decision::Fail => "fail",
        Decision::Borderline => "borderline",
    }
}

pub fn verdict_code(v: Verdict) -> &'static str {
    match v {
        Verdict::Met => "met",
        Verdict::Partial => "partial",
        Verdict::Missed => "missed",
        Verdict::Unscored => "unscored",
    }
}

/// How a submission's status reads to a rep.
pub fn status_label(s: SubmissionStatus) -> &'static str {
    match s {
        SubmissionStatus::Queued => "Waiting to be graded",
        SubmissionStatus::Processing => "Being graded",
        SubmissionStatus::Graded => "Graded",
        SubmissionStatus::NeedsReview => "With a reviewer",
        SubmissionStatus::Failed => "Could not be graded",
    }
}

fn kind_label(k: crate::rubric::CriterionKind) -> &'static str {
    use crate::rubric::CriterionKind as K;
    match k {
        K::TalkingPoint => "Talking point",
        K::Objection => "Objection",
        K::Tone => "Tone",
        K::Timing => "Timing",
        K::Pace => "Pace",
        K::Fillers => "Fillers",
        K::LongestPause => "Pauses",
        K::PitchVariation => "Pitch variation",
    }
}

/// `value_prop` → `Value prop`.
pub fn humanise(id: &str) -> String {
    let spaced = id.replace(['_', '-'], " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Seconds as `m:ss` (negative and non-finite times read as 0:00).
pub fn mm_ss(seconds: f64) -> String {
    let s = if seconds.is_finite() && seconds > 0.0 {
        seconds.floor() as u64
    } else {
        0
    };
    format!("{}:{:02}", s / 60, s % 60)
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn fmt_measured(value: f64, unit: &str) -> String {
    match unit {
        "ratio" => format!("{value:.3}"),
        "words/minute" => format!("{value:.0}"),
        _ => format!("{value:.1}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times_and_ids() {
        assert_eq!(mm_ss(0.0), "0:00");
        assert_eq!(mm_ss(75.9), "1:15");
        assert_eq!(mm_ss(f64::NAN), "0:00");
        assert_eq!(humanise("value_prop"), "Value prop");
        assert_eq!(humanise(""), "");
    }
}
