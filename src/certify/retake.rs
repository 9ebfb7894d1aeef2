//! May this rep submit for this track now? And if not, from when?
//!
//! The API asks before accepting a submission. Rules, per track:
//! - a specialty needs a valid base-track certification;
//! - one attempt at a time: a submission still being graded or reviewed blocks the next;
//! - a rep already certified may renew once the reminder window opens;
//! - after a failed attempt, the cooldown;
//! - at most `max_attempts` attempts in any rolling `window_days` (then coaching).
//!
//! An attempt is a submission for one of the track's rubrics, except one that
//! failed for a technical reason (an unreadable file is not the rep's attempt).

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::program::{Offer, Program, RepProfile};
use super::CertifyError;
use crate::rubric::TrackKind;
use crate::store::db::certification::{Firm, Outcome, Rep};
use crate::store::db::{SubmissionStatus, MAX_PAGE};
use crate::store::Repo;

/// Why a rep may not submit now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Blocked {
    MissingBase { base: String },
    InProgress { submission_id: Uuid },
    AlreadyCertified { expires_at: DateTime<Utc> },
    Cooldown { failed_at: DateTime<Utc> },
    AttemptLimit { attempts: u32, window_days: u32 },
}

/// The answer, ready to serialise for the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetakeCheck {
    pub allowed: bool,
    pub track: String,
    /// The rubric (scenario) this rep gets for the track.
    pub rubric_id: String,
    /// When the rep may submit, if a date is known (none for a missing base or
    /// an attempt in progress: those wait on something else).
    pub next_allowed_at: Option<DateTime<Utc>>,
    /// Every rule that blocks, the one deciding `next_allowed_at` first.
    pub blocked_by: Vec<Blocked>,
    pub attempts_in_window: u32,
    pub max_attempts: u32,
    /// A sentence for the rep.
    pub message: String,
    /// Set when the track certifies another role than the roster gives this
    /// rep: the sentence intake refuses with (`track_not_open`). Read from the
    /// same roster entry as the scenario, so intake looks the rep up once.
    #[serde(skip)]
    pub not_open: Option<String>,
}

pub async fn check(
    repo: &dyn Repo,
    program: &Program,
    rep_id: &str,
    track_id: &str,
    now: DateTime<Utc>,
) -> Result<RetakeCheck, CertifyError> {
    let track = program
        .track(track_id)
        .ok_or_else(|| CertifyError::UnknownTrack(track_id.to_string()))?;
    let (rep, firm) = roster_entry(repo, rep_id).await?;
    let who = profile(&rep, &firm);
    let rubric_id = program
        .rubric_for(who, track_id)
        .unwrap_or(&track.rubric)
        .to_string();
    let not_open = (!program.open_to(who, track)).then(|| {
        format!(
            "The {} track certifies the {} role and the roster lists you as {}; ask your partner admin if that is wrong.",
            track.id,
            track.role(),
            who.role.unwrap_or("another role")
        )
    });
    let rubrics: Vec<&str> = std::iter::once(track.rubric.as_str())
        .chain(track.paths.iter().map(|p| p.rubric.as_str()))
        .collect();
    let ledger = repo.rep_ledger(rep_id).await?;
    let submissions: Vec<_> = repo
        .list_submissions(rep_id, MAX_PAGE)
        .await?
        .into_iter()
        .filter(|s| rubrics.contains(&s.rubric_id.as_str()))
        .collect();
    let decisions: Vec<_> = repo
        .list_decisions(Some(rep_id), None)
        .await?
        .into_iter()
        .filter(|d| d.track.as_deref() == Some(track_id))
        .collect();

    // (rule, the date it lifts, if it lifts by itself)
    let mut blocks: Vec<(Blocked, Option<DateTime<Utc>>)> = Vec::new();
    if let (TrackKind::Specialty, Some(base)) = (track.kind, &track.base) {
        if !ledger
            .certifications
            .iter()
            .any(|c| &c.track == base && c.is_valid_at(now))
        {
            blocks.push((Blocked::MissingBase { base: base.clone() }, None));
        }
    }
    if let Some(pending) = submissions.iter().find(|s| {
        matches!(
            s.status,
            SubmissionStatus::Queued | SubmissionStatus::Processing | SubmissionStatus::NeedsReview
        )
    }) {
        blocks.push((
            Blocked::InProgress {
                submission_id: pending.id,
            },
            None,
        ));
    }
    if let Some(cert) = ledger
        .certifications
        .iter()
        .find(|c| c.track == track_id && c.is_valid_at(now))
    {
        let opens = cert.expires_at - TimeDelta::days(i64::from(track.window_days()));
        if now < opens {
            blocks.push((
                Blocked::AlreadyCertified {
                    expires_at: cert.expires_at,
                },
                Some(opens),
            ));
        }
    }
    if let Some(last) = decisions.iter().max_by_key(|d| d.decided_at) {
        let until = last.decided_at + TimeDelta::days(i64::from(track.retake.cooldown_days));
        if last.outcome == Outcome::Fail && now < until {
            blocks.push((
                Blocked::Cooldown {
                    failed_at: last.decided_at,
                },
                Some(until),
            ));
        }
    }
    let window = TimeDelta::days(i64::from(track.retake.window_days));
    let mut in_window: Vec<DateTime<Utc>> = submissions
        .iter()
        .filter(|s| s.status != SubmissionStatus::Failed && s.created_at > now - window)
        .map(|s| s.created_at)
        .collect();
    in_window.sort();
    let attempts = u32::try_from(in_window.len()).unwrap_or(u32::MAX);
    let max = track.retake.max_attempts;
    if attempts >= max {
        // The attempt that must leave the window before one more fits.
        let k = (attempts - max) as usize;
        let until = in_window.get(k).map(|t| *t + window);
        blocks.push((
            Blocked::AttemptLimit {
                attempts,
                window_days: track.retake.window_days,
            },
            until,
        ));
    }

    // Rules without a date come first (nothing to wait out); then the latest date.
    blocks.sort_by_key(|(_, until)| {
        std::cmp::Reverse(until.map_or(i64::MAX, |t| t.timestamp_millis()))
    });
    let next_allowed_at = if blocks.iter().any(|(_, u)| u.is_none()) {
        None
    } else {
        blocks.first().and_then(|(_, u)| *u)
    };
    let message = message(blocks.first().map(|(b, _)| b), next_allowed_at, max);
    Ok(RetakeCheck {
        allowed: blocks.is_empty(),
        track: track_id.to_string(),
        rubric_id,
        next_allowed_at,
        blocked_by: blocks.into_iter().map(|(b, _)| b).collect(),
        not_open,
        attempts_in_window: attempts,
        max_attempts: max,
        message,
    })
}

/// The rubric (scenario) the program's adaptive paths give this rep on this
/// track: by their firm, then the firm's segment, else the track's default.
pub async fn scenario(
    repo: &dyn Repo,
    program: &Program,
    rep_id: &str,
    track_id: &str,
) -> Result<String, CertifyError> {
    let track = program
        .track(track_id)
        .ok_or_else(|| CertifyError::UnknownTrack(track_id.to_string()))?;
    let (rep, firm) = roster_entry(repo, rep_id).await?;
    Ok(program
        .rubric_for(profile(&rep, &firm), track_id)
        .unwrap_or(&track.rubric)
        .to_string())
}

/// The scenarios this rep may record (see [`Program::offered`]).
pub async fn offered(
    repo: &dyn Repo,
    program: &Program,
    rep_id: &str,
) -> Result<Vec<Offer>, CertifyError> {
    let (rep, firm) = roster_entry(repo, rep_id).await?;
    Ok(program.offered(profile(&rep, &firm)))
}

async fn roster_entry(
    repo: &dyn Repo,
    rep_id: &str,
) -> Result<(Option<Rep>, Option<Firm>), CertifyError> {
    let rep = repo.get_rep(rep_id).await?;
    let firm = match &rep {
        Some(r) => repo.get_firm(&r.firm_id).await?,
        None => None,
    };
    Ok((rep, firm))
}

fn profile<'a>(rep: &'a Option<Rep>, firm: &'a Option<Firm>) -> RepProfile<'a> {
    RepProfile {
        firm_id: rep.as_ref().map(|r| r.firm_id.as_str()),
        segment: firm.as_ref().and_then(|f| f.segment.as_deref()),
        role: rep.as_ref().map(|r| r.role.as_str()),
    }
}

fn message(first: Option<&Blocked>, at: Option<DateTime<Utc>>, max: u32) -> String {
    let when = at.map_or_else(String::new, |t| {
        format!(" from {}", t.format("%Y-%m-%d %H:%M UTC"))
    });
    match first {
        None => "You may submit now.".into(),
        Some(Blocked::MissingBase { base }) => {
            format!("This specialty needs a valid {base} certification first.")
        }
        Some(Blocked::InProgress { .. }) => {
            "Your last attempt is still being graded or reviewed; wait for its result.".into()
        }
        Some(Blocked::AlreadyCertified { .. }) => {
            format!("You are certified; renewal opens{when}.")
        }
        Some(Blocked::Cooldown { .. }) => {
            format!("Take time to work on the coaching from your last attempt; you can retake{when}.")
        }
        Some(Blocked::AttemptLimit { .. }) => format!(
            "You have used all {max} attempts for now; work through the coaching with your enablement team. You can try again{when}."
        ),
    }
}
