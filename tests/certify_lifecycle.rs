//! Certification stories on SQLite and PostgreSQL alike: issue, renew, lapse,
//! re-issue, idempotency, reminders, the sweep's single runner, review,
//! retakes, specialties and firm tiers. Grades come through the real queue.

#[macro_use]
#[path = "common/stories.rs"]
mod stories;
#[path = "common/store.rs"]
#[allow(dead_code)]
mod harness;
#[path = "common/certify.rs"]
mod seed;

use std::sync::Arc;

use chrono::{DateTime, Months, TimeDelta, Utc};
use harness::{t0, TestDb};
use pitchgrade::certify::review::{self, CriterionInput, ReviewInput, ReviewOutcome};
use pitchgrade::certify::{apply_decision, gating, retake, sweep, Applied, CertifyError};
use pitchgrade::score::decide::{Decision, Verdict};
use pitchgrade::store::db::certification::*;
use pitchgrade::store::Repo;
use seed::*;

stories! {
    sqlite(db = TestDb::sqlite().await) => db.repo.clone(),
    postgres(db = TestDb::postgres().await) => db.repo.clone();
    [
        a_pass_issues_a_certification_and_grants_its_rights,
        applying_a_decision_twice_has_one_effect,
        renewal_inside_the_window_extends_from_the_expiry,
        a_lapse_pauses_rights_at_the_exact_expiry_and_a_pass_restores_them,
        each_reminder_offset_is_handled_once,
        the_sweep_runs_in_one_process_at_a_time,
        the_sweep_finishes_grades_a_crashed_worker_left,
        a_reviewer_overrides_a_borderline_grade,
        review_claims_are_exclusive_and_expire,
        retakes_wait_out_cooldowns_and_attempt_limits,
        a_specialty_needs_a_valid_base_certification,
        firm_tier_follows_certified_coverage,
        a_firm_scope_chooses_its_rows_in_the_query,
        overrides_past_the_lines_raise_one_alert_per_crossing,
    ]
}

fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}

fn months(from: DateTime<Utc>, n: u32) -> DateTime<Utc> {
    from.checked_add_months(Months::new(n)).unwrap()
}

async fn setup(repo: &dyn Repo) {
    add_firm(repo, "northwind", Some("reseller"), t0()).await;
    add_firm(repo, "cedar", Some("msp"), t0()).await;
    add_rep(repo, "ana", "northwind", "sales", true, t0()).await;
    add_rep(repo, "ben", "northwind", "sales", true, t0()).await;
    add_rep(repo, "cy", "cedar", "sales", true, t0()).await;
    add_rep(repo, "dee", "northwind", "technical", true, t0()).await;
}

async fn pass(repo: &dyn Repo, rep: &str, rubric: &str, at: DateTime<Utc>) -> CertDecision {
    let sub = seed_grade(repo, rep, rubric, Decision::Pass, 88.0, &[], at).await;
    match apply_decision(repo, &program(), sub, at).await.unwrap() {
        Applied::Decided {
            decision,
            duplicate,
        } => {
            assert!(!duplicate);
            decision
        }
        other => panic!("expected a decision, got {other:?}"),
    }
}

async fn fail(repo: &dyn Repo, rep: &str, rubric: &str, at: DateTime<Utc>) -> CertDecision {
    let sub = seed_grade(
        repo,
        rep,
        rubric,
        Decision::Fail,
        52.0,
        &[("next_step", Verdict::Missed)],
        at,
    )
    .await;
    match apply_decision(repo, &program(), sub, at).await.unwrap() {
        Applied::Decided { decision, .. } => decision,
        other => panic!("expected a decision, got {other:?}"),
    }
}

/// (kind, rep, right or track, occurred_at) of every outbox event, in order.
async fn events(repo: &dyn Repo) -> Vec<(String, String, String, DateTime<Utc>)> {
    repo.list_outbox(None, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            let data = &e.payload["data"];
            let rep = data["rep_id"].as_str().unwrap_or_default().to_string();
            let what = data["right"]
                .as_str()
                .or(data["track"].as_str())
                .unwrap_or_default()
                .to_string();
            assert_eq!(
                e.payload["id"],
                serde_json::json!(e.id),
                "body carries the event id"
            );
            assert_eq!(e.payload["type"], serde_json::json!(e.kind));
            (e.kind, rep, what, e.occurred_at)
        })
        .collect()
}

fn ev(
    kind: &str,
    rep: &str,
    what: &str,
    at: DateTime<Utc>,
) -> (String, String, String, DateTime<Utc>) {
    (kind.into(), rep.into(), what.into(), at)
}

async fn a_pass_issues_a_certification_and_grants_its_rights(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    setup(repo).await;
    let p = program();
    assert!(!gating::can(repo, &p, "ana", "selling", t0()).await.unwrap());
    let d = pass(repo, "ana", SALES, t0()).await;
    assert_eq!(
        (d.outcome, d.effect, d.source),
        (Outcome::Pass, Effect::Issued, DecisionSource::Machine)
    );
    assert_eq!(d.track.as_deref(), Some("sales"));
    assert_eq!(d.rubric_id, SALES);
    assert_eq!(d.rubric_version, Some(1));

    let rights = gating::rights_of(repo, &p, "ana", t0()).await.unwrap();
    let names: Vec<&str> = rights.rights.iter().map(|r| r.right.as_str()).collect();
    assert_eq!(names, ["deal_registration", "selling"]);
    assert!(rights.rights.iter().all(|r| r.until == months(t0(), 12)));
    let cert = &rights.certifications[0];
    assert_eq!(
        (cert.issued_at, cert.expires_at, cert.status),
        (t0(), months(t0(), 12), CertStatus::Valid)
    );
    assert_eq!(Some(cert.id), d.certification_id);
    assert!(!gating::can(repo, &p, "ana", "pre_sales", t0())
        .await
        .unwrap());

    assert_eq!(
        events(repo).await,
        vec![
            ev("certification.issued", "ana", "sales", t0()),
            ev("rights.granted", "ana", "deal_registration", t0()),
            ev("rights.granted", "ana", "selling", t0()),
        ]
    );
    let audit = repo
        .audit_log(&AuditFilter {
            rep_id: Some("ana".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "certification.issued",
            "rights.granted",
            "rights.granted",
            "decision.recorded"
        ]
    );
    assert!(audit.iter().all(|a| a.at == t0() && a.recorded_at == t0()));

    // The MSP firm's rep takes the MSP scenario; the grade records it and it
    // counts for the same track.
    let check = retake::check(repo, &p, "cy", "sales", t0()).await.unwrap();
    assert_eq!(check.rubric_id, SALES_MSP);
    let d = pass(repo, "cy", SALES_MSP, t0()).await;
    assert_eq!(
        (d.track.as_deref(), d.rubric_id.as_str()),
        (Some("sales"), SALES_MSP)
    );
    let cert = &repo.rep_ledger("cy").await.unwrap().certifications[0];
    assert_eq!(cert.rubric_id, SALES_MSP);
}

async fn applying_a_decision_twice_has_one_effect(repo: Arc<dyn Repo>) {
    setup(repo.as_ref()).await;
    let p = Arc::new(program());
    let sub = seed_grade(repo.as_ref(), "ana", SALES, Decision::Pass, 90.0, &[], t0()).await;
    // Four at once (two workers and two sweeps, say), then once more later.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (repo, p) = (repo.clone(), p.clone());
        tasks.push(tokio::spawn(async move {
            apply_decision(repo.as_ref(), &p, sub, t0()).await
        }));
    }
    let mut fresh = 0;
    for t in tasks {
        match t.await.unwrap().unwrap() {
            Applied::Decided {
                duplicate,
                decision,
            } => {
                assert_eq!(decision.effect, Effect::Issued);
                fresh += usize::from(!duplicate);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(fresh, 1, "exactly one call applied the decision");
    let again = apply_decision(repo.as_ref(), &p, sub, t0() + days(3))
        .await
        .unwrap();
    assert!(matches!(
        again,
        Applied::Decided {
            duplicate: true,
            ..
        }
    ));

    let ledger = repo.rep_ledger("ana").await.unwrap();
    assert_eq!(ledger.certifications.len(), 1);
    assert_eq!(
        ledger.certifications[0].expires_at,
        months(t0(), 12),
        "not renewed by the replay"
    );
    assert_eq!(ledger.certifications[0].renewals, 0);
    assert_eq!(
        repo.list_decisions(Some("ana"), None).await.unwrap().len(),
        1
    );
    assert_eq!(
        events(repo.as_ref()).await.len(),
        3,
        "issued + two rights, once"
    );
}

async fn renewal_inside_the_window_extends_from_the_expiry(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    setup(repo).await;
    let p = program();
    pass(repo, "ana", SALES, t0()).await;
    let expiry = months(t0(), 12);
    // 20 days before expiry: inside the 60-day window.
    let renew_at = expiry - days(20);
    let d = pass(repo, "ana", SALES, renew_at).await;
    assert_eq!(d.effect, Effect::Renewed);
    let cert = repo.rep_ledger("ana").await.unwrap().certifications[0].clone();
    assert_eq!(
        cert.expires_at,
        months(expiry, 12),
        "a year from the old expiry, not from today"
    );
    assert_eq!(
        (cert.issued_at, cert.first_issued_at, cert.renewals),
        (renew_at, t0(), 1)
    );
    // Rights never paused across the old expiry.
    assert!(gating::can(repo, &p, "ana", "selling", expiry + days(1))
        .await
        .unwrap());
    let report = sweep::run(repo, &p, "sweeper", expiry + days(1))
        .await
        .unwrap();
    assert_eq!(report.expired, 0);

    // Before the window (ben renews 100 days early), the term runs from today.
    pass(repo, "ben", SALES, t0()).await;
    let early = months(t0(), 12) - days(100);
    let d = pass(repo, "ben", SALES, early).await;
    assert_eq!(d.effect, Effect::Renewed);
    let cert = repo.rep_ledger("ben").await.unwrap().certifications[0].clone();
    assert_eq!(cert.expires_at, months(early, 12));

    let renewed: Vec<_> = events(repo)
        .await
        .into_iter()
        .filter(|e| e.0 == "certification.renewed")
        .collect();
    assert_eq!(
        renewed,
        // The outbox is in write order, by the (injected) clock: ben's renewal is earlier.
        vec![
            ev("certification.renewed", "ben", "sales", early),
            ev("certification.renewed", "ana", "sales", renew_at)
        ]
    );
    let payload = repo.list_outbox(None, 100).await.unwrap();
    let ana = payload
        .iter()
        .find(|e| e.kind == "certification.renewed" && e.payload["data"]["rep_id"] == "ana")
        .unwrap();
    assert_eq!(
        ana.payload["data"]["previous_expires_at"],
        serde_json::json!(expiry)
    );
    assert_eq!(
        ana.payload["data"]["expires_at"],
        serde_json::json!(months(expiry, 12))
    );
}

async fn a_lapse_pauses_rights_at_the_exact_expiry_and_a_pass_restores_them(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    setup(repo).await;
    let p = program();
    pass(repo, "ana", SALES, t0()).await;
    let expiry = months(t0(), 12);
    let ms = TimeDelta::milliseconds(1);
    assert!(gating::can(repo, &p, "ana", "selling", expiry - ms)
        .await
        .unwrap());
    // Lapsed at the instant, before any sweep has run.
    assert!(!gating::can(repo, &p, "ana", "selling", expiry)
        .await
        .unwrap());
    let rights = gating::rights_of(repo, &p, "ana", expiry).await.unwrap();
    assert_eq!(rights.paused, ["deal_registration", "selling"]);

    let swept_at = expiry + TimeDelta::hours(17);
    let report = sweep::run(repo, &p, "sweeper", swept_at).await.unwrap();
    assert!(report.ran);
    assert_eq!(report.expired, 1);
    let ledger = repo.rep_ledger("ana").await.unwrap();
    assert_eq!(ledger.certifications[0].status, CertStatus::Expired);
    let log = repo
        .audit_log(&AuditFilter {
            rep_id: Some("ana".into()),
            submission_id: None,
            after_seq: None,
            action_prefix: None,
            limit: 0,
        })
        .await
        .unwrap();
    let lapse: Vec<_> = log
        .iter()
        .filter(|a| a.action == "certification.expired" || a.action == "rights.paused")
        .map(|a| {
            (
                a.action.as_str(),
                a.right.clone(),
                a.at,
                a.recorded_at,
                a.actor.as_str(),
            )
        })
        .collect();
    assert_eq!(
        lapse,
        vec![
            ("certification.expired", None, expiry, swept_at, "sweep"),
            (
                "rights.paused",
                Some("deal_registration".into()),
                expiry,
                swept_at,
                "sweep"
            ),
            (
                "rights.paused",
                Some("selling".into()),
                expiry,
                swept_at,
                "sweep"
            ),
        ]
    );
    // A second sweep finds nothing more to do.
    let again = sweep::run(repo, &p, "sweeper", swept_at + days(1))
        .await
        .unwrap();
    assert_eq!(again.expired, 0);

    // Ben lapses too, but passes again before any sweep: the same decision
    // records the lapse at its instant and then the re-issue.
    pass(repo, "ben", SALES, t0()).await;
    let back = expiry + days(10);
    let d = pass(repo, "ben", SALES, back).await;
    assert_eq!(d.effect, Effect::Reissued);
    let cert = repo.rep_ledger("ben").await.unwrap().certifications[0].clone();
    assert_eq!(
        (cert.first_issued_at, cert.issued_at, cert.expires_at),
        (t0(), back, months(back, 12))
    );
    assert!(gating::can(repo, &p, "ben", "selling", back).await.unwrap());

    let ben: Vec<_> = events(repo)
        .await
        .into_iter()
        .filter(|e| e.1 == "ben")
        .collect();
    assert_eq!(
        ben,
        vec![
            ev("certification.issued", "ben", "sales", t0()),
            ev("rights.granted", "ben", "deal_registration", t0()),
            ev("rights.granted", "ben", "selling", t0()),
            ev("certification.expired", "ben", "sales", expiry),
            ev("rights.paused", "ben", "deal_registration", expiry),
            ev("rights.paused", "ben", "selling", expiry),
            ev("certification.issued", "ben", "sales", back),
            ev("rights.restored", "ben", "deal_registration", back),
            ev("rights.restored", "ben", "selling", back),
        ]
    );
    let restored = gating::rights_of(repo, &p, "ben", back).await.unwrap();
    assert!(restored.paused.is_empty());
}

async fn each_reminder_offset_is_handled_once(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    setup(repo).await;
    let p = program();
    pass(repo, "ana", SALES, t0()).await;
    pass(repo, "ben", SALES, t0()).await;
    let expiry = months(t0(), 12);
    // Ana's reminders: a sweep every day of the last 70 days (some twice).
    let mut day = expiry - days(70);
    while day < expiry {
        sweep::run(repo, &p, "sweeper", day).await.unwrap();
        sweep::run(repo, &p, "sweeper", day + TimeDelta::hours(6))
            .await
            .unwrap();
        day += days(1);
    }
    let sent: Vec<(String, i64, DateTime<Utc>)> = repo
        .list_outbox(None, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "certification.expiring" && e.payload["data"]["rep_id"] == "ana")
        .map(|e| {
            (
                e.payload["data"]["rep_id"].as_str().unwrap().to_string(),
                e.payload["data"]["days_before"].as_i64().unwrap(),
                e.occurred_at,
            )
        })
        .collect();
    // t0 is 09:00; sweeps run at 09:00 and 15:00: the 09:00 sweep of the due day sends it.
    assert_eq!(
        sent,
        vec![
            ("ana".to_string(), 60, expiry - days(60)),
            ("ana".to_string(), 30, expiry - days(30)),
            ("ana".to_string(), 7, expiry - days(7)),
        ]
    );
    // Ben's reminders too (the same sweeps), then none for a renewed expiry until
    // its own window.
    let ben = repo
        .audit_log(&AuditFilter {
            rep_id: Some("ben".into()),
            action_prefix: Some("certification.".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        ben.iter()
            .filter(|a| a.action == "certification.expiring")
            .count(),
        3
    );

    // A sweep that was down: the first one back, 20 days before expiry, sends
    // the 30-day reminder and records the missed 60-day one as skipped.
    pass(repo, "cy", SALES_MSP, t0() + days(1)).await;
    let cy_expiry = months(t0() + days(1), 12);
    sweep::run(repo, &p, "sweeper", cy_expiry - days(20))
        .await
        .unwrap();
    sweep::run(repo, &p, "sweeper", cy_expiry - days(19))
        .await
        .unwrap();
    let cy: Vec<(String, i64)> = repo
        .audit_log(&AuditFilter {
            rep_id: Some("cy".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.action.contains("reminder") || a.action == "certification.expiring")
        .map(|a| (a.action, a.detail["days_before"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        cy,
        vec![
            ("certification.reminder_skipped".to_string(), 60),
            ("certification.expiring".to_string(), 30)
        ]
    );
}

async fn the_sweep_runs_in_one_process_at_a_time(repo: Arc<dyn Repo>) {
    setup(repo.as_ref()).await;
    let p = Arc::new(program());
    for i in 0..12 {
        let rep = format!("r{i}");
        add_rep(repo.as_ref(), &rep, "northwind", "sales", true, t0()).await;
        pass(repo.as_ref(), &rep, SALES, t0()).await;
    }
    let after = months(t0(), 12) + days(1);
    // Another process holds the lease: this one skips its turn and changes nothing.
    assert!(repo
        .try_lease(sweep::LEASE_NAME, "other-host", sweep::LEASE_TTL, after)
        .await
        .unwrap());
    let skipped = sweep::run(repo.as_ref(), &p, "this-host", after)
        .await
        .unwrap();
    assert_eq!(skipped, sweep::SweepReport::default());
    assert_eq!(
        repo.list_certifications(
            &CertFilter {
                status: Some(CertStatus::Expired),
                ..CertFilter::default()
            },
            100
        )
        .await
        .unwrap()
        .len(),
        0
    );
    // The holder died: once its lease runs out, another runner takes over.
    let later = after + TimeDelta::from_std(sweep::LEASE_TTL).unwrap();
    // Two runners at once: whichever gets the lease does the work, once.
    let mut runs = Vec::new();
    for owner in ["host-a", "host-b", "host-c"] {
        let (repo, p) = (repo.clone(), p.clone());
        runs.push(tokio::spawn(async move {
            sweep::run(repo.as_ref(), &p, owner, later).await.unwrap()
        }));
    }
    let mut expired = 0;
    let mut ran = 0;
    for r in runs {
        let report = r.await.unwrap();
        expired += report.expired;
        ran += usize::from(report.ran);
    }
    assert!(ran >= 1);
    assert_eq!(
        expired, 12,
        "every certification expired exactly once across runners"
    );
    let expired_events = repo
        .list_outbox(None, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "certification.expired")
        .count();
    assert_eq!(expired_events, 12);
    let paused = repo
        .audit_log(&AuditFilter {
            action_prefix: Some("rights.paused".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(paused.len(), 24, "two rights each, paused once");

    // Lease rules: the holder may extend; others may not until it expires.
    assert!(repo
        .try_lease("x", "a", sweep::LEASE_TTL, t0())
        .await
        .unwrap());
    assert!(!repo
        .try_lease("x", "b", sweep::LEASE_TTL, t0() + days(0))
        .await
        .unwrap());
    assert!(repo
        .try_lease("x", "a", sweep::LEASE_TTL, t0() + TimeDelta::seconds(10))
        .await
        .unwrap());
    repo.release_lease("x", "a").await.unwrap();
    assert!(repo
        .try_lease("x", "b", sweep::LEASE_TTL, t0() + TimeDelta::seconds(11))
        .await
        .unwrap());
}

async fn the_sweep_finishes_grades_a_crashed_worker_left(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    setup(repo).await;
    let p = program();
    // Grades written, the worker died before applying them.
    let passed = seed_grade(repo, "ana", SALES, Decision::Pass, 81.0, &[], t0()).await;
    let unsure = seed_grade(
        repo,
        "ben",
        SALES,
        Decision::Borderline,
        68.0,
        &[("customer_proof", Verdict::Missed)],
        t0(),
    )
    .await;
    let failed = seed_grade(repo, "cy", SALES_MSP, Decision::Fail, 40.0, &[], t0()).await;
    assert_eq!(repo.unapplied_grades(10).await.unwrap().len(), 3);
    let report = sweep::run(repo, &p, "sweeper", t0() + TimeDelta::minutes(5))
        .await
        .unwrap();
    assert_eq!(report.reconciled, 3);
    assert!(repo.unapplied_grades(10).await.unwrap().is_empty());
    assert_eq!(
        repo.decision_for(passed).await.unwrap().unwrap().effect,
        Effect::Issued
    );
    assert_eq!(
        repo.decision_for(failed).await.unwrap().unwrap().effect,
        Effect::NoChange
    );
    assert!(
        repo.decision_for(unsure).await.unwrap().is_none(),
        "a borderline grade waits for a human"
    );
    let queued = review::queue(repo, 10, None).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].submission_id, unsure);
    assert_eq!(queued[0].queued_at, t0(), "queued at its grade's time");
    assert!(
        gating::can(repo, &p, "ana", "selling", t0() + TimeDelta::minutes(5))
            .await
            .unwrap()
    );
    let kinds: Vec<String> = events(repo).await.into_iter().map(|e| e.0).collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "grade.needs_review").count(),
        1
    );
    // Nothing left: a second pass reconciles nothing.
    let again = sweep::run(repo, &p, "sweeper", t0() + TimeDelta::minutes(10))
        .await
        .unwrap();
    assert_eq!(again.reconciled, 0);
}

async fn a_reviewer_overrides_a_borderline_grade(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    setup(repo).await;
    let p = program();
    let sub = seed_grade(
        repo,
        "ana",
        SALES,
        Decision::Borderline,
        67.5,
        &[
            ("next_step", Verdict::Partial),
            ("customer_proof", Verdict::Missed),
        ],
        t0(),
    )
    .await;
    let queued = match apply_decision(repo, &p, sub, t0()).await.unwrap() {
        Applied::QueuedForReview {
            review,
            duplicate: false,
        } => review,
        other => panic!("{other:?}"),
    };
    assert_eq!(queued.machine_lean, Outcome::Fail);
    assert_eq!(queued.reasons[0].code, "inside_band");
    assert!(!gating::can(repo, &p, "ana", "selling", t0()).await.unwrap());
    let machine_grade = repo
        .get_submission(sub)
        .await
        .unwrap()
        .unwrap()
        .grade
        .unwrap();

    let at = t0() + TimeDelta::hours(3);
    let claimed = review::claim(repo, "rita", None, None, at)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, queued.id);
    // A reason is required.
    let err = review::decide(
        repo,
        &p,
        queued.id,
        "rita",
        &ReviewInput {
            decision: Some(ReviewOutcome::Pass),
            criteria: vec![],
            reason: "  ".into(),
        },
        at,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, CertifyError::InvalidReview(_)), "{err}");
    // A criterion the grade does not have is refused.
    let err = review::decide(
        repo,
        &p,
        queued.id,
        "rita",
        &ReviewInput {
            decision: None,
            criteria: vec![CriterionInput {
                id: "nope".into(),
                verdict: Verdict::Met,
            }],
            reason: "x".into(),
        },
        at,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, CertifyError::InvalidReview(_)), "{err}");

    // Per criterion: the next step was clear (met). Rescored: 20+15+0+10+10 of 65
    // = 84.6 ≥ 70 with both required criteria met → pass.
    let input = ReviewInput {
        decision: None,
        criteria: vec![CriterionInput {
            id: "next_step".into(),
            verdict: Verdict::Met,
        }],
        reason: "The rep proposes a dated working session at 4:10; the judge missed it.".into(),
    };
    let decided = review::decide(repo, &p, queued.id, "rita", &input, at)
        .await
        .unwrap();
    let Applied::Decided {
        decision,
        duplicate: false,
    } = decided
    else {
        panic!("{decided:?}")
    };
    assert_eq!(
        (decision.outcome, decision.source, decision.effect),
        (Outcome::Pass, DecisionSource::Review, Effect::Issued)
    );
    assert_eq!(decision.review_id, Some(queued.id));
    assert_eq!(decision.machine_decision, Decision::Borderline);
    assert!(gating::can(repo, &p, "ana", "selling", at).await.unwrap());

    // The machine's grade is untouched; the human's calls sit beside it; the
    // rep sees the submission graded.
    let view = repo.get_submission(sub).await.unwrap().unwrap();
    assert_eq!(view.grade.unwrap(), machine_grade);
    assert_eq!(
        view.submission.status,
        pitchgrade::store::db::SubmissionStatus::Graded
    );
    let stored = repo.get_review(queued.id).await.unwrap().unwrap();
    assert_eq!(stored.decision, Some(Outcome::Pass));
    assert_eq!(stored.decided_by.as_deref(), Some("rita"));
    assert_eq!(stored.decided_at, Some(at));
    assert_eq!(
        stored.criteria,
        vec![CriterionCall {
            id: "next_step".into(),
            verdict: Verdict::Met,
            machine_verdict: Verdict::Partial
        }]
    );
    assert!(stored.reason.unwrap().contains("working session"));
    assert!(review::queue(repo, 10, None).await.unwrap().is_empty());

    let audit: Vec<(String, String)> = repo
        .audit_log(&AuditFilter {
            rep_id: Some("ana".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.action.starts_with("review.") || a.action == "decision.recorded")
        .map(|a| (a.action, a.actor))
        .collect();
    assert_eq!(
        audit,
        vec![
            ("review.queued".into(), "system".into()),
            ("review.claimed".into(), "reviewer:rita".into()),
            ("decision.recorded".into(), "reviewer:rita".into()),
            ("review.decided".into(), "reviewer:rita".into()),
            ("review.override".into(), "reviewer:rita".into()),
            ("review.override".into(), "reviewer:rita".into()),
        ]
    );
    // Decided once: again is refused.
    let err = review::decide(repo, &p, queued.id, "rita", &input, at)
        .await
        .unwrap_err();
    assert!(
        matches!(err, CertifyError::ReviewAlreadyDecided(_)),
        "{err}"
    );
    // And the worker re-applying the grade changes nothing.
    let replay = apply_decision(repo, &p, sub, at + days(1)).await.unwrap();
    assert!(matches!(
        replay,
        Applied::Decided {
            duplicate: true,
            ..
        }
    ));
}

async fn review_claims_are_exclusive_and_expire(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    setup(repo).await;
    let p = program();
    let first = seed_grade(repo, "ana", SALES, Decision::Borderline, 72.0, &[], t0()).await;
    let second = seed_grade(
        repo,
        "ben",
        SALES,
        Decision::Borderline,
        66.0,
        &[],
        t0() + TimeDelta::minutes(1),
    )
    .await;
    apply_decision(repo, &p, second, t0() + TimeDelta::minutes(2))
        .await
        .unwrap();
    apply_decision(repo, &p, first, t0() + TimeDelta::minutes(3))
        .await
        .unwrap();
    let queue = review::queue(repo, 10, None).await.unwrap();
    assert_eq!(
        queue.iter().map(|r| r.submission_id).collect::<Vec<_>>(),
        [first, second],
        "oldest grade first"
    );
    assert_eq!(queue[0].machine_lean, Outcome::Pass);

    let at = t0() + TimeDelta::hours(1);
    let rita = review::claim(repo, "rita", None, None, at)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rita.submission_id, first);
    // Sam gets the next one, not Rita's.
    let sam = review::claim(repo, "sam", None, None, at)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sam.submission_id, second);
    assert!(review::claim(repo, "tom", None, None, at)
        .await
        .unwrap()
        .is_none());
    assert!(review::claim(repo, "tom", Some(rita.id), None, at)
        .await
        .unwrap()
        .is_none());
    let input = ReviewInput {
        decision: Some(ReviewOutcome::Fail),
        criteria: vec![],
        reason: "no proof".into(),
    };
    let err = review::decide(repo, &p, rita.id, "sam", &input, at)
        .await
        .unwrap_err();
    assert!(matches!(err, CertifyError::NotClaimed { .. }), "{err}");

    // Rita walks away; after the claim lapses Tom may take it, and Rita may not decide.
    let later = at + TimeDelta::from_std(review::CLAIM_TTL).unwrap();
    let tom = review::claim(repo, "tom", Some(rita.id), None, later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tom.claimed_by.as_deref(), Some("tom"));
    let err = review::decide(repo, &p, rita.id, "rita", &input, later)
        .await
        .unwrap_err();
    assert!(matches!(err, CertifyError::NotClaimed { .. }), "{err}");
    // Tom upholds the lean (pass): no override.
    let ok = ReviewInput {
        decision: Some(ReviewOutcome::Pass),
        criteria: vec![],
        reason: "clear value and next step".into(),
    };
    review::decide(repo, &p, tom.id, "tom", &ok, later)
        .await
        .unwrap();
    let overrides = repo
        .audit_log(&AuditFilter {
            action_prefix: Some("review.override".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert!(overrides.is_empty());
}

async fn retakes_wait_out_cooldowns_and_attempt_limits(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    setup(repo).await;
    let p = program();
    let ok = retake::check(repo, &p, "ana", "sales", t0()).await.unwrap();
    assert!(ok.allowed && ok.blocked_by.is_empty());
    assert_eq!(
        (
            ok.rubric_id.as_str(),
            ok.max_attempts,
            ok.attempts_in_window
        ),
        (SALES, 3, 0)
    );

    // A submission in progress blocks a second one, with no date to wait for.
    let pending = submit(repo, "ana", SALES, t0()).await;
    let busy = retake::check(repo, &p, "ana", "sales", t0()).await.unwrap();
    assert!(!busy.allowed);
    assert_eq!(
        busy.blocked_by,
        vec![retake::Blocked::InProgress {
            submission_id: pending
        }]
    );
    assert_eq!(busy.next_allowed_at, None);
    // Grade it (a fail) through the worker path.
    let job = repo
        .claim("w", std::time::Duration::from_secs(60), t0())
        .await
        .unwrap()
        .unwrap();
    repo.complete(
        job.job_id,
        job.attempt,
        &pitchgrade::store::db::NewGrade {
            decision: Decision::Fail,
            score: 50.0,
            grade: grade_json(SALES, Decision::Fail, 50.0, &[]),
        },
        t0(),
    )
    .await
    .unwrap();
    apply_decision(repo, &p, pending, t0()).await.unwrap();

    let cool = retake::check(repo, &p, "ana", "sales", t0() + days(3))
        .await
        .unwrap();
    assert!(!cool.allowed);
    assert_eq!(
        cool.blocked_by,
        vec![retake::Blocked::Cooldown { failed_at: t0() }]
    );
    assert_eq!(cool.next_allowed_at, Some(t0() + days(7)));
    assert!(
        retake::check(repo, &p, "ana", "sales", t0() + days(7))
            .await
            .unwrap()
            .allowed
    );

    fail(repo, "ana", SALES, t0() + days(7)).await;
    fail(repo, "ana", SALES, t0() + days(14)).await;
    // Three attempts in 90 days: the limit, then the cooldown too; the later date wins.
    let limit = retake::check(repo, &p, "ana", "sales", t0() + days(30))
        .await
        .unwrap();
    assert!(!limit.allowed);
    assert_eq!(limit.attempts_in_window, 3);
    assert_eq!(
        limit.blocked_by,
        vec![retake::Blocked::AttemptLimit {
            attempts: 3,
            window_days: 90
        }]
    );
    assert_eq!(
        limit.next_allowed_at,
        Some(t0() + days(90)),
        "when the first attempt leaves the window"
    );
    assert!(limit.message.contains("coaching"));
    assert!(
        retake::check(repo, &p, "ana", "sales", t0() + days(90))
            .await
            .unwrap()
            .allowed
    );

    // A technical failure of the file is not the rep's attempt.
    let broken = submit(repo, "dee", TECHNICAL, t0()).await;
    let job = repo
        .claim("w", std::time::Duration::from_secs(60), t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.submission_id, broken);
    repo.fail_permanent(job.job_id, job.attempt, "not audio", "sniffed: text", t0())
        .await
        .unwrap();
    let dee = retake::check(repo, &p, "dee", "technical", t0())
        .await
        .unwrap();
    assert!(dee.allowed);
    assert_eq!(dee.attempts_in_window, 0);

    // Certified: renewal opens with the reminder window.
    pass(repo, "ben", SALES, t0()).await;
    let certified = retake::check(repo, &p, "ben", "sales", t0() + days(30))
        .await
        .unwrap();
    assert_eq!(
        certified.blocked_by,
        vec![retake::Blocked::AlreadyCertified {
            expires_at: months(t0(), 12)
        }]
    );
    assert_eq!(certified.next_allowed_at, Some(months(t0(), 12) - days(60)));
    assert!(
        retake::check(repo, &p, "ben", "sales", months(t0(), 12) - days(60))
            .await
            .unwrap()
            .allowed
    );
}

async fn a_specialty_needs_a_valid_base_certification(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    setup(repo).await;
    let p = program();
    let check = retake::check(repo, &p, "ana", "close-specialist", t0())
        .await
        .unwrap();
    assert_eq!(
        check.blocked_by,
        vec![retake::Blocked::MissingBase {
            base: "sales".into()
        }]
    );
    // A pass without the base certifies nothing.
    let d = pass(repo, "ana", SPECIALIST, t0()).await;
    assert_eq!((d.effect, d.certification_id), (Effect::NoBase, None));
    assert!(!gating::can(repo, &p, "ana", "marketplace_listing", t0())
        .await
        .unwrap());

    pass(repo, "ana", SALES, t0() + days(1)).await;
    let d = pass(repo, "ana", SPECIALIST, t0() + days(40)).await;
    assert_eq!(d.effect, Effect::Issued);
    assert!(
        gating::can(repo, &p, "ana", "marketplace_listing", t0() + days(40))
            .await
            .unwrap()
    );
    // The base lapses first: the specialty's right pauses with it, recorded at
    // the base's expiry, although the specialty itself is still valid.
    let base_expiry = months(t0() + days(1), 12);
    sweep::run(repo, &p, "sweeper", base_expiry + days(1))
        .await
        .unwrap();
    assert!(
        !gating::can(repo, &p, "ana", "marketplace_listing", base_expiry)
            .await
            .unwrap()
    );
    let paused: Vec<(Option<String>, DateTime<Utc>)> = repo
        .audit_log(&AuditFilter {
            rep_id: Some("ana".into()),
            action_prefix: Some("rights.paused".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.right, a.at))
        .collect();
    assert_eq!(
        paused,
        vec![
            (Some("deal_registration".into()), base_expiry),
            (Some("marketplace_listing".into()), base_expiry),
            (Some("selling".into()), base_expiry),
        ]
    );
    // Recertifying the base restores all three.
    let back = base_expiry + days(5);
    pass(repo, "ana", SALES, back).await;
    assert!(gating::can(repo, &p, "ana", "marketplace_listing", back)
        .await
        .unwrap());
    let restored = repo
        .audit_log(&AuditFilter {
            rep_id: Some("ana".into()),
            action_prefix: Some("rights.restored".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(restored.len(), 3);
    // When the specialty itself expires later, its right pauses then.
    let spec_expiry = months(t0() + days(40), 12);
    sweep::run(repo, &p, "sweeper", spec_expiry).await.unwrap();
    let last = repo
        .audit_log(&AuditFilter {
            rep_id: Some("ana".into()),
            action_prefix: Some("rights.paused".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(last.len(), 4);
    assert_eq!(
        (last[3].right.as_deref(), last[3].at),
        (Some("marketplace_listing"), spec_expiry)
    );
}

async fn firm_tier_follows_certified_coverage(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    add_firm(repo, "acme", None, t0()).await;
    let p = program();
    for i in 0..10 {
        add_rep(repo, &format!("s{i}"), "acme", "sales", true, t0()).await;
    }
    add_rep(repo, "gone", "acme", "sales", false, t0()).await;
    add_rep(repo, "t0", "acme", "technical", true, t0()).await;
    add_rep(repo, "t1", "acme", "technical", true, t0()).await;
    let standing = gating::firm_standing(repo, &p, "acme", t0()).await.unwrap();
    assert_eq!(standing.tier, None);

    pass(repo, "s0", SALES, t0()).await;
    let s = gating::firm_standing(repo, &p, "acme", t0()).await.unwrap();
    assert_eq!(s.tier.as_deref(), Some("registered"));
    let sales = s.coverage.iter().find(|c| c.track == "sales").unwrap();
    // The inactive rep does not count.
    assert_eq!((sales.eligible, sales.certified), (10, 1));
    assert!((sales.coverage - 0.1).abs() < 1e-9);

    for i in 1..4 {
        pass(repo, &format!("s{i}"), SALES, t0() + days(i)).await;
    }
    let s = gating::firm_standing(repo, &p, "acme", t0() + days(5))
        .await
        .unwrap();
    assert_eq!(s.tier.as_deref(), Some("silver"), "4 certified, 40% ≥ 30%");
    for i in 4..8 {
        pass(repo, &format!("s{i}"), SALES, t0() + days(10)).await;
    }
    let s = gating::firm_standing(repo, &p, "acme", t0() + days(10))
        .await
        .unwrap();
    assert_eq!(
        s.tier.as_deref(),
        Some("silver"),
        "8 sales certified but no technical yet"
    );
    pass(repo, "t0", TECHNICAL, t0() + days(10)).await;
    pass(repo, "t1", TECHNICAL, t0() + days(10)).await;
    let s = gating::firm_standing(repo, &p, "acme", t0() + days(10))
        .await
        .unwrap();
    assert_eq!(s.tier.as_deref(), Some("gold"));
    assert!(s.rules.iter().filter(|r| r.tier == "gold").all(|r| r.met));

    // s0 expires first (day 0 + 12 months): 7 of 10 certified, below gold's 8.
    let drop = gating::forecast_drop(
        &p,
        "acme",
        &repo.list_reps(Some("acme")).await.unwrap(),
        &repo
            .list_certifications(&CertFilter::default(), 100)
            .await
            .unwrap(),
        months(t0(), 12) - days(30),
        60,
    )
    .unwrap();
    assert_eq!(drop.tier_now.as_deref(), Some("gold"));
    assert_eq!(drop.tier_after.as_deref(), Some("silver"));
    assert_eq!(drop.drops_at, months(t0(), 12));
    let s = gating::firm_standing(repo, &p, "acme", months(t0(), 12))
        .await
        .unwrap();
    assert_eq!(s.tier.as_deref(), Some("silver"));
}

/// A partner admin's report and a partner-side reviewer's queue hold their
/// firm's rows only: the repository filters by firm, so the other firm's
/// rows never leave the database.
async fn a_firm_scope_chooses_its_rows_in_the_query(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    setup(repo).await;
    let p = program();
    let ana = pass(repo, "ana", SALES, t0()).await;
    fail(repo, "cy", SALES_MSP, t0()).await;
    let mut queued = Vec::new();
    for rep in ["ben", "cy"] {
        let rubric = if rep == "cy" { SALES_MSP } else { SALES };
        let sub = seed_grade(
            repo,
            rep,
            rubric,
            Decision::Borderline,
            68.0,
            &[("customer_proof", Verdict::Missed)],
            t0(),
        )
        .await;
        match apply_decision(repo, &p, sub, t0()).await.unwrap() {
            Applied::QueuedForReview { review, .. } => queued.push(review),
            other => panic!("{other:?}"),
        }
    }
    let (ben_review, cy_review) = (&queued[0], &queued[1]);

    assert_eq!(
        repo.submission_firm(ana.submission_id)
            .await
            .unwrap()
            .as_deref(),
        Some("northwind")
    );
    assert_eq!(
        repo.submission_firm(uuid::Uuid::now_v7()).await.unwrap(),
        None
    );

    let reps_of =
        |decisions: Vec<CertDecision>| decisions.into_iter().map(|d| d.rep_id).collect::<Vec<_>>();
    assert_eq!(
        reps_of(repo.list_decisions(None, Some("northwind")).await.unwrap()),
        ["ana"]
    );
    assert_eq!(
        reps_of(repo.list_decisions(None, Some("cedar")).await.unwrap()),
        ["cy"]
    );
    assert_eq!(repo.list_decisions(None, None).await.unwrap().len(), 2);

    let queue_of = |firm| async move {
        review::queue(repo, 10, firm)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.rep_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(queue_of(Some("northwind")).await, ["ben"]);
    assert_eq!(queue_of(Some("cedar")).await, ["cy"]);
    assert_eq!(queue_of(None).await.len(), 2);

    // A cedar reviewer cannot claim northwind's review, by id or by "next".
    let at = t0() + TimeDelta::hours(1);
    assert!(
        review::claim(repo, "cedar-rita", Some(ben_review.id), Some("cedar"), at)
            .await
            .unwrap()
            .is_none()
    );
    let next = review::claim(repo, "cedar-rita", None, Some("cedar"), at)
        .await
        .unwrap()
        .expect("cedar's own review");
    assert_eq!(next.id, cy_review.id);
    // Another cedar reviewer finds nothing free: cedar's one review is held,
    // and northwind's (free) is not theirs to take.
    assert!(review::claim(repo, "cedar-sam", None, Some("cedar"), at)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        review::claim(repo, "northwind-tom", None, Some("northwind"), at)
            .await
            .unwrap()
            .map(|r| r.id),
        Some(ben_review.id)
    );

    let cedar = pitchgrade::certify::reports::build(
        repo,
        &p,
        at,
        &pitchgrade::certify::reports::ReportOptions {
            firm: Some("cedar".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let firms: Vec<&str> = cedar.coverage.iter().map(|f| f.firm_id.as_str()).collect();
    assert_eq!(firms, ["cedar"]);
    assert_eq!((cedar.pass_rate.count, cedar.pass_rate.total), (0, 1));
    let all = pitchgrade::certify::reports::build(repo, &p, at, &Default::default())
        .await
        .unwrap();
    assert_eq!(all.coverage.len(), 2);
    assert_eq!((all.pass_rate.count, all.pass_rate.total), (1, 2));
}

/// Reviewers keep overriding the machine on one rubric: the decision that
/// takes its override rate over 20% sends a warning, the one over 30% asks
/// for recalibration, later overrides at the same level send nothing more; the
/// report shows the same figures with the alert, per criterion too.
async fn overrides_past_the_lines_raise_one_alert_per_crossing(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    setup(repo).await;
    let mut p = program();
    p.calibration.min_sample = 4;
    for rep in ["eve", "fay", "gus"] {
        add_rep(repo, rep, "northwind", "sales", true, t0()).await;
    }
    // The machine leans fail (67.5 against a bar of 70) on every one; a pass
    // from the reviewer overrides it.
    let script = [
        ("ana", ReviewOutcome::Fail),
        ("ben", ReviewOutcome::Fail),
        ("cy", ReviewOutcome::Fail),
        ("dee", ReviewOutcome::Pass), // 1 of 4 = 25%: warn
        ("eve", ReviewOutcome::Pass), // 2 of 5 = 40%: recalibrate
        ("fay", ReviewOutcome::Pass), // 3 of 6 = 50%: still recalibrate, no new alert
        ("gus", ReviewOutcome::Fail), // 3 of 7 = 43%
    ];
    let mut at = t0();
    for (i, (rep, decision)) in script.iter().enumerate() {
        at += TimeDelta::hours(1);
        let sub = seed_grade(
            repo,
            rep,
            SALES,
            Decision::Borderline,
            67.5,
            &[("next_step", Verdict::Partial)],
            at,
        )
        .await;
        let Applied::QueuedForReview { review: queued, .. } =
            apply_decision(repo, &p, sub, at).await.unwrap()
        else {
            panic!("borderline grades wait for review")
        };
        assert_eq!(queued.machine_lean, Outcome::Fail);
        review::claim(repo, "rita", Some(queued.id), None, at)
            .await
            .unwrap()
            .unwrap();
        // The first reviewer also says the next step was met, not partial.
        let criteria = if i == 0 {
            vec![CriterionInput {
                id: "next_step".into(),
                verdict: Verdict::Met,
            }]
        } else {
            Vec::new()
        };
        let input = ReviewInput {
            decision: Some(*decision),
            criteria,
            reason: "listened to the recording".into(),
        };
        review::decide(repo, &p, queued.id, "rita", &input, at)
            .await
            .unwrap();
    }

    let alerts: Vec<serde_json::Value> = repo
        .list_outbox(None, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "agreement.alert")
        .map(|e| e.payload["data"].clone())
        .collect();
    let levels: Vec<(&str, u64, u64)> = alerts
        .iter()
        .map(|a| {
            (
                a["level"].as_str().unwrap_or_default(),
                a["overridden"].as_u64().unwrap_or_default(),
                a["reviews"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        levels,
        [("warn", 1, 4), ("recalibrate", 2, 5)],
        "{alerts:?}"
    );
    assert!(alerts.iter().all(|a| a["rubric_id"] == SALES));
    let message = alerts[1]["message"].as_str().unwrap_or_default();
    assert!(message.contains("2 of 5"), "{message}");
    assert!(message.contains("recalibrate"), "{message}");

    let report = pitchgrade::certify::reports::build(repo, &p, at, &Default::default())
        .await
        .unwrap();
    let a = &report.agreement;
    assert_eq!(a.rubrics.len(), 1);
    let sales = &a.rubrics[0];
    assert_eq!(
        (sales.override_rate.count, sales.override_rate.total),
        (3, 7)
    );
    assert_eq!(
        sales.level,
        pitchgrade::certify::calibration::AlertLevel::Recalibrate
    );
    assert!(sales
        .alert
        .as_deref()
        .unwrap_or_default()
        .contains("3 of 7"));
    let next_step = sales
        .criteria
        .iter()
        .find(|c| c.criterion == "next_step")
        .expect("next_step agreement");
    // Machine partial seven times; the reviewer said met once.
    assert_eq!((next_step.agreement.count, next_step.reviews), (6, 7));
    let text = pitchgrade::certify::reports::to_text(&report);
    assert!(
        text.contains("ALERT ledgerly-sales-pitch: reviewers overrode the machine on 3 of 7"),
        "{text}"
    );
    let csv = pitchgrade::certify::reports::to_csv(&report);
    assert!(
        csv.contains("agreement_window,ledgerly-sales-pitch,level,recalibrate"),
        "{csv}"
    );
    // Outside the window the reviews no longer count.
    let later = at + TimeDelta::days(i64::from(p.calibration.window_days) + 1);
    let report = pitchgrade::certify::reports::build(repo, &p, later, &Default::default())
        .await
        .unwrap();
    assert!(report.agreement.rubrics.is_empty());
    assert_eq!(report.agreement.overall.override_rate.total, 0);
}
