//! The certification program as the pages see it: [`ProgramPages`] over
//! `crate::certify`. Every answer comes from the module the API uses (review
//! queue, claim and decide, gating, retake checks, reports), so a page and an
//! API call never disagree about a rep's rights or a review's state.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Datelike, Days, NaiveDate, TimeDelta, Utc};
use uuid::Uuid;

use crate::certify::review::{self, CriterionInput, ReviewInput, ReviewOutcome};
use crate::certify::{audit_trail, gating, reports, retake, Program};
use crate::pipeline::stored::StoredGrade;
use crate::score::decide::Decision;
use crate::store::db::certification::{
    all_certifications, CertFilter, CertStatus, Outcome, Review,
};
use crate::store::db::Submission;
use crate::store::Repo;

use super::super::auth::Principal;
use super::super::error::WebError;
use super::super::program::{
    CertificationView, CriterionOverride, DashboardData, Expiring, FirmCoverageView, FirmOverview,
    FirmRep, OutcomeView, PeriodRate, ProgramPages, QueueItem, RepStanding, RetakeView,
    ReviewDecision, ReviewRecord, RightView, RubricRate, RubricVersionView, TierForecast,
    TrackCoverage,
};

/// How many weeks the charts over time cover.
const WEEKS: u32 = 12;
/// "Expiring soon" on the dashboard: the program's first reminder offset.
const EXPIRING_DAYS: i64 = 60;
/// How far ahead a firm's page forecasts its tier.
const FORECAST_DAYS: u32 = 60;
/// The review queue is a working list; more than this is a staffing problem
/// the dashboard shows, not a page to scroll.
const QUEUE_LIMIT: u32 = 200;

/// The configured certification program, for the pages.
pub struct CertifyProgram {
    repo: Arc<dyn Repo>,
    program: Arc<Program>,
}

impl CertifyProgram {
    pub fn new(repo: Arc<dyn Repo>, program: Arc<Program>) -> CertifyProgram {
        CertifyProgram { repo, program }
    }

    async fn review_for(&self, submission_id: Uuid) -> Result<Option<Review>, WebError> {
        Ok(self.repo.review_for(submission_id).await?)
    }
}

fn decision_of(o: Outcome) -> Decision {
    match o {
        Outcome::Pass => Decision::Pass,
        Outcome::Fail => Decision::Fail,
    }
}

fn record_of(r: &Review) -> Option<ReviewRecord> {
    Some(ReviewRecord {
        reviewer: r.decided_by.clone()?,
        decided_at: r.decided_at?,
        decision: decision_of(r.decision?),
        criteria: r
            .criteria
            .iter()
            .map(|c| CriterionOverride {
                criterion_id: c.id.clone(),
                verdict: c.verdict,
            })
            .collect(),
        reason: r.reason.clone().unwrap_or_default(),
    })
}

/// Monday of `t`'s week: charts over time count per calendar week.
fn week_of(t: DateTime<Utc>) -> NaiveDate {
    let d = t.date_naive();
    d - Days::new(u64::from(d.weekday().num_days_from_monday()))
}

/// Per-week rates for the last [`WEEKS`] weeks (empty weeks included, so the
/// chart's time axis is even) from `(when, counted as a hit)` events.
fn weekly(
    now: DateTime<Utc>,
    events: impl Iterator<Item = (DateTime<Utc>, bool)>,
) -> Vec<PeriodRate> {
    let this_week = week_of(now);
    let first = this_week - Days::new(7 * u64::from(WEEKS - 1));
    let mut by_week: BTreeMap<NaiveDate, (u64, u64)> = (0..WEEKS)
        .map(|i| (first + Days::new(7 * u64::from(i)), (0, 0)))
        .collect();
    for (at, hit) in events {
        if let Some(slot) = by_week.get_mut(&week_of(at)) {
            slot.1 += 1;
            if hit {
                slot.0 += 1;
            }
        }
    }
    by_week
        .into_iter()
        .map(|(period_start, (hits, count))| PeriodRate {
            period_start,
            rate: (count > 0).then(|| hits as f64 / count as f64),
            count,
        })
        .collect()
}

#[async_trait]
impl ProgramPages for CertifyProgram {
    fn configured(&self) -> bool {
        true
    }

    async fn outcome(&self, submission: &Submission) -> Result<Option<OutcomeView>, WebError> {
        // A rubric outside the program certifies nothing: nothing to show.
        let Some(track) = self.program.track_for_rubric(&submission.rubric_id) else {
            return Ok(None);
        };
        let now = Utc::now();
        let repo = self.repo.as_ref();
        let rep = &submission.rep_id;
        let decided = repo.decision_for(submission.id).await?;
        let rights = gating::rights_of(repo, &self.program, rep, now).await?;
        // The rep's certification for this track as it stands now, once this
        // result is decided (before that, it gave nothing yet).
        let certification = match &decided {
            Some(_) => rights
                .certifications
                .iter()
                .find(|c| c.track == track.id)
                .map(|c| CertificationView {
                    track: track.id.clone(),
                    state: if c.is_valid_at(now) {
                        CertStatus::Valid.as_str().to_string()
                    } else {
                        CertStatus::Expired.as_str().to_string()
                    },
                    issued_at: c.issued_at,
                    expires_at: c.expires_at,
                }),
            None => None,
        };
        // The track's rights first (held or not), then any other right held.
        let mut names: Vec<String> = self.program.rights_of(&track.id).to_vec();
        for h in &rights.rights {
            if !names.contains(&h.right) {
                names.push(h.right.clone());
            }
        }
        let rights_view = names
            .into_iter()
            .map(|name| {
                let held = rights.rights.iter().find(|h| h.right == name);
                let note = match held {
                    Some(h) => format!("until {}", h.until.format("%Y-%m-%d")),
                    None if rights.paused.contains(&name) => {
                        "paused: the certification behind it lapsed".to_string()
                    }
                    None => format!("needs a valid {} certification", track.id),
                };
                RightView {
                    active: held.is_some(),
                    name,
                    note,
                }
            })
            .collect();
        let check = retake::check(repo, &self.program, rep, &track.id, now).await?;
        let policy = &track.retake;
        let retake = RetakeView {
            allowed: check.allowed,
            not_before: if check.allowed {
                None
            } else {
                check.next_allowed_at
            },
            attempts_left: Some(check.max_attempts.saturating_sub(check.attempts_in_window)),
            message: check.message.clone(),
            policy: format!(
                "{} attempts per {} days; {} days after a fail before the next.",
                policy.max_attempts, policy.window_days, policy.cooldown_days
            ),
        };
        let review = self
            .review_for(submission.id)
            .await?
            .as_ref()
            .and_then(record_of);
        Ok(Some(OutcomeView {
            certification,
            rights: rights_view,
            retake: Some(retake),
            review,
        }))
    }

    async fn review_queue(&self, firm: Option<&str>) -> Result<Vec<QueueItem>, WebError> {
        let now = Utc::now();
        let mut items: Vec<QueueItem> = review::queue(self.repo.as_ref(), QUEUE_LIMIT, firm)
            .await?
            .into_iter()
            .filter(|r| r.decided_at.is_none())
            .map(|r| QueueItem {
                submission_id: r.submission_id,
                rep_id: r.rep_id,
                rubric_id: r.rubric_id,
                score: r.machine_score,
                waiting_since: r.queued_at,
                why: r
                    .reasons
                    .into_iter()
                    .map(|w| {
                        if w.message.is_empty() {
                            w.code
                        } else {
                            w.message
                        }
                    })
                    .collect(),
                // An expired claim frees the review; do not show it as taken.
                claimed_by: r
                    .claimed_by
                    .filter(|_| r.claim_expires_at.is_some_and(|t| t > now)),
            })
            .collect();
        items.sort_by_key(|q| (q.waiting_since, q.submission_id));
        // Who holds a claim, by the name on their token rather than its id.
        for item in &mut items {
            if let Some(who) = &item.claimed_by {
                item.claimed_by = Some(audit_trail::reviewer_label(self.repo.as_ref(), who).await?);
            }
        }
        Ok(items)
    }

    async fn review_of(&self, submission_id: Uuid) -> Result<Option<ReviewRecord>, WebError> {
        Ok(self
            .review_for(submission_id)
            .await?
            .as_ref()
            .and_then(record_of))
    }

    async fn decide(
        &self,
        reviewer: &Principal,
        submission_id: Uuid,
        decision: ReviewDecision,
    ) -> Result<(), WebError> {
        let outcome = match decision.decision {
            Decision::Pass => ReviewOutcome::Pass,
            Decision::Fail => ReviewOutcome::Fail,
            Decision::Borderline => {
                return Err(WebError::BadRequest(
                    "a reviewer's decision is pass or fail".into(),
                ))
            }
        };
        let found = self
            .review_for(submission_id)
            .await?
            .ok_or_else(|| WebError::NotFound("a review for this submission".into()))?;
        let now = Utc::now();
        let repo = self.repo.as_ref();
        // The page has no separate "claim" step: deciding claims first (the
        // same claim the API takes), so two reviewers cannot both decide, and
        // a review another reviewer holds is refused with who holds it.
        if review::claim(
            repo,
            &reviewer.id,
            Some(found.id),
            reviewer.firm.as_deref(),
            now,
        )
        .await?
        .is_none()
        {
            let holder = match found
                .claimed_by
                .filter(|_| found.claim_expires_at.is_some_and(|t| t > now))
            {
                Some(who) => Some(audit_trail::reviewer_label(repo, &who).await?),
                None => None,
            };
            return Err(WebError::Refused {
                status: axum::http::StatusCode::CONFLICT,
                code: "conflict",
                message: match (found.decided_at, holder) {
                    (Some(_), _) => "this review is already decided".into(),
                    (None, Some(h)) => format!("{h} is reviewing this grade right now"),
                    (None, None) => "this review cannot be claimed; reload the page".into(),
                },
            });
        }
        let input = ReviewInput {
            decision: Some(outcome),
            criteria: decision
                .criteria
                .into_iter()
                .map(|c| CriterionInput {
                    id: c.criterion_id,
                    verdict: c.verdict,
                })
                .collect(),
            reason: decision.reason,
        };
        review::decide(repo, &self.program, found.id, &reviewer.id, &input, now).await?;
        Ok(())
    }

    async fn dashboard(&self, now: DateTime<Utc>) -> Result<DashboardData, WebError> {
        let repo = self.repo.as_ref();
        let report =
            reports::build(repo, &self.program, now, &reports::ReportOptions::default()).await?;
        let decisions = repo.list_decisions(None, None).await?;
        let reviews = repo.list_decided_reviews(None).await?;
        let pass_rate = weekly(
            now,
            decisions
                .iter()
                .map(|d| (d.decided_at, d.outcome == Outcome::Pass)),
        );
        // The same definition as the report's override rate: the reviewer's
        // decision went against the side of the bar the machine leaned to.
        let override_rate = weekly(
            now,
            reviews.iter().filter_map(|r| {
                let (at, decision) = (r.decided_at?, r.decision?);
                Some((at, decision != r.machine_lean))
            }),
        );
        let first_attempt = report
            .first_attempt
            .iter()
            .map(|f| RubricRate {
                rubric_id: f.rubric_id.clone(),
                rate: f.rate.rate,
                attempts: u64::from(f.rate.total),
                judged: f.health != reports::BandHealth::TooFewAttempts,
                warning: f.warning.clone(),
            })
            .collect();

        // Coverage: the share of a firm's active reps holding any valid
        // certification now (the report breaks it down per track and role;
        // the chart shows one bar per firm).
        let reps = repo.list_reps(None).await?;
        let filter = CertFilter {
            status: Some(CertStatus::Valid),
            ..CertFilter::default()
        };
        let mut valid = all_certifications(repo, filter).await?;
        valid.retain(|c| c.is_valid_at(now));
        let firm_of: HashMap<&str, &str> = reps
            .iter()
            .map(|r| (r.id.as_str(), r.firm_id.as_str()))
            .collect();
        let coverage = report
            .coverage
            .iter()
            .map(|f| {
                let active: Vec<&str> = reps
                    .iter()
                    .filter(|r| r.active && r.firm_id == f.firm_id)
                    .map(|r| r.id.as_str())
                    .collect();
                let certified = active
                    .iter()
                    .filter(|id| valid.iter().any(|c| c.rep_id == **id))
                    .count() as u64;
                let active = active.len() as u64;
                FirmCoverageView {
                    firm: if f.name.is_empty() {
                        f.firm_id.clone()
                    } else {
                        f.name.clone()
                    },
                    tier: f.tier.clone().unwrap_or_else(|| "none".into()),
                    coverage: if active == 0 {
                        0.0
                    } else {
                        certified as f64 / active as f64
                    },
                    certified,
                    active,
                }
            })
            .collect();
        let horizon = now + TimeDelta::days(EXPIRING_DAYS);
        let mut expiring: Vec<Expiring> = valid
            .iter()
            .filter(|c| c.expires_at <= horizon)
            .map(|c| Expiring {
                rep_id: c.rep_id.clone(),
                firm: firm_of
                    .get(c.rep_id.as_str())
                    .map_or_else(String::new, |f| f.to_string()),
                track: c.track.clone(),
                expires_at: c.expires_at,
            })
            .collect();
        expiring.sort_by_key(|e| (e.expires_at, e.rep_id.clone()));
        Ok(DashboardData {
            pass_rate,
            first_attempt,
            healthy_band: reports::HEALTHY_BAND,
            coverage,
            expiring,
            override_rate,
            agreement: Some(report.agreement),
        })
    }

    async fn firm(
        &self,
        firm_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<FirmOverview>, WebError> {
        let repo = self.repo.as_ref();
        let Some(firm) = repo.get_firm(firm_id).await? else {
            return Ok(None);
        };
        // Every row below is chosen by the firm in its query: nothing of
        // another firm is read to draw this page.
        let reps = repo.list_reps(Some(firm_id)).await?;
        let certs = all_certifications(
            repo,
            CertFilter {
                firm_id: Some(firm_id.to_string()),
                ..CertFilter::default()
            },
        )
        .await?;
        let standing = gating::standing(&self.program, firm_id, &reps, &certs, now);
        let forecast =
            gating::forecast_drop(&self.program, firm_id, &reps, &certs, now, FORECAST_DAYS).map(
                |d| TierForecast {
                    tier_now: d.tier_now,
                    tier_after: d.tier_after,
                    drops_at: d.drops_at,
                    lapsing_reps: d.lapsing_reps,
                },
            );
        let mut roster = Vec::with_capacity(reps.len());
        let mut by_rep: HashMap<&str, Vec<&crate::store::db::certification::Certification>> =
            HashMap::new();
        for c in &certs {
            by_rep.entry(c.rep_id.as_str()).or_default().push(c);
        }
        for rep in &reps {
            let mine = by_rep.remove(rep.id.as_str()).unwrap_or_default();
            let latest = repo
                .list_submissions(&rep.id, 1)
                .await?
                .into_iter()
                .next()
                .map(|s| s.id);
            let soonest_valid = mine
                .iter()
                .filter(|c| c.is_valid_at(now))
                .map(|c| c.expires_at)
                .min();
            let standing = match soonest_valid {
                Some(until) if (until - now).num_days() <= EXPIRING_DAYS => RepStanding::Expiring {
                    until,
                    days: (until - now).num_days(),
                },
                Some(until) => RepStanding::Certified { until },
                None => match mine.iter().map(|c| c.expires_at).max() {
                    Some(since) => RepStanding::Lapsed { since },
                    None if latest.is_some() => RepStanding::NotYetCertified,
                    None => RepStanding::NeverAttempted,
                },
            };
            roster.push(FirmRep {
                rep_id: rep.id.clone(),
                role: rep.role.clone(),
                active: rep.active,
                standing,
                latest,
            });
        }
        Ok(Some(FirmOverview {
            firm_id: firm.id,
            name: firm.name,
            tier: standing.tier,
            coverage: standing
                .coverage
                .into_iter()
                .map(|c| TrackCoverage {
                    track: c.track,
                    role: c.role,
                    certified: u64::from(c.certified),
                    eligible: u64::from(c.eligible),
                    coverage: c.coverage,
                })
                .collect(),
            reps: roster,
            forecast,
            forecast_days: FORECAST_DAYS,
        }))
    }

    async fn rubric_history(&self, rubric_id: &str) -> Result<Vec<RubricVersionView>, WebError> {
        let repo = self.repo.as_ref();
        // Every grade that was decided, plus those still waiting for a
        // reviewer: together, every grade the program has seen. The version
        // and hash come from the grade itself (what it was graded with), not
        // from the file installed now.
        let mut submissions: Vec<Uuid> = repo
            .list_decisions(None, None)
            .await?
            .into_iter()
            .filter(|d| d.rubric_id == rubric_id)
            .map(|d| d.submission_id)
            .collect();
        submissions.extend(
            review::queue(repo, QUEUE_LIMIT, None)
                .await?
                .into_iter()
                .filter(|r| r.rubric_id == rubric_id)
                .map(|r| r.submission_id),
        );
        submissions.sort();
        submissions.dedup();
        let mut by_version: BTreeMap<(u32, String), RubricVersionView> = BTreeMap::new();
        for id in submissions {
            let Some(grade) = repo.get_submission(id).await?.and_then(|v| v.grade) else {
                continue;
            };
            // A grade that does not read names no rubric version to show;
            // skip it rather than fail the page.
            let Ok(stored) = StoredGrade::from_json(&grade.grade) else {
                continue;
            };
            let used = stored.grade.rubric;
            let entry = by_version
                .entry((used.version, used.sha256.clone()))
                .or_insert_with(|| RubricVersionView {
                    version: used.version,
                    sha256: used.sha256.clone(),
                    first_used: None,
                    last_used: None,
                    grades: 0,
                });
            entry.grades += 1;
            let at = grade.created_at;
            entry.first_used = Some(entry.first_used.map_or(at, |t| t.min(at)));
            entry.last_used = Some(entry.last_used.map_or(at, |t| t.max(at)));
        }
        let mut versions: Vec<RubricVersionView> = by_version.into_values().collect();
        versions.sort_by(|a, b| {
            b.version
                .cmp(&a.version)
                .then_with(|| b.last_used.cmp(&a.last_used))
        });
        Ok(versions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn weeks_start_on_monday_and_empty_weeks_stay_on_the_axis() {
        // Wednesday 2026-11-25.
        let now = Utc
            .with_ymd_and_hms(2026, 11, 25, 12, 0, 0)
            .single()
            .expect("a date");
        assert_eq!(
            week_of(now),
            NaiveDate::from_ymd_opt(2026, 11, 23).expect("a date")
        );
        let rates = weekly(
            now,
            [
                (now, true),
                (now - TimeDelta::days(1), false),
                (now - TimeDelta::days(400), true), // outside the window
            ]
            .into_iter(),
        );
        assert_eq!(rates.len(), WEEKS as usize);
        let last = rates.last().expect("this week");
        assert_eq!(last.count, 2);
        assert_eq!(last.rate, Some(0.5));
        assert!(rates[..rates.len() - 1].iter().all(|r| r.rate.is_none()));
    }
}
