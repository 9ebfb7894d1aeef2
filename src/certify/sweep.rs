//! The scheduled sweep: finishes grades left without a certification effect,
//! records lapses (expiry and the rights it paused, at the exact expiry
//! instant), and sends reminders when due.
//!
//! One runner at a time across every process: the sweep holds a lease row in
//! the database, renewed between batches; a process that finds it held skips
//! its turn. Every write is also idempotent on its own (idempotency keys and
//! ledger versions), so even a runner whose lease expired mid-pass cannot
//! double an event. The clock is the caller's `now`, so tests run a year of
//! sweeps in a second.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::lifecycle::{apply_decision, expire_lapsed, remind, Plan};
use super::program::Program;
use super::CertifyError;
use crate::store::db::certification::{CertFilter, CertPages, CertStatus};
use crate::store::Repo;

pub const LEASE_NAME: &str = "certify-sweep";
/// Long enough for a large pass; renewed between batches, so a crashed runner
/// blocks the next for at most this long.
pub const LEASE_TTL: Duration = Duration::from_secs(300);
const BATCH: u32 = 500;
/// Bounds one pass; whatever is left waits for the next.
const MAX_BATCHES: usize = 200;

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// False when another process held the sweep lease.
    pub ran: bool,
    /// Grades given their missing certification effect.
    pub reconciled: usize,
    pub expired: usize,
    pub reminders: usize,
    /// Items that failed (logged); they are retried on the next pass.
    pub errors: usize,
    /// The lease was lost mid-pass (another runner took over); the pass stopped.
    pub lease_lost: bool,
}

/// One pass of the sweep as `owner` (a stable id per process, e.g. host:pid).
pub async fn run(
    repo: &dyn Repo,
    program: &Program,
    owner: &str,
    now: DateTime<Utc>,
) -> Result<SweepReport, CertifyError> {
    let mut report = SweepReport::default();
    if !repo.try_lease(LEASE_NAME, owner, LEASE_TTL, now).await? {
        return Ok(report);
    }
    report.ran = true;
    let result = pass(repo, program, owner, now, &mut report).await;
    // Let the next pass (here or elsewhere) start without waiting out the lease.
    let released = repo.release_lease(LEASE_NAME, owner).await;
    result?;
    released?;
    Ok(report)
}

async fn pass(
    repo: &dyn Repo,
    program: &Program,
    owner: &str,
    now: DateTime<Utc>,
    report: &mut SweepReport,
) -> Result<(), CertifyError> {
    let actor = "sweep";
    // 1. Grades a crashed worker left without their effect.
    for _ in 0..MAX_BATCHES {
        let ids = repo.unapplied_grades(BATCH).await?;
        let mut progressed = false;
        for id in &ids {
            match apply_decision(repo, program, *id, now).await {
                Ok(_) => {
                    report.reconciled += 1;
                    progressed = true;
                }
                Err(e) => {
                    report.errors += 1;
                    tracing::warn!(submission = %id, error = %e, "sweep: applying a grade failed");
                }
            }
        }
        if ids.len() < BATCH as usize || !progressed || !renew(repo, owner, now, report).await? {
            break;
        }
    }
    if report.lease_lost {
        return Ok(());
    }

    // 2. Lapses, by rep: one plan records all of a rep's expiries in order.
    for _ in 0..MAX_BATCHES {
        let lapsed = repo
            .list_certifications(
                &CertFilter {
                    status: Some(CertStatus::Valid),
                    expires_by: Some(now),
                    ..CertFilter::default()
                },
                BATCH,
            )
            .await?;
        // One lapsing certification per rep names it in the log: rep ids are
        // personal data and stay out of logs, which an erasure cannot reach.
        let reps: BTreeMap<&str, uuid::Uuid> =
            lapsed.iter().map(|c| (c.rep_id.as_str(), c.id)).collect();
        let mut progressed = false;
        for (rep, certification) in &reps {
            match expire_lapsed(repo, program, rep, actor, now).await {
                Ok(n) => {
                    report.expired += n;
                    progressed |= n > 0;
                }
                Err(e) => {
                    report.errors += 1;
                    tracing::warn!(certification_id = %certification, error = %e, "sweep: recording a lapse failed");
                }
            }
        }
        if lapsed.len() < BATCH as usize || !progressed || !renew(repo, owner, now, report).await? {
            break;
        }
    }
    if report.lease_lost {
        return Ok(());
    }

    // 3. Reminders: certifications inside the largest reminder window.
    let mut pages = reminder_pages(program, now);
    for _ in 0..MAX_BATCHES {
        let Some(page) = pages.next(repo).await? else {
            break;
        };
        for cert in &page {
            let due = program.track(&cert.track).is_some_and(|t| {
                t.reminder_days.iter().any(|&d| {
                    cert.expires_at - TimeDelta::days(i64::from(d)) <= now
                        && cert.reminded_days.is_none_or(|done| d < done)
                })
            });
            if !due || cert.expires_at <= now {
                continue;
            }
            match remind(repo, program, &cert.rep_id, cert.id, actor, now).await {
                Ok(Some(_)) => report.reminders += 1,
                Ok(None) => {}
                Err(e) => {
                    report.errors += 1;
                    tracing::warn!(certification = %cert.id, error = %e, "sweep: a reminder failed");
                }
            }
        }
        if pages.exhausted() || !renew(repo, owner, now, report).await? {
            break;
        }
    }
    Ok(())
}

/// Valid certifications inside the largest reminder window at `now`: every
/// one a reminder or a lapse could be due for.
fn reminder_pages(program: &Program, now: DateTime<Utc>) -> CertPages {
    let horizon = program
        .tracks
        .values()
        .map(|t| t.window_days())
        .max()
        .unwrap_or(0);
    CertPages::new(
        CertFilter {
            status: Some(CertStatus::Valid),
            expires_by: Some(now + TimeDelta::days(i64::from(horizon))),
            ..CertFilter::default()
        },
        BATCH,
    )
}

/// Extends the lease between batches; false (and `lease_lost`) when another
/// runner has it now.
async fn renew(
    repo: &dyn Repo,
    owner: &str,
    now: DateTime<Utc>,
    report: &mut SweepReport,
) -> Result<bool, CertifyError> {
    let held = repo.try_lease(LEASE_NAME, owner, LEASE_TTL, now).await?;
    report.lease_lost |= !held;
    Ok(held)
}

/// What a pass at `now` would do, written nowhere: for operators who want to
/// see the lifecycle (`pitchgrade sweep --at DATE`) without waiting a year.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SweepPreview {
    pub at: DateTime<Utc>,
    /// Grades a crashed worker left without their certification effect; a
    /// real pass would apply them first.
    pub unapplied_grades: usize,
    /// The events the pass would emit (expiries, paused rights, reminders),
    /// in the order it would emit them, as webhooks would carry them.
    pub events: Vec<PreviewEvent>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreviewEvent {
    pub kind: String,
    pub rep_id: String,
    pub occurred_at: DateTime<Utc>,
    pub payload: serde_json::Value,
}

/// The same plans as [`run`] makes, from the same ledgers, without applying
/// them (so no lease is needed and nothing changes).
pub async fn preview(
    repo: &dyn Repo,
    program: &Program,
    now: DateTime<Utc>,
) -> Result<SweepPreview, CertifyError> {
    let actor = "sweep (dry run)";
    let mut preview = SweepPreview {
        at: now,
        unapplied_grades: repo.unapplied_grades(BATCH).await?.len(),
        events: Vec::new(),
    };
    let mut push = |rep: &str, events: Vec<crate::store::db::certification::NewEvent>| {
        preview
            .events
            .extend(events.into_iter().map(|e| PreviewEvent {
                kind: e.kind,
                rep_id: rep.to_string(),
                occurred_at: e.occurred_at,
                payload: e.payload,
            }));
    };
    let mut pages = reminder_pages(program, now);
    let mut lapsing: BTreeMap<String, ()> = BTreeMap::new();
    let mut reminding = Vec::new();
    for _ in 0..MAX_BATCHES {
        let Some(page) = pages.next(repo).await? else {
            break;
        };
        for cert in page {
            if cert.expires_at <= now {
                lapsing.insert(cert.rep_id.clone(), ());
            } else {
                reminding.push((cert.rep_id.clone(), cert.id));
            }
        }
        if pages.exhausted() {
            break;
        }
    }
    for rep in lapsing.keys() {
        let ledger = repo.rep_ledger(rep).await?;
        let mut plan = Plan::new(program, &ledger, now, actor);
        if plan.lapse_due() > 0 {
            push(rep, plan.finish().events);
        }
    }
    for (rep, cert) in reminding {
        let ledger = repo.rep_ledger(&rep).await?;
        let mut plan = Plan::new(program, &ledger, now, actor);
        if plan.remind_due(cert).is_some() && !plan.is_empty() {
            push(&rep, plan.finish().events);
        }
    }
    preview.events.sort_by(|a, b| {
        a.occurred_at
            .cmp(&b.occurred_at)
            .then(a.rep_id.cmp(&b.rep_id))
    });
    Ok(preview)
}
