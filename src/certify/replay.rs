//! What a rubric change would do, before it ships: re-score the stored
//! transcripts and audio figures of past submissions with the new file and the
//! chosen judge (no transcription again), and compare with what they got.
//!
//! Enablement edits rubrics every quarter; a change that quietly moves a third
//! of the reps across the bar is found here rather than by the reps. The diff
//! is in the program's terms: decisions that change (pass→fail, fail→pass, into
//! and out of review) with the criteria that flipped and the new judge's
//! reason, how scores shift, the first-attempt pass rate against the healthy
//! band before and after, and which certifications and firm tiers it would move.
//!
//! The rule for certifications is fixed and said in every replay: **a replay
//! never changes a certification**. It does not fail a certified rep
//! retroactively, and it issues none (a rep who would now pass earns it with an
//! attempt, or a reviewer's decision). `--apply` stores the re-scored grades as
//! grade versions beside the originals, with an audit line each, and nothing else.
//!
//! Replayed with the file already in use and another judge, the same diff is
//! a judge-versus-judge comparison on real pitches (`criteria` agreement).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::calibration::CalibrationPolicy;
use super::gating;
use super::program::Program;
use super::reports::{self, BandHealth, Rate, HEALTHY_BAND};
use super::CertifyError;
use crate::pipeline::delivery_input;
use crate::pipeline::stored::StoredGrade;
use crate::rubric::LoadedRubric;
use crate::score::agreement::cohen_kappa;
use crate::score::decide::{Decision, Verdict};
use crate::score::judge::Judge;
use crate::score::{grade, Grade};
use crate::store::db::certification::{
    all_certifications, CertFilter, Certification, GradeVersion, NewGradeVersion, Outcome,
};
use crate::store::db::{GradedFilter, MAX_PAGE};
use crate::store::Repo;

/// The rule a replay applies to certifications, as printed with every diff.
pub const CERTIFICATION_RULE: &str =
    "a replay never changes a certification: no certified rep is failed retroactively and none is issued; --apply stores the re-scored grades beside the originals";

#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    /// Only submissions made at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only this firm's reps.
    pub firm: Option<String>,
    /// Stop after this many grades (the newest beyond it are left out and the
    /// replay says so). `None`: every one.
    pub max_grades: Option<u32>,
}

/// One side of a replayed grade.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Side {
    pub decision: Decision,
    pub score: f64,
    pub rubric_version: u32,
}

/// A criterion whose verdict the replay changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flip {
    pub criterion: String,
    pub before: Verdict,
    pub after: Verdict,
    /// The new judge's reason, in a sentence.
    pub why: String,
}

/// A past submission whose machine decision the replay changes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Changed {
    pub submission_id: Uuid,
    pub rep_id: String,
    pub submitted_at: DateTime<Utc>,
    pub before: Side,
    pub after: Side,
    /// The decision the rep lives with today (a reviewer's, for a borderline
    /// grade); `None` while none is final.
    pub final_outcome: Option<Outcome>,
    pub flips: Vec<Flip>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transition {
    pub from: Decision,
    pub to: Decision,
    pub count: u32,
}

/// How scores moved, new minus old, in points.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ScoreShift {
    pub mean: f64,
    pub min: f64,
    pub p10: f64,
    pub median: f64,
    pub p90: f64,
    pub max: f64,
    /// Grades whose score moved by more than 5 points either way.
    pub moved_over_5: u32,
}

/// The first-attempt pass rate before and after, against the healthy band.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FirstAttemptShift {
    pub band: (f64, f64),
    pub before: Rate,
    pub after: Rate,
    pub health_before: BandHealth,
    pub health_after: BandHealth,
}

/// Per criterion, how often the old and the new verdicts agree.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriterionShift {
    pub criterion: String,
    pub agreement: Rate,
    pub kappa: Option<f64>,
    pub met_before: u32,
    pub met_after: u32,
}

/// A certification the new grades would argue against (or for).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CertificationImpact {
    pub rep_id: String,
    pub track: String,
    /// `would_lose`: certified, and the attempt that certified them would now
    /// fail; `would_gain`: not certified, and their latest attempt would now pass.
    pub change: &'static str,
    pub submission_id: Uuid,
    /// Whether the replay changes it: never (see [`CERTIFICATION_RULE`]).
    pub applied: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierImpact {
    pub firm_id: String,
    pub before: Option<String>,
    /// The tier had every impact above been applied.
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    pub submission_id: Uuid,
    pub reason: String,
}

/// The whole diff.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Replay {
    pub rubric_id: String,
    pub new_version: u32,
    pub new_sha256: String,
    /// The rubric versions the replayed grades were made with.
    pub old_versions: BTreeSet<u32>,
    pub judge: String,
    pub judge_model: String,
    pub since: Option<DateTime<Utc>>,
    pub firm: Option<String>,
    pub replayed: u32,
    /// More grades matched than `max_grades`; the newest were left out.
    pub truncated: bool,
    pub skipped: Vec<Skipped>,
    /// Every (before, after) pair of machine decisions, changed or not.
    pub transitions: Vec<Transition>,
    pub changed: Vec<Changed>,
    pub score_shift: Option<ScoreShift>,
    pub first_attempt: FirstAttemptShift,
    pub criteria: Vec<CriterionShift>,
    pub certifications: Vec<CertificationImpact>,
    pub tiers: Vec<TierImpact>,
    pub rule: &'static str,
    /// The re-scored grades, for `--apply`.
    #[serde(skip)]
    pub grades: Vec<ReplayedGrade>,
}

/// One re-scored grade, as `--apply` stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayedGrade {
    pub submission_id: Uuid,
    pub rep_id: String,
    pub before: Side,
    pub after: Grade,
}

impl Replay {
    /// How many grades went from `from` to `to`.
    pub fn count(&self, from: Decision, to: Decision) -> u32 {
        self.transitions
            .iter()
            .find(|t| t.from == from && t.to == to)
            .map_or(0, |t| t.count)
    }
}

/// What one stored grade became.
struct Rescored {
    submission_id: Uuid,
    rep_id: String,
    submitted_at: DateTime<Utc>,
    before: Side,
    before_criteria: Vec<(String, Verdict)>,
    after: Grade,
    final_outcome: Option<Outcome>,
}

/// Re-scores every matching stored grade of `rubric`'s id with `rubric` and
/// `judge`, and computes the diff. Reads only; [`apply`] writes.
pub async fn replay(
    repo: &dyn Repo,
    program: Option<&Program>,
    rubric: &LoadedRubric,
    judge: &dyn Judge,
    options: &ReplayOptions,
    now: DateTime<Utc>,
) -> Result<Replay, CertifyError> {
    let filter = GradedFilter {
        rubric_id: rubric.rubric.id.clone(),
        since: options.since,
        firm_id: options.firm.clone(),
    };
    let max = options.max_grades.unwrap_or(u32::MAX);
    let mut rescored = Vec::new();
    let mut skipped = Vec::new();
    let mut after = None;
    let mut truncated = false;
    'pages: loop {
        let page = repo.graded_of_rubric(&filter, after, MAX_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some((last.1, last.0));
        for (id, _) in page {
            if rescored.len() + skipped.len() >= max as usize {
                truncated = true;
                break 'pages;
            }
            match rescore(repo, rubric, judge, id).await? {
                Ok(r) => rescored.push(r),
                Err(reason) => skipped.push(Skipped {
                    submission_id: id,
                    reason,
                }),
            }
        }
    }
    let certs = match program {
        Some(_) => all_certifications(repo, CertFilter::default()).await?,
        None => Vec::new(),
    };
    let (certifications, tiers) = match program {
        Some(p) => impacts(repo, p, &rubric.rubric.id, &rescored, &certs, now).await?,
        None => (Vec::new(), Vec::new()),
    };
    let policy = program.map_or_else(CalibrationPolicy::default, |p| p.calibration.clone());
    Ok(diff(
        rubric,
        judge,
        options,
        rescored,
        skipped,
        truncated,
        &policy,
        certifications,
        tiers,
    ))
}

/// One stored grade re-scored, or why it cannot be.
async fn rescore(
    repo: &dyn Repo,
    rubric: &LoadedRubric,
    judge: &dyn Judge,
    id: Uuid,
) -> Result<Result<Rescored, String>, CertifyError> {
    let Some(view) = repo.get_submission(id).await? else {
        return Ok(Err("the submission is gone".into()));
    };
    let Some(record) = view.grade else {
        return Ok(Err("the submission has no grade".into()));
    };
    let stored = match StoredGrade::from_json(&record.grade) {
        Ok(s) => s,
        Err(e) => return Ok(Err(format!("the stored grade cannot be read: {e}"))),
    };
    let Some(transcript) = stored.transcript.as_ref() else {
        return Ok(Err(
            "no transcript is kept (deleted under the retention policy, or graded before transcripts were stored)".into(),
        ));
    };
    let delivery = stored.audio.as_ref().map(delivery_input);
    let new = grade(rubric, transcript, delivery.as_ref(), judge).await;
    let final_outcome = repo.decision_for(id).await?.map(|d| d.outcome);
    Ok(Ok(Rescored {
        submission_id: id,
        rep_id: view.submission.rep_id.clone(),
        submitted_at: view.submission.created_at,
        before: Side {
            decision: record.decision,
            score: record.score,
            rubric_version: stored.grade.rubric.version,
        },
        before_criteria: stored
            .grade
            .criteria
            .iter()
            .map(|c| (c.id.clone(), c.verdict))
            .collect(),
        after: new,
        final_outcome,
    }))
}

/// The outcome a grade leads to: its own pass or fail; a borderline one is a
/// reviewer's call, so the decision made today stands in for it when there is one.
fn outcome_of(decision: Decision, final_outcome: Option<Outcome>) -> Option<Outcome> {
    match decision {
        Decision::Pass => Some(Outcome::Pass),
        Decision::Fail => Some(Outcome::Fail),
        Decision::Borderline => final_outcome,
    }
}

#[allow(clippy::too_many_arguments)]
fn diff(
    rubric: &LoadedRubric,
    judge: &dyn Judge,
    options: &ReplayOptions,
    rescored: Vec<Rescored>,
    skipped: Vec<Skipped>,
    truncated: bool,
    policy: &CalibrationPolicy,
    certifications: Vec<CertificationImpact>,
    tiers: Vec<TierImpact>,
) -> Replay {
    let mut transitions: BTreeMap<(Decision, Decision), u32> = BTreeMap::new();
    let mut changed = Vec::new();
    let mut shifts = Vec::new();
    let mut pairs: BTreeMap<String, Vec<(Verdict, Verdict)>> = BTreeMap::new();
    for r in &rescored {
        *transitions
            .entry((r.before.decision, r.after.decision))
            .or_default() += 1;
        shifts.push(r.after.score - r.before.score);
        let mut flips = Vec::new();
        for c in &r.after.criteria {
            let Some((_, before)) = r.before_criteria.iter().find(|(id, _)| id == &c.id) else {
                continue; // a criterion the old rubric did not have
            };
            pairs
                .entry(c.id.clone())
                .or_default()
                .push((*before, c.verdict));
            if *before != c.verdict {
                flips.push(Flip {
                    criterion: c.id.clone(),
                    before: *before,
                    after: c.verdict,
                    why: c.rationale.clone(),
                });
            }
        }
        if r.before.decision != r.after.decision {
            changed.push(Changed {
                submission_id: r.submission_id,
                rep_id: r.rep_id.clone(),
                submitted_at: r.submitted_at,
                before: r.before,
                after: Side {
                    decision: r.after.decision,
                    score: r.after.score,
                    rubric_version: r.after.rubric.version,
                },
                final_outcome: r.final_outcome,
                flips,
            });
        }
    }

    // First attempts: each rep's earliest replayed submission.
    let mut first: BTreeMap<&str, &Rescored> = BTreeMap::new();
    for r in &rescored {
        first
            .entry(r.rep_id.as_str())
            .and_modify(|f| {
                if (r.submitted_at, r.submission_id) < (f.submitted_at, f.submission_id) {
                    *f = r;
                }
            })
            .or_insert(r);
    }
    let rate = |pick: &dyn Fn(&Rescored) -> Option<Outcome>| {
        let outcomes: Vec<Outcome> = first.values().filter_map(|r| pick(r)).collect();
        let passed = outcomes.iter().filter(|o| **o == Outcome::Pass).count();
        Rate::of(passed, outcomes.len())
    };
    let before = rate(&|r| r.final_outcome.or(outcome_of(r.before.decision, None)));
    let after = rate(&|r| outcome_of(r.after.decision, r.final_outcome));
    let first_attempt = FirstAttemptShift {
        band: HEALTHY_BAND,
        before,
        after,
        health_before: reports::health(before, policy.min_sample).0,
        health_after: reports::health(after, policy.min_sample).0,
    };

    let criteria = pairs
        .into_iter()
        .map(|(id, p)| CriterionShift {
            agreement: Rate::of(p.iter().filter(|(a, b)| a == b).count(), p.len()),
            kappa: cohen_kappa(&p),
            met_before: count(&p, |(a, _)| *a == Verdict::Met),
            met_after: count(&p, |(_, b)| *b == Verdict::Met),
            criterion: id,
        })
        .collect();
    let old_versions = rescored.iter().map(|r| r.before.rubric_version).collect();
    let grades = rescored
        .into_iter()
        .map(|r| ReplayedGrade {
            submission_id: r.submission_id,
            rep_id: r.rep_id,
            before: r.before,
            after: r.after,
        })
        .collect();
    Replay {
        rubric_id: rubric.rubric.id.clone(),
        new_version: rubric.rubric.version,
        new_sha256: rubric.sha256.clone(),
        old_versions,
        judge: judge.name().to_string(),
        judge_model: judge.model().to_string(),
        since: options.since,
        firm: options.firm.clone(),
        replayed: u32::try_from(shifts.len()).unwrap_or(u32::MAX),
        truncated,
        skipped,
        transitions: transitions
            .into_iter()
            .map(|((from, to), count)| Transition { from, to, count })
            .collect(),
        changed,
        score_shift: score_shift(&mut shifts),
        first_attempt,
        criteria,
        certifications,
        tiers,
        rule: CERTIFICATION_RULE,
        grades,
    }
}

fn count(pairs: &[(Verdict, Verdict)], f: impl Fn(&(Verdict, Verdict)) -> bool) -> u32 {
    u32::try_from(pairs.iter().filter(|p| f(p)).count()).unwrap_or(u32::MAX)
}

fn score_shift(shifts: &mut [f64]) -> Option<ScoreShift> {
    if shifts.is_empty() {
        return None;
    }
    shifts.sort_by(f64::total_cmp);
    let n = shifts.len();
    let at = |q: f64| shifts[((n - 1) as f64 * q).round() as usize];
    let round = |x: f64| (x * 10.0).round() / 10.0;
    Some(ScoreShift {
        mean: round(shifts.iter().sum::<f64>() / n as f64),
        min: round(shifts[0]),
        p10: round(at(0.1)),
        median: round(at(0.5)),
        p90: round(at(0.9)),
        max: round(shifts[n - 1]),
        moved_over_5: u32::try_from(shifts.iter().filter(|s| s.abs() > 5.0).count())
            .unwrap_or(u32::MAX),
    })
}

/// Certifications the new grades argue against or for, and the tiers their
/// firms would hold had they been applied (they are not: see the rule).
async fn impacts(
    repo: &dyn Repo,
    program: &Program,
    rubric_id: &str,
    rescored: &[Rescored],
    certs: &[Certification],
    now: DateTime<Utc>,
) -> Result<(Vec<CertificationImpact>, Vec<TierImpact>), CertifyError> {
    let Some(track) = program.track_for_rubric(rubric_id) else {
        return Ok((Vec::new(), Vec::new()));
    };
    let by_submission: BTreeMap<Uuid, &Rescored> =
        rescored.iter().map(|r| (r.submission_id, r)).collect();
    let mut out = Vec::new();
    let valid: Vec<&Certification> = certs
        .iter()
        .filter(|c| c.track == track.id && c.is_valid_at(now))
        .collect();
    for c in &valid {
        let Some(r) = by_submission.get(&c.submission_id) else {
            continue;
        };
        if outcome_of(r.after.decision, None) == Some(Outcome::Fail) {
            out.push(CertificationImpact {
                rep_id: c.rep_id.clone(),
                track: track.id.clone(),
                change: "would_lose",
                submission_id: c.submission_id,
                applied: false,
            });
        }
    }
    // Reps without a valid certification whose latest attempt would now pass.
    let mut latest: BTreeMap<&str, &Rescored> = BTreeMap::new();
    for r in rescored {
        latest
            .entry(r.rep_id.as_str())
            .and_modify(|l| {
                if (r.submitted_at, r.submission_id) > (l.submitted_at, l.submission_id) {
                    *l = r;
                }
            })
            .or_insert(r);
    }
    for (rep, r) in latest {
        let certified = valid.iter().any(|c| c.rep_id == rep);
        let was_pass = r.final_outcome == Some(Outcome::Pass);
        if !certified && !was_pass && r.after.decision == Decision::Pass {
            out.push(CertificationImpact {
                rep_id: rep.to_string(),
                track: track.id.clone(),
                change: "would_gain",
                submission_id: r.submission_id,
                applied: false,
            });
        }
    }

    // The tiers of the firms of the reps concerned, with and without.
    let mut tiers = Vec::new();
    let reps = repo.list_reps(None).await?;
    let firms: BTreeSet<&str> = out
        .iter()
        .filter_map(|i| reps.iter().find(|r| r.id == i.rep_id))
        .map(|r| r.firm_id.as_str())
        .collect();
    for firm in firms {
        let firm_reps: Vec<_> = reps.iter().filter(|r| r.firm_id == firm).cloned().collect();
        let ids: BTreeSet<&str> = firm_reps.iter().map(|r| r.id.as_str()).collect();
        let now_certs: Vec<Certification> = certs
            .iter()
            .filter(|c| ids.contains(c.rep_id.as_str()))
            .cloned()
            .collect();
        let mut then_certs: Vec<Certification> = now_certs
            .iter()
            .filter(|c| {
                !out.iter()
                    .any(|i| i.change == "would_lose" && i.rep_id == c.rep_id && i.track == c.track)
            })
            .cloned()
            .collect();
        for gain in out
            .iter()
            .filter(|i| i.change == "would_gain" && ids.contains(i.rep_id.as_str()))
        {
            then_certs.push(hypothetical(gain, rubric_id, now));
        }
        let before = gating::standing(program, firm, &firm_reps, &now_certs, now).tier;
        let after = gating::standing(program, firm, &firm_reps, &then_certs, now).tier;
        if before != after {
            tiers.push(TierImpact {
                firm_id: firm.to_string(),
                before,
                after,
            });
        }
    }
    Ok((out, tiers))
}

/// The certification a would-be pass would give, to measure a firm's tier with it.
fn hypothetical(gain: &CertificationImpact, rubric_id: &str, now: DateTime<Utc>) -> Certification {
    Certification {
        id: Uuid::nil(),
        rep_id: gain.rep_id.clone(),
        track: gain.track.clone(),
        rubric_id: rubric_id.to_string(),
        rubric_version: None,
        status: crate::store::db::certification::CertStatus::Valid,
        first_issued_at: now,
        issued_at: now,
        expires_at: now + chrono::TimeDelta::days(365),
        renewals: 0,
        reminded_days: None,
        submission_id: gain.submission_id,
        updated_at: now,
    }
}

/// Stores every re-scored grade of `replay` as a grade version beside the
/// original, each with an audit line, and changes nothing else (see
/// [`CERTIFICATION_RULE`]). Returns how many were stored.
pub async fn apply(
    repo: &dyn Repo,
    replay: &Replay,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<usize, CertifyError> {
    let versions: Vec<NewGradeVersion> = replay
        .grades
        .iter()
        .map(|g| NewGradeVersion {
            version: GradeVersion {
                id: Uuid::now_v7(),
                submission_id: g.submission_id,
                rubric_id: g.after.rubric.id.clone(),
                rubric_version: g.after.rubric.version,
                rubric_sha256: g.after.rubric.sha256.clone(),
                judge: format!(
                    "{} ({})",
                    g.after.backends.judge, g.after.backends.judge_model
                ),
                decision: g.after.decision,
                score: g.after.score,
                summary: summary(&g.after),
                actor: actor.to_string(),
                created_at: now,
            },
            rep_id: g.rep_id.clone(),
            audit: serde_json::json!({
                "rubric_id": g.after.rubric.id,
                "from_version": g.before.rubric_version,
                "to_version": g.after.rubric.version,
                "decision_before": g.before.decision,
                "decision_after": g.after.decision,
                "score_before": g.before.score,
                "score_after": g.after.score,
                "judge": g.after.backends.judge,
                "rule": CERTIFICATION_RULE,
            }),
        })
        .collect();
    // A transaction per chunk keeps each one short on a large program.
    for chunk in versions.chunks(200) {
        repo.add_grade_versions(chunk).await?;
    }
    Ok(versions.len())
}

/// What a grade version keeps: verdicts and points, never the rep's words.
fn summary(g: &Grade) -> serde_json::Value {
    serde_json::json!({
        "decision": g.decision,
        "score": g.score,
        "pass_score": g.pass_score,
        "rubric": g.rubric,
        "backends": g.backends,
        "criteria": g.criteria.iter().map(|c| serde_json::json!({
            "id": c.id,
            "verdict": c.verdict,
            "score": c.score,
            "max": c.max,
            "required": c.required,
        })).collect::<Vec<_>>(),
        "reasons": g.reasons.iter().map(|r| r.code).collect::<Vec<_>>(),
    })
}

/// How a decision reads in a diff: review for a borderline grade.
pub fn decision_word(d: Decision) -> &'static str {
    match d {
        Decision::Pass => "pass",
        Decision::Fail => "fail",
        Decision::Borderline => "review",
    }
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Met => "met",
        Verdict::Partial => "partial",
        Verdict::Missed => "missed",
        Verdict::Unscored => "unscored",
    }
}

/// The diff for a terminal, most consequential first.
pub fn to_text(r: &Replay) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let pct = |x: &Rate| {
        x.rate.map_or_else(
            || "n/a".to_string(),
            |v| format!("{:.0}% ({}/{})", v * 100.0, x.count, x.total),
        )
    };
    let versions: Vec<String> = r.old_versions.iter().map(|v| format!("v{v}")).collect();
    let _ = writeln!(
        out,
        "Replay of {} v{} (sha256 {}) with the {} judge ({}) over {} stored grades ({}){}{}",
        r.rubric_id,
        r.new_version,
        r.new_sha256.get(..12).unwrap_or(&r.new_sha256),
        r.judge,
        r.judge_model,
        r.replayed,
        if versions.is_empty() {
            "none".to_string()
        } else {
            format!("graded with {}", versions.join(", "))
        },
        r.since
            .map_or_else(String::new, |s| format!(", since {}", s.format("%Y-%m-%d"))),
        r.firm
            .as_deref()
            .map_or_else(String::new, |f| format!(", firm {f}")),
    );
    if r.truncated {
        let _ = writeln!(
            out,
            "  (stopped at --max-grades: newer grades were not replayed)"
        );
    }
    let _ = writeln!(out, "decisions:");
    for t in &r.transitions {
        let mark = if t.from == t.to { "  " } else { "->" };
        let _ = writeln!(
            out,
            "  {mark} {:>6} -> {:<6} {}",
            decision_word(t.from),
            decision_word(t.to),
            t.count
        );
    }
    if let Some(s) = &r.score_shift {
        let _ = writeln!(
            out,
            "score shift (new - old, points): mean {:+.1}, min {:+.1}, p10 {:+.1}, median {:+.1}, p90 {:+.1}, max {:+.1}; {} moved more than 5",
            s.mean, s.min, s.p10, s.median, s.p90, s.max, s.moved_over_5
        );
    }
    let f = &r.first_attempt;
    let _ = writeln!(
        out,
        "first-attempt pass rate: {} before, {} after (healthy {:.0}-{:.0}%: {} -> {})",
        pct(&f.before),
        pct(&f.after),
        f.band.0 * 100.0,
        f.band.1 * 100.0,
        band_word(f.health_before),
        band_word(f.health_after)
    );
    let _ = writeln!(out, "changed decisions ({}):", r.changed.len());
    if r.changed.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for c in &r.changed {
        let _ = writeln!(
            out,
            "  {} {} ({}): {} {:.1} -> {} {:.1}{}",
            c.submitted_at.format("%Y-%m-%d"),
            c.rep_id,
            c.submission_id,
            decision_word(c.before.decision),
            c.before.score,
            decision_word(c.after.decision),
            c.after.score,
            c.final_outcome.map_or_else(String::new, |o| format!(
                " (final today: {})",
                if o == Outcome::Pass { "pass" } else { "fail" }
            ))
        );
        for flip in &c.flips {
            let _ = writeln!(
                out,
                "      {}: {} -> {}: {}",
                flip.criterion,
                verdict_word(flip.before),
                verdict_word(flip.after),
                flip.why
            );
        }
    }
    let _ = writeln!(out, "criteria, old verdict against new:");
    for c in &r.criteria {
        let _ = writeln!(
            out,
            "  {:<28} same {}, kappa {}, met {} -> {}",
            c.criterion,
            pct(&c.agreement),
            c.kappa
                .map_or_else(|| "n/a".to_string(), |k| format!("{k:.2}")),
            c.met_before,
            c.met_after
        );
    }
    let _ = writeln!(out, "certifications:");
    if r.certifications.is_empty() {
        let _ = writeln!(out, "  none would change");
    }
    for c in &r.certifications {
        let _ = writeln!(
            out,
            "  {} {} on {} (attempt {}): not applied",
            c.rep_id,
            c.change.replace('_', " "),
            c.track,
            c.submission_id
        );
    }
    for t in &r.tiers {
        let _ = writeln!(
            out,
            "  firm {}: tier {} -> {} if they were applied",
            t.firm_id,
            t.before.as_deref().unwrap_or("none"),
            t.after.as_deref().unwrap_or("none")
        );
    }
    let _ = writeln!(out, "rule: {}", r.rule);
    if !r.skipped.is_empty() {
        let _ = writeln!(out, "skipped ({}):", r.skipped.len());
        for s in &r.skipped {
            let _ = writeln!(out, "  {}: {}", s.submission_id, s.reason);
        }
    }
    out
}

fn band_word(h: BandHealth) -> &'static str {
    match h {
        BandHealth::Healthy => "healthy",
        BandHealth::TooEasy => "too easy",
        BandHealth::TooHard => "too hard",
        BandHealth::TooFewAttempts => "too few to judge",
    }
}

/// One row per replayed decision change and per criterion flip:
/// `submission_id,rep_id,submitted_at,before,after,score_before,score_after,criterion,verdict_before,verdict_after`.
pub fn to_csv(r: &Replay) -> String {
    use super::reports::csv;
    use std::fmt::Write as _;
    let mut out = String::from(
        "submission_id,rep_id,submitted_at,before,after,score_before,score_after,criterion,verdict_before,verdict_after\n",
    );
    for c in &r.changed {
        let head = format!(
            "{},{},{},{},{},{:.1},{:.1}",
            c.submission_id,
            csv(&c.rep_id),
            c.submitted_at.to_rfc3339(),
            decision_word(c.before.decision),
            decision_word(c.after.decision),
            c.before.score,
            c.after.score
        );
        if c.flips.is_empty() {
            let _ = writeln!(out, "{head},,,");
        }
        for f in &c.flips {
            let _ = writeln!(
                out,
                "{head},{},{},{}",
                csv(&f.criterion),
                verdict_word(f.before),
                verdict_word(f.after)
            );
        }
    }
    out
}
