//! The questions other systems ask: can this rep sell? What tier is this firm,
//! and how much of it is certified?
//!
//! Answers are computed at the instant asked from valid certifications, so a
//! lapse counts from its exact expiry even if the sweep has not run yet.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::program::Program;
use super::rights;
use super::CertifyError;
use crate::store::db::certification::{CertFilter, Certification, Rep, MAX_LIST};
use crate::store::Repo;

/// One right a rep holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeldRight {
    pub right: String,
    /// Tracks whose valid certification gives it.
    pub tracks: Vec<String>,
    /// When it lapses unless renewed (the latest expiry among those tracks).
    pub until: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RepRights {
    pub rep_id: String,
    pub at: DateTime<Utc>,
    pub rights: Vec<HeldRight>,
    /// Rights the rep held before and that are paused now.
    pub paused: Vec<String>,
    pub certifications: Vec<Certification>,
}

impl RepRights {
    pub fn has(&self, right: &str) -> bool {
        self.rights.iter().any(|r| r.right == right)
    }
}

pub async fn rights_of(
    repo: &dyn Repo,
    program: &Program,
    rep_id: &str,
    now: DateTime<Utc>,
) -> Result<RepRights, CertifyError> {
    let ledger = repo.rep_ledger(rep_id).await?;
    let certs = ledger.certifications;
    let held = rights::held_at(program, &certs, now);
    let rights = held
        .into_iter()
        .map(|(right, tracks)| {
            let until = certs
                .iter()
                .filter(|c| tracks.contains(&c.track))
                .map(|c| c.expires_at)
                .max()
                .unwrap_or(now);
            HeldRight {
                right,
                tracks,
                until,
            }
        })
        .collect::<Vec<_>>();
    // Paused: held once (in the log) and not held now — including a lapse the
    // sweep has not recorded yet.
    let mut paused: Vec<String> = ledger
        .paused_rights
        .into_iter()
        .filter(|r| !rights.iter().any(|h| &h.right == r))
        .collect();
    for c in &certs {
        if !rights::effective_at(program, &certs, c, now) {
            for r in program.rights_of(&c.track) {
                if !rights.iter().any(|h| &h.right == r) && !paused.contains(r) {
                    paused.push(r.clone());
                }
            }
        }
    }
    paused.sort();
    Ok(RepRights {
        rep_id: rep_id.to_string(),
        at: now,
        rights,
        paused,
        certifications: certs,
    })
}

/// "Can rep X do `right`?"
pub async fn can(
    repo: &dyn Repo,
    program: &Program,
    rep_id: &str,
    right: &str,
    now: DateTime<Utc>,
) -> Result<bool, CertifyError> {
    Ok(rights_of(repo, program, rep_id, now).await?.has(right))
}

/// Certified share of a firm's active reps in one role for one track.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coverage {
    pub track: String,
    pub role: String,
    pub eligible: u32,
    pub certified: u32,
    /// `certified / eligible`, 0 when the firm has nobody in the role.
    pub coverage: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleStatus {
    pub tier: String,
    pub track: String,
    pub role: String,
    pub min_certified: u32,
    pub min_coverage: f64,
    pub certified: u32,
    pub coverage: f64,
    pub met: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FirmStanding {
    pub firm_id: String,
    pub at: DateTime<Utc>,
    /// The highest tier whose rules all hold; `None` below every tier.
    pub tier: Option<String>,
    pub coverage: Vec<Coverage>,
    /// Every tier rule with where the firm stands against it.
    pub rules: Vec<RuleStatus>,
}

pub async fn firm_standing(
    repo: &dyn Repo,
    program: &Program,
    firm_id: &str,
    now: DateTime<Utc>,
) -> Result<FirmStanding, CertifyError> {
    let reps = repo.list_reps(Some(firm_id)).await?;
    let certs = repo
        .list_certifications(
            &CertFilter {
                firm_id: Some(firm_id.to_string()),
                ..CertFilter::default()
            },
            MAX_LIST,
        )
        .await?;
    Ok(standing(program, firm_id, &reps, &certs, now))
}

/// A firm's standing at `at` from its reps and their certifications.
pub fn standing(
    program: &Program,
    firm_id: &str,
    reps: &[Rep],
    certs: &[Certification],
    at: DateTime<Utc>,
) -> FirmStanding {
    let mut by_rep: BTreeMap<&str, Vec<Certification>> = BTreeMap::new();
    for c in certs {
        by_rep.entry(c.rep_id.as_str()).or_default().push(c.clone());
    }
    let empty = Vec::new();
    let measure = |track: &str, role: &str| -> (u32, u32) {
        let mut eligible = 0;
        let mut certified = 0;
        for rep in reps
            .iter()
            .filter(|r| r.firm_id == firm_id && r.active && r.role == role)
        {
            eligible += 1;
            let mine = by_rep.get(rep.id.as_str()).unwrap_or(&empty);
            if mine
                .iter()
                .any(|c| c.track == track && rights::effective_at(program, mine, c, at))
            {
                certified += 1;
            }
        }
        (eligible, certified)
    };
    let share = |certified: u32, eligible: u32| {
        if eligible == 0 {
            0.0
        } else {
            f64::from(certified) / f64::from(eligible)
        }
    };
    let coverage = program
        .tracks
        .values()
        .map(|t| {
            let (eligible, certified) = measure(&t.id, t.role());
            Coverage {
                track: t.id.clone(),
                role: t.role().to_string(),
                eligible,
                certified,
                coverage: share(certified, eligible),
            }
        })
        .collect();
    let mut rules = Vec::new();
    let mut tier = None;
    for t in &program.tiers {
        let mut all = true;
        for rule in &t.requirements {
            let role = rule.role.clone().unwrap_or_default();
            let (eligible, certified) = measure(&rule.track, &role);
            let coverage = share(certified, eligible);
            let met = certified >= rule.min_certified && coverage >= rule.min_coverage;
            all &= met;
            rules.push(RuleStatus {
                tier: t.name.clone(),
                track: rule.track.clone(),
                role,
                min_certified: rule.min_certified,
                min_coverage: rule.min_coverage,
                certified,
                coverage,
                met,
            });
        }
        if all && tier.is_none() {
            tier = Some(t.name.clone());
        }
    }
    FirmStanding {
        firm_id: firm_id.to_string(),
        at,
        tier,
        coverage,
        rules,
    }
}

/// Position of a tier (0 = highest); below every tier ranks last.
pub fn tier_rank(program: &Program, tier: Option<&str>) -> usize {
    tier.and_then(|t| program.tiers.iter().position(|x| x.name == t))
        .unwrap_or(program.tiers.len())
}

/// A firm that would fall to a lower tier within the horizon if nobody renewed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierDrop {
    pub firm_id: String,
    pub tier_now: Option<String>,
    pub tier_after: Option<String>,
    /// The first instant at which the firm is below its current tier.
    pub drops_at: DateTime<Utc>,
    /// The reps whose certifications lapse by then, so the firm knows whom
    /// to get renewed ("if these 2 reps lapse, the firm drops from gold").
    pub lapsing_reps: Vec<String>,
}

/// When, within `days`, the firm first drops below its current tier if no
/// certification is renewed: replays its certifications' expiries in order.
pub fn forecast_drop(
    program: &Program,
    firm_id: &str,
    reps: &[Rep],
    certs: &[Certification],
    now: DateTime<Utc>,
    days: u32,
) -> Option<TierDrop> {
    let current = standing(program, firm_id, reps, certs, now).tier;
    let rank = tier_rank(program, current.as_deref());
    let horizon = now + TimeDelta::days(i64::from(days));
    let mut expiries: Vec<DateTime<Utc>> = certs
        .iter()
        .filter(|c| c.is_valid_at(now) && c.expires_at <= horizon)
        .map(|c| c.expires_at)
        .collect();
    expiries.sort();
    expiries.dedup();
    for t in expiries {
        let after = standing(program, firm_id, reps, certs, t).tier;
        if tier_rank(program, after.as_deref()) > rank {
            let mut lapsing_reps: Vec<String> = certs
                .iter()
                .filter(|c| c.is_valid_at(now) && c.expires_at <= t)
                .map(|c| c.rep_id.clone())
                .collect();
            lapsing_reps.sort();
            lapsing_reps.dedup();
            return Some(TierDrop {
                firm_id: firm_id.to_string(),
                tier_now: current,
                tier_after: after,
                drops_at: t,
                lapsing_reps,
            });
        }
    }
    None
}
