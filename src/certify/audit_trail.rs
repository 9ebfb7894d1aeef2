//! A submission's story, in order and in words: when it arrived, what the
//! machine graded, who claimed the review, what they overrode and decided,
//! and which certification and rights followed.
//!
//! The audit log is written for machines (actions, ids, JSON details); a
//! reviewer weighing a grade, or a rep asking "why was I failed?", needs
//! sentences with people's names. The trail is built at read time from the
//! log, so every line is one the log holds, and names come from the tokens
//! the actors used (a renamed reviewer shows their current name).
//!
//! Two audiences see it. Staff see everything. The rep sees what concerns
//! them — the decision, its reason, overrides, the certification and rights —
//! but not who claimed or decided (reviewers stay "a reviewer") and not the
//! claims themselves, which are the reviewers' own bookkeeping.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::grade_view::GradeFacts;
use super::{CertifyError, SYSTEM};
use crate::store::db::certification::{AuditEntry, AuditFilter};
use crate::store::db::{Decision, SubmissionView};
use crate::store::Repo;

/// Who reads the trail, which decides what it shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Reviewers, enablement, admins, the rep's partner admin.
    Staff,
    /// The rep whose submission it is.
    Rep,
}

impl Audience {
    /// The rep's own view for a rep, the staff view for everyone else who
    /// may read the submission at all.
    pub fn of(reader_is_the_rep: bool) -> Audience {
        if reader_is_the_rep {
            Audience::Rep
        } else {
            Audience::Staff
        }
    }
}

/// One step of the trail.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TrailLine {
    pub at: DateTime<Utc>,
    /// Who did it, as people say it: "Rita (reviewer)", "alice (rep)",
    /// "pitchgrade".
    pub actor: String,
    /// The audit log's action (`review.decided`), or `submission.received` /
    /// `grade.written` for the two steps the submission itself records.
    pub action: String,
    /// What happened, in one sentence.
    pub what: String,
}

/// The trail of `view`, oldest first.
pub async fn build(
    repo: &dyn Repo,
    view: &SubmissionView,
    audience: Audience,
) -> Result<Vec<TrailLine>, CertifyError> {
    let submission = &view.submission;
    let entries = repo
        .audit_log(&AuditFilter {
            submission_id: Some(submission.id),
            ..AuditFilter::default()
        })
        .await?;
    let mut names = Names::new(repo, audience);
    let mut lines = vec![TrailLine {
        at: submission.created_at,
        actor: format!("{} (rep)", submission.rep_id),
        action: "submission.received".into(),
        what: format!("submitted a recording for {}", submission.rubric_id),
    }];
    if let Some(grade) = &view.grade {
        let doc = GradeFacts::parse(&grade.grade);
        let version = doc
            .rubric_version()
            .map(|v| format!(" v{v}"))
            .unwrap_or_default();
        lines.push(TrailLine {
            at: grade.created_at,
            actor: "pitchgrade".into(),
            action: "grade.written".into(),
            what: format!(
                "graded it {} with a score of {:.1} (rubric {}{version})",
                match grade.decision {
                    Decision::Pass => "pass",
                    Decision::Fail => "fail",
                    Decision::Borderline => "borderline",
                },
                grade.score,
                submission.rubric_id,
            ),
        });
    }
    for entry in &entries {
        if audience == Audience::Rep && entry.action == "review.claimed" {
            continue;
        }
        let Some(what) = sentence(entry) else {
            continue;
        };
        lines.push(TrailLine {
            at: entry.at,
            actor: names.label(&entry.actor).await?,
            action: entry.action.clone(),
            what,
        });
    }
    // By time, so the log and the submission's own two steps interleave as
    // they happened. One decision writes several lines at one instant, in
    // whatever order its transaction built them; people read cause before
    // effect: the reviewer's call, then the decision, then what it gave.
    lines.sort_by_key(|l| (l.at, step(&l.action)));
    Ok(lines)
}

/// Where an action sits among those of one instant.
fn step(action: &str) -> u8 {
    match action {
        "submission.received" => 0,
        "grade.written" => 1,
        "review.queued" => 2,
        "review.claimed" => 3,
        "review.decided" => 4,
        "review.override" => 5,
        "decision.recorded" => 6,
        a if a.starts_with("certification.") => 7,
        a if a.starts_with("rights.") => 8,
        _ => 9,
    }
}

/// Actor strings of the log turned into labels, each token looked up once.
/// A reviewer as staff read them ("Rita (reviewer)"), from the id a claim or
/// decision stores (`<role>:<token id>`): the review queue's "claimed by".
pub async fn reviewer_label(repo: &dyn Repo, reviewer: &str) -> Result<String, CertifyError> {
    Names::new(repo, Audience::Staff)
        .label(&format!("reviewer:{reviewer}"))
        .await
}

struct Names<'a> {
    repo: &'a dyn Repo,
    audience: Audience,
    tokens: HashMap<Uuid, String>,
}

impl<'a> Names<'a> {
    fn new(repo: &'a dyn Repo, audience: Audience) -> Self {
        Names {
            repo,
            audience,
            tokens: HashMap::new(),
        }
    }

    /// `system` → "pitchgrade"; `reviewer:<role>:<token id>` → "Rita
    /// (reviewer)" (or "a reviewer" for the rep); anything else as written.
    async fn label(&mut self, actor: &str) -> Result<String, CertifyError> {
        if actor == SYSTEM {
            return Ok("pitchgrade".into());
        }
        if actor.starts_with("sweep") {
            return Ok("pitchgrade (daily sweep)".into());
        }
        let Some(who) = actor.strip_prefix("reviewer:") else {
            return Ok(actor.to_string());
        };
        if self.audience == Audience::Rep {
            return Ok("a reviewer".into());
        }
        let Some((role, id)) = who.split_once(':') else {
            // The bootstrap admin has no token.
            return Ok(format!("{who} (reviewer)"));
        };
        let Ok(id) = id.parse::<Uuid>() else {
            return Ok(format!("{who} (reviewer)"));
        };
        if let Some(label) = self.tokens.get(&id) {
            return Ok(label.clone());
        }
        let name = self
            .repo
            .get_token(id)
            .await?
            .map(|t| t.display_name)
            .filter(|n| !n.is_empty());
        let label = match name {
            Some(name) => format!("{name} ({role})"),
            // An unnamed token: say which, so the operator can find it.
            None => format!("{role} token {}", &id.simple().to_string()[..8]),
        };
        self.tokens.insert(id, label.clone());
        Ok(label)
    }
}

fn text<'e>(entry: &'e AuditEntry, key: &str) -> Option<&'e str> {
    entry.detail.get(key).and_then(|v| v.as_str())
}

/// One sentence for an audit line, or `None` for bookkeeping nobody reads
/// (a reminder folded into another).
fn sentence(entry: &AuditEntry) -> Option<String> {
    let track = entry.track.as_deref().unwrap_or("its");
    let quoted = |key: &str| {
        text(entry, key)
            .map(|r| format!(": \u{201c}{r}\u{201d}"))
            .unwrap_or_default()
    };
    Some(match entry.action.as_str() {
        "review.queued" => {
            let reasons: Vec<&str> = entry
                .detail
                .get("reasons")
                .and_then(|r| r.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|r| r.get("message").and_then(|m| m.as_str()))
                        .filter(|m| !m.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            if reasons.is_empty() {
                "sent the grade to a reviewer".into()
            } else {
                format!("sent the grade to a reviewer: {}", reasons.join("; "))
            }
        }
        "review.claimed" => "claimed the review".into(),
        "review.override" => match text(entry, "criterion") {
            Some(criterion) => format!(
                "changed {criterion} from {} to {}{}",
                text(entry, "machine").unwrap_or("the machine's verdict"),
                text(entry, "reviewer").unwrap_or("another verdict"),
                quoted("reason"),
            ),
            None => format!(
                "overrode the machine's {} with {}",
                text(entry, "machine").unwrap_or("lean"),
                text(entry, "reviewer").unwrap_or("another decision"),
            ),
        },
        "review.decided" => format!(
            "decided {}{}",
            text(entry, "decision").unwrap_or("the review"),
            quoted("reason"),
        ),
        "decision.recorded" => {
            let outcome = text(entry, "outcome").unwrap_or("recorded");
            match text(entry, "source") {
                Some("review") => format!("recorded the final decision: {outcome} (by review)"),
                _ => format!("recorded the final decision: {outcome}"),
            }
        }
        "certification.issued" => match text(entry, "expires_at") {
            Some(until) => format!(
                "certified the rep on the {track} track until {}",
                day(until)
            ),
            None => format!("certified the rep on the {track} track"),
        },
        "certification.renewed" => match text(entry, "expires_at") {
            Some(until) => format!("renewed the {track} certification until {}", day(until)),
            None => format!("renewed the {track} certification"),
        },
        "certification.blocked" => format!(
            "did not certify on the {track} track{}",
            match (text(entry, "reason"), text(entry, "base")) {
                (Some("missing_base"), Some(base)) => {
                    format!(": it needs a valid {base} certification first")
                }
                (Some(reason), _) => format!(": {}", reason.replace('_', " ")),
                _ => String::new(),
            }
        ),
        "rights.granted" => format!("granted {}", right(entry)),
        "rights.restored" => format!("restored {}", right(entry)),
        "rights.paused" => format!("paused {}", right(entry)),
        "grade.replayed" => {
            let num = |key: &str| entry.detail.get(key).and_then(|v| v.as_f64());
            let version = |key: &str| {
                entry
                    .detail
                    .get(key)
                    .and_then(|v| v.as_u64())
                    .map_or_else(String::new, |v| format!(" v{v}"))
            };
            format!(
                "re-scored it with rubric{} (a replay; it was graded with{}): {} {:.1} then, {} {:.1} now; the decision and any certification stay as they were",
                version("to_version"),
                version("from_version"),
                text(entry, "decision_before").unwrap_or("?"),
                num("score_before").unwrap_or_default(),
                text(entry, "decision_after").unwrap_or("?"),
                num("score_after").unwrap_or_default(),
            )
        }
        "certification.reminder_skipped" => return None,
        other => other.replace(['.', '_'], " "),
    })
}

fn right(entry: &AuditEntry) -> String {
    match &entry.right {
        Some(r) => format!("the {r} right"),
        None => "a right".into(),
    }
}

/// `2027-03-01T…` → `2027-03-01`.
fn day(instant: &str) -> &str {
    instant.get(..10).unwrap_or(instant)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(action: &str, detail: serde_json::Value) -> AuditEntry {
        AuditEntry {
            seq: 1,
            at: Utc::now(),
            recorded_at: Utc::now(),
            actor: SYSTEM.into(),
            action: action.into(),
            rep_id: Some("alice".into()),
            track: Some("sales".into()),
            right: Some("selling".into()),
            certification_id: None,
            submission_id: None,
            review_id: None,
            detail,
        }
    }

    #[test]
    fn each_step_reads_as_a_sentence() {
        let cases = [
            (
                entry(
                    "review.queued",
                    json!({"reasons": [{"code": "band", "message": "score 72.0 is within 5 of the bar"}]}),
                ),
                "sent the grade to a reviewer: score 72.0 is within 5 of the bar",
            ),
            (
                entry(
                    "review.override",
                    json!({"criterion": "price", "machine": "partial", "reviewer": "met", "reason": "answered"}),
                ),
                "changed price from partial to met: \u{201c}answered\u{201d}",
            ),
            (
                entry(
                    "review.decided",
                    json!({"decision": "pass", "reason": "clear next step"}),
                ),
                "decided pass: \u{201c}clear next step\u{201d}",
            ),
            (
                entry(
                    "certification.issued",
                    json!({"expires_at": "2027-12-02T10:00:00Z"}),
                ),
                "certified the rep on the sales track until 2027-12-02",
            ),
            (
                entry("rights.granted", json!({})),
                "granted the selling right",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(sentence(&e).as_deref(), Some(want), "{}", e.action);
        }
        assert_eq!(
            sentence(&entry("certification.reminder_skipped", json!({}))),
            None
        );
    }
}
