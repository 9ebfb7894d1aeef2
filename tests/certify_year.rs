//! A simulated year (and a bit: 14 months, so first-year certifications
//! expire, get reminded, renewed, lapse and come back) with an injected clock:
//! 3 firms, 50 reps, passes, fails, cooldowns, attempt limits, borderline
//! grades decided (and overridden) by reviewers, a specialty on a lapsing base,
//! a rep leaving a firm. Every grade goes through the real queue and
//! `apply_decision`; a sweep runs every night.
//!
//! Expectations come from a small model in this file that restates the
//! program's rules on plain data (no storage, no library code): every event,
//! every right of every rep on every day something happens to them (and at the
//! exact instants around each expiry), every firm's tier every day, every
//! retake answer, and every report figure are compared against it.

#[path = "common/store.rs"]
#[allow(dead_code)]
mod harness;
#[path = "common/certify.rs"]
mod seed;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Months, TimeDelta, TimeZone, Utc};
use harness::TestDb;
use pitchgrade::certify::reports::{self, BandHealth, ReportOptions};
use pitchgrade::certify::review::{self, CriterionInput, ReviewInput, ReviewOutcome};
use pitchgrade::certify::{apply_decision, gating, retake, sweep, Applied};
use pitchgrade::score::decide::{Decision, Verdict};
use pitchgrade::store::db::certification::AuditFilter;
use pitchgrade::store::Repo;
use seed::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simulated_year_on_sqlite() {
    let db = TestDb::sqlite().await;
    simulate(db.repo.clone()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simulated_year_on_postgres() {
    let db = TestDb::postgres().await;
    simulate(db.repo.clone()).await;
}

const DAYS: i64 = 425;
/// The mid-year report: the first cohort's reminders are out, some renewals
/// are not in yet, so a tier drop is on the horizon.
const REPORT_DAY: i64 = 340;
const LEAVER: &str = "c11";
const LEAVES_ON: i64 = 200;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 6, 0, 0, 0).unwrap()
}

fn at(day: i64, hour: i64, minute: i64) -> DateTime<Utc> {
    start() + TimeDelta::days(day) + TimeDelta::hours(hour) + TimeDelta::minutes(minute)
}

fn day_of(t: DateTime<Utc>) -> i64 {
    (t - start()).num_days()
}

// ---------------------------------------------------------------------------
// The population
// ---------------------------------------------------------------------------

#[derive(Clone)]
struct RepSpec {
    id: String,
    firm: &'static str,
    role: &'static str,
    /// Index among sales reps (picks the story), or among technical reps.
    index: usize,
}

fn population() -> Vec<RepSpec> {
    let mut reps = Vec::new();
    let (mut s, mut t) = (0, 0);
    for (firm, prefix, sales, technical) in [
        ("northwind", "n", 14, 4),
        ("bluepeak", "b", 12, 6),
        ("cedar", "c", 12, 2),
    ] {
        for i in 0..sales {
            reps.push(RepSpec {
                id: format!("{prefix}{i:02}"),
                firm,
                role: "sales",
                index: s,
            });
            s += 1;
        }
        for i in 0..technical {
            reps.push(RepSpec {
                id: format!("{prefix}t{i}"),
                firm,
                role: "technical",
                index: t,
            });
            t += 1;
        }
    }
    reps
}

/// Registered inactive from the start (left before the year): never attempts.
const INACTIVE: &str = "n13";

fn segment(firm: &str) -> Option<&'static str> {
    match firm {
        "northwind" => Some("reseller"),
        "bluepeak" => Some("si"),
        _ => Some("msp"),
    }
}

fn sales_rubric(firm: &str) -> &'static str {
    if firm == "cedar" {
        SALES_MSP
    } else {
        SALES
    }
}

// ---------------------------------------------------------------------------
// What each rep tries, and what the test expects the retake check to say
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Planned {
    Pass,
    Fail,
    /// Borderline; the machine leans pass or fail; the reviewer decides.
    Border {
        lean_pass: bool,
        human: Human,
    },
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Human {
    Pass,
    /// Per criterion: the next step was missed (required) → fail.
    CriteriaFail,
}

#[derive(Clone, Debug, PartialEq)]
enum Expect {
    Allowed,
    Cooldown { next: DateTime<Utc> },
    AttemptLimit { next: DateTime<Utc> },
    AlreadyCertified { next: DateTime<Utc> },
    MissingBase,
}

#[derive(Clone, Debug)]
struct Intent {
    rep: String,
    track: &'static str,
    planned: Planned,
    expect: Expect,
}

type Agenda = BTreeMap<(i64, String), Vec<Intent>>;

fn add(
    agenda: &mut Agenda,
    day: i64,
    rep: &str,
    track: &'static str,
    planned: Planned,
    expect: Expect,
) {
    agenda
        .entry((day, rep.to_string()))
        .or_default()
        .push(Intent {
            rep: rep.to_string(),
            track,
            planned,
            expect,
        });
}

/// Minutes after 10:00 at which a rep acts on a day (distinct per rep).
fn minute(rep: &str) -> i64 {
    population().iter().position(|r| r.id == rep).unwrap() as i64
}

fn first_year(reps: &[RepSpec]) -> Agenda {
    let mut a = Agenda::new();
    for r in reps.iter().filter(|r| r.id != INACTIVE) {
        let id = r.id.as_str();
        if r.role == "technical" {
            let d = 5 + (r.index as i64 % 20);
            if r.index == 0 {
                // Two fails in 60 days use up the attempts; the second fail's
                // cooldown ends first, the window later.
                add(&mut a, d, id, "technical", Planned::Fail, Expect::Allowed);
                add(
                    &mut a,
                    d + 14,
                    id,
                    "technical",
                    Planned::Fail,
                    Expect::Allowed,
                );
                add(
                    &mut a,
                    d + 30,
                    id,
                    "technical",
                    Planned::Pass,
                    Expect::AttemptLimit {
                        next: at(d + 60, 10, minute(id)),
                    },
                );
                add(
                    &mut a,
                    d + 60,
                    id,
                    "technical",
                    Planned::Pass,
                    Expect::Allowed,
                );
            } else {
                add(&mut a, d, id, "technical", Planned::Pass, Expect::Allowed);
            }
            continue;
        }
        let g = r.index;
        let d = (g as i64 * 2) % 30;
        match g % 8 {
            1 => {
                add(&mut a, d, id, "sales", Planned::Fail, Expect::Allowed);
                add(&mut a, d + 7, id, "sales", Planned::Pass, Expect::Allowed);
            }
            2 => {
                add(&mut a, d, id, "sales", Planned::Fail, Expect::Allowed);
                add(
                    &mut a,
                    d + 3,
                    id,
                    "sales",
                    Planned::Pass,
                    Expect::Cooldown {
                        next: at(d + 7, 10, minute(id)),
                    },
                );
                add(&mut a, d + 7, id, "sales", Planned::Pass, Expect::Allowed);
            }
            3 => {
                add(&mut a, d, id, "sales", Planned::Fail, Expect::Allowed);
                add(&mut a, d + 7, id, "sales", Planned::Fail, Expect::Allowed);
                add(&mut a, d + 14, id, "sales", Planned::Fail, Expect::Allowed);
                add(
                    &mut a,
                    d + 21,
                    id,
                    "sales",
                    Planned::Pass,
                    Expect::AttemptLimit {
                        next: at(d + 90, 10, minute(id)),
                    },
                );
                add(&mut a, d + 90, id, "sales", Planned::Pass, Expect::Allowed);
            }
            4 => {
                let lean_pass = g % 16 == 12;
                add(
                    &mut a,
                    d,
                    id,
                    "sales",
                    Planned::Border {
                        lean_pass,
                        human: Human::Pass,
                    },
                    Expect::Allowed,
                );
            }
            5 => {
                // Decided at 15:00; a fail's 7-day cooldown ends at 15:00, so
                // the retake is the day after.
                if g % 16 == 13 {
                    add(
                        &mut a,
                        d,
                        id,
                        "sales",
                        Planned::Border {
                            lean_pass: true,
                            human: Human::Pass,
                        },
                        Expect::Allowed,
                    );
                } else {
                    add(
                        &mut a,
                        d,
                        id,
                        "sales",
                        Planned::Border {
                            lean_pass: false,
                            human: Human::CriteriaFail,
                        },
                        Expect::Allowed,
                    );
                    add(&mut a, d + 8, id, "sales", Planned::Pass, Expect::Allowed);
                }
            }
            _ => add(&mut a, d, id, "sales", Planned::Pass, Expect::Allowed),
        }
    }
    // A rep tries the specialty before holding the base: refused, nothing submitted.
    add(
        &mut a,
        1,
        "n07",
        "close-specialist",
        Planned::Pass,
        Expect::MissingBase,
    );
    a
}

/// Specialists: one renews its base in time, one lets it lapse and comes back.
const SPECIALISTS: [&str; 2] = ["n00", "n01"];

/// What a sales rep does about renewal, by story.
fn renewal_plan(a: &mut Agenda, rep: &RepSpec, expiry: DateTime<Utc>) {
    let id = rep.id.as_str();
    if id == LEAVER {
        return;
    }
    let exp_day = day_of(expiry);
    match rep.index % 4 {
        0 => {
            if rep.index.is_multiple_of(16) {
                // A failed renewal attempt inside the window, then a pass after the cooldown.
                add(a, exp_day - 20, id, "sales", Planned::Fail, Expect::Allowed);
                add(a, exp_day - 13, id, "sales", Planned::Pass, Expect::Allowed);
            } else {
                add(a, exp_day - 20, id, "sales", Planned::Pass, Expect::Allowed);
            }
        }
        1 => add(a, exp_day + 10, id, "sales", Planned::Pass, Expect::Allowed),
        2 => {}
        _ => {
            let opens = expiry - TimeDelta::days(60);
            add(
                a,
                exp_day - 90,
                id,
                "sales",
                Planned::Pass,
                Expect::AlreadyCertified { next: opens },
            );
            add(a, exp_day - 45, id, "sales", Planned::Pass, Expect::Allowed);
        }
    }
}

// ---------------------------------------------------------------------------
// The model: the program's rules restated on plain data
// ---------------------------------------------------------------------------

struct TrackRule {
    term: u32,
    reminders: &'static [u32],
    rights: &'static [&'static str],
    base: Option<&'static str>,
}

fn rule(track: &str) -> TrackRule {
    match track {
        "sales" => TrackRule {
            term: 12,
            reminders: &[60, 30, 7],
            rights: &["deal_registration", "selling"],
            base: None,
        },
        "technical" => TrackRule {
            term: 24,
            reminders: &[60],
            rights: &["pre_sales"],
            base: None,
        },
        _ => TrackRule {
            term: 12,
            reminders: &[30],
            rights: &["marketplace_listing"],
            base: Some("sales"),
        },
    }
}

#[derive(Clone, Debug)]
struct MCert {
    expires: DateTime<Utc>,
    valid: bool,
    reminded: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Ev {
    at: DateTime<Utc>,
    rep: String,
    kind: String,
    what: String,
}

#[derive(Clone, Debug)]
struct MDecision {
    rep: String,
    track: String,
    rubric: String,
    submitted: DateTime<Utc>,
    decided: DateTime<Utc>,
    pass: bool,
    issued_first: bool,
    verdicts: Vec<(&'static str, Verdict)>,
}

#[derive(Default)]
struct Model {
    certs: BTreeMap<(String, String), MCert>,
    paused: BTreeMap<String, BTreeSet<String>>,
    events: Vec<Ev>,
    decisions: Vec<MDecision>,
    /// (machine lean pass, human pass)
    reviews: Vec<(bool, bool)>,
    active: BTreeMap<String, bool>,
    firm_of: BTreeMap<String, String>,
    role_of: BTreeMap<String, String>,
}

fn plus_months(t: DateTime<Utc>, n: u32) -> DateTime<Utc> {
    t.checked_add_months(Months::new(n)).unwrap()
}

impl Model {
    fn ev(&mut self, at: DateTime<Utc>, rep: &str, kind: &str, what: &str) {
        self.events.push(Ev {
            at,
            rep: rep.into(),
            kind: kind.into(),
            what: what.into(),
        });
    }

    fn valid(&self, rep: &str, track: &str, t: DateTime<Utc>) -> bool {
        self.certs
            .get(&(rep.to_string(), track.to_string()))
            .is_some_and(|c| c.valid && c.expires > t)
    }

    /// A certification gives its rights at `t` if valid, and its base too.
    fn gives(&self, rep: &str, track: &str, t: DateTime<Utc>) -> bool {
        self.valid(rep, track, t) && rule(track).base.is_none_or(|b| self.valid(rep, b, t))
    }

    fn rights(&self, rep: &str, t: DateTime<Utc>) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for track in ["sales", "technical", "close-specialist"] {
            if self.gives(rep, track, t) {
                out.extend(rule(track).rights.iter().map(|r| r.to_string()));
            }
        }
        out
    }

    fn rights_change(
        &mut self,
        rep: &str,
        before: BTreeSet<String>,
        after: BTreeSet<String>,
        t: DateTime<Utc>,
    ) {
        for r in before.difference(&after) {
            self.paused.entry(rep.into()).or_default().insert(r.clone());
            self.ev(t, rep, "rights.paused", r);
        }
        for r in after.difference(&before) {
            let was_paused = self.paused.entry(rep.into()).or_default().remove(r);
            self.ev(
                t,
                rep,
                if was_paused {
                    "rights.restored"
                } else {
                    "rights.granted"
                },
                r,
            );
        }
    }

    fn lapse(&mut self, rep: &str, now: DateTime<Utc>) {
        let mut due: Vec<(DateTime<Utc>, String)> = self
            .certs
            .iter()
            .filter(|((r, _), c)| r == rep && c.valid && c.expires <= now)
            .map(|((_, t), c)| (c.expires, t.clone()))
            .collect();
        due.sort();
        for (exp, track) in due {
            let eps = exp - TimeDelta::milliseconds(1);
            let before = self.rights(rep, eps);
            self.certs
                .get_mut(&(rep.to_string(), track.clone()))
                .unwrap()
                .valid = false;
            let after = self.rights(rep, eps);
            self.ev(exp, rep, "certification.expired", &track);
            self.rights_change(rep, before, after, exp);
        }
    }

    /// Returns whether this decision first certified the rep for the track.
    fn decide(&mut self, rep: &str, track: &str, pass: bool, now: DateTime<Utc>) -> bool {
        self.lapse(rep, now);
        if !pass {
            return false;
        }
        let r = rule(track);
        if let Some(base) = r.base {
            if !self.valid(rep, base, now) {
                return false;
            }
        }
        let before = self.rights(rep, now);
        let key = (rep.to_string(), track.to_string());
        let window = TimeDelta::days(i64::from(*r.reminders.iter().max().unwrap()));
        let first = !self.certs.contains_key(&key);
        match self.certs.get_mut(&key) {
            None => {
                self.certs.insert(
                    key,
                    MCert {
                        expires: plus_months(now, r.term),
                        valid: true,
                        reminded: None,
                    },
                );
                self.ev(now, rep, "certification.issued", track);
            }
            Some(c) if c.valid && c.expires > now => {
                let from = if now >= c.expires - window {
                    c.expires
                } else {
                    now
                };
                c.expires = plus_months(from, r.term);
                c.reminded = None;
                self.ev(now, rep, "certification.renewed", track);
            }
            Some(c) => {
                *c = MCert {
                    expires: plus_months(now, r.term),
                    valid: true,
                    reminded: None,
                };
                self.ev(now, rep, "certification.issued", track);
            }
        }
        let after = self.rights(rep, now);
        self.rights_change(rep, before, after, now);
        first
    }

    fn sweep(&mut self, now: DateTime<Utc>) {
        let reps: BTreeSet<String> = self.certs.keys().map(|(r, _)| r.clone()).collect();
        for rep in &reps {
            self.lapse(rep, now);
        }
        let keys: Vec<(String, String)> = self.certs.keys().cloned().collect();
        for key in keys {
            let r = rule(&key.1);
            let c = self.certs[&key].clone();
            if !(c.valid && c.expires > now) {
                continue;
            }
            let due: Vec<u32> = r
                .reminders
                .iter()
                .copied()
                .filter(|&d| {
                    c.expires - TimeDelta::days(i64::from(d)) <= now
                        && c.reminded.is_none_or(|x| d < x)
                })
                .collect();
            if let Some(&send) = due.iter().min() {
                self.certs.get_mut(&key).unwrap().reminded = Some(send);
                self.ev(
                    now,
                    &key.0,
                    "certification.expiring",
                    &format!("{}:{send}", key.1),
                );
            }
        }
    }

    fn tier(&self, firm: &str, t: DateTime<Utc>) -> Option<&'static str> {
        let count = |role: &str, track: &str| {
            let reps: Vec<&String> = self
                .firm_of
                .iter()
                .filter(|(r, f)| f.as_str() == firm && self.active[*r] && self.role_of[*r] == role)
                .map(|(r, _)| r)
                .collect();
            let certified = reps.iter().filter(|r| self.gives(r, track, t)).count();
            (certified, reps.len())
        };
        let (sales, eligible) = count("sales", "sales");
        let cov = if eligible == 0 {
            0.0
        } else {
            sales as f64 / eligible as f64
        };
        let (tech, _) = count("technical", "technical");
        if sales >= 8 && cov >= 0.6 && tech >= 2 {
            Some("gold")
        } else if sales >= 4 && cov >= 0.3 {
            Some("silver")
        } else if sales >= 1 {
            Some("registered")
        } else {
            None
        }
    }
}

fn rank(t: Option<&str>) -> usize {
    match t {
        Some("gold") => 0,
        Some("silver") => 1,
        Some("registered") => 2,
        _ => 3,
    }
}

/// The criterion verdicts a seeded grade carries (for the miss-rate report).
fn verdicts_for(track: &str, planned: Planned, attempt: usize) -> Vec<(&'static str, Verdict)> {
    match (track, planned) {
        ("technical", Planned::Fail) => vec![("matching_rules", Verdict::Missed)],
        ("technical", _) => vec![],
        (_, Planned::Pass) if attempt.is_multiple_of(3) => {
            vec![("customer_proof", Verdict::Partial)]
        }
        (_, Planned::Pass) => vec![],
        (_, Planned::Fail) if attempt.is_multiple_of(2) => vec![
            ("next_step", Verdict::Missed),
            ("customer_proof", Verdict::Missed),
        ],
        (_, Planned::Fail) => vec![("value_prop", Verdict::Missed), ("price", Verdict::Partial)],
        (
            _,
            Planned::Border {
                lean_pass: true, ..
            },
        ) => vec![],
        (
            _,
            Planned::Border {
                lean_pass: false, ..
            },
        ) => vec![("next_step", Verdict::Partial)],
    }
}

// ---------------------------------------------------------------------------
// The year
// ---------------------------------------------------------------------------

async fn simulate(repo: Arc<dyn Repo>) {
    let repo = repo.as_ref();
    let program = program();
    let reps = population();
    assert_eq!(reps.len(), 50);
    let mut model = Model::default();
    for firm in ["northwind", "bluepeak", "cedar"] {
        add_firm(repo, firm, segment(firm), start()).await;
    }
    for r in &reps {
        let active = r.id != INACTIVE;
        add_rep(repo, &r.id, r.firm, r.role, active, start()).await;
        model.active.insert(r.id.clone(), active);
        model.firm_of.insert(r.id.clone(), r.firm.to_string());
        model.role_of.insert(r.id.clone(), r.role.to_string());
    }
    let spec = |id: &str| reps.iter().find(|r| r.id == id).unwrap().clone();

    let mut agenda = first_year(&reps);
    let mut attempts_made: BTreeMap<String, usize> = BTreeMap::new();
    let mut checked_rights = 0usize;
    let mut mid_report = None;
    let mut mid_model = None;

    for day in 0..=DAYS {
        // 02:00: the nightly sweep.
        let night = at(day, 2, 0);
        let report = sweep::run(repo, &program, "nightly", night).await.unwrap();
        assert!(report.ran && report.errors == 0, "day {day}: {report:?}");
        assert_eq!(report.reconciled, 0, "the worker path applied every grade");
        model.sweep(night);

        if day == LEAVES_ON {
            add_rep(repo, LEAVER, "cedar", "sales", false, at(day, 9, 0)).await;
            model.active.insert(LEAVER.into(), false);
        }

        // 10:00 onwards: reps act, each at their own minute.
        let mut today: Vec<Intent> = agenda
            .range((day, String::new())..(day + 1, String::new()))
            .flat_map(|(_, v)| v.clone())
            .collect();
        // In clock order: each rep acts at their own minute.
        today.sort_by_key(|i| minute(&i.rep));
        let mut borderline = Vec::new();
        let mut acted: BTreeSet<String> = BTreeSet::new();
        for intent in today {
            let now = at(day, 10, minute(&intent.rep));
            acted.insert(intent.rep.clone());
            let check = retake::check(repo, &program, &intent.rep, intent.track, now)
                .await
                .unwrap();
            let want_rubric = if intent.track == "sales" {
                sales_rubric(spec(&intent.rep).firm)
            } else if intent.track == "technical" {
                TECHNICAL
            } else {
                SPECIALIST
            };
            assert_eq!(
                check.rubric_id, want_rubric,
                "{} day {day}: adaptive path",
                intent.rep
            );
            let ctx = format!("{} day {day} {}: {check:?}", intent.rep, intent.track);
            match &intent.expect {
                Expect::Allowed => assert!(check.allowed, "{ctx}"),
                Expect::Cooldown { next } => {
                    assert!(
                        matches!(check.blocked_by[..], [retake::Blocked::Cooldown { .. }]),
                        "{ctx}"
                    );
                    assert_eq!(check.next_allowed_at, Some(*next), "{ctx}");
                }
                Expect::AttemptLimit { next } => {
                    assert!(
                        check
                            .blocked_by
                            .iter()
                            .any(|b| matches!(b, retake::Blocked::AttemptLimit { .. })),
                        "{ctx}"
                    );
                    assert_eq!(check.next_allowed_at, Some(*next), "{ctx}");
                }
                Expect::AlreadyCertified { next } => {
                    assert!(
                        matches!(
                            check.blocked_by[..],
                            [retake::Blocked::AlreadyCertified { .. }]
                        ),
                        "{ctx}"
                    );
                    assert_eq!(check.next_allowed_at, Some(*next), "{ctx}");
                }
                Expect::MissingBase => {
                    assert_eq!(
                        check.blocked_by,
                        vec![retake::Blocked::MissingBase {
                            base: "sales".into()
                        }],
                        "{ctx}"
                    );
                    assert_eq!(check.next_allowed_at, None);
                }
            }
            if !check.allowed {
                continue;
            }
            let n = attempts_made.entry(intent.rep.clone()).or_default();
            *n += 1;
            let verdicts = verdicts_for(intent.track, intent.planned, *n);
            let (decision, score) = match intent.planned {
                Planned::Pass => (Decision::Pass, 85.0),
                Planned::Fail => (Decision::Fail, 55.0),
                Planned::Border {
                    lean_pass: true, ..
                } => (Decision::Borderline, 72.0),
                Planned::Border {
                    lean_pass: false, ..
                } => (Decision::Borderline, 68.0),
            };
            let sub = seed_grade(
                repo,
                &intent.rep,
                want_rubric,
                decision,
                score,
                &verdicts,
                now,
            )
            .await;
            let applied = apply_decision(repo, &program, sub, now).await.unwrap();
            match intent.planned {
                Planned::Border { lean_pass, human } => {
                    let Applied::QueuedForReview {
                        review,
                        duplicate: false,
                    } = applied
                    else {
                        panic!("{ctx}: {applied:?}")
                    };
                    model.ev(now, &intent.rep, "grade.needs_review", want_rubric);
                    borderline.push((
                        review.id,
                        intent.clone(),
                        lean_pass,
                        human,
                        now,
                        want_rubric,
                        verdicts,
                    ));
                }
                planned => {
                    let Applied::Decided {
                        decision,
                        duplicate: false,
                    } = applied
                    else {
                        panic!("{ctx}: {applied:?}")
                    };
                    let pass = planned == Planned::Pass;
                    let first = model.decide(&intent.rep, intent.track, pass, now);
                    model.decisions.push(MDecision {
                        rep: intent.rep.clone(),
                        track: intent.track.into(),
                        rubric: want_rubric.into(),
                        submitted: now,
                        decided: now,
                        pass,
                        issued_first: first,
                        verdicts: verdicts.clone(),
                    });
                    assert_eq!(
                        decision.outcome == pitchgrade::store::db::certification::Outcome::Pass,
                        pass
                    );
                    if first {
                        schedule_after_first_cert(
                            &mut agenda,
                            &model,
                            &spec(&intent.rep),
                            intent.track,
                            now,
                        );
                    }
                }
            }
        }

        // 15:00: reviewers work the queue, oldest first; two grades queued in
        // the same instant are ordered by review id, as the queue orders them.
        borderline.sort_by_key(|b| (b.4, b.0));
        for (review_id, intent, lean_pass, human, submitted, rubric, verdicts) in borderline {
            let now = at(day, 15, 0);
            let queue = review::queue(repo, 100, None).await.unwrap();
            assert_eq!(queue.first().map(|r| r.id), Some(review_id), "oldest first");
            let claimed = review::claim(repo, "rita", None, None, now)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(claimed.id, review_id);
            assert_eq!(
                claimed.machine_lean == pitchgrade::store::db::certification::Outcome::Pass,
                lean_pass
            );
            let input = match human {
                Human::Pass => ReviewInput {
                    decision: Some(ReviewOutcome::Pass),
                    criteria: vec![],
                    reason: "clear value and a dated next step".into(),
                },
                Human::CriteriaFail => ReviewInput {
                    decision: None,
                    criteria: vec![CriterionInput {
                        id: "next_step".into(),
                        verdict: Verdict::Missed,
                    }],
                    reason: "never asks for a next step".into(),
                },
            };
            let applied = review::decide(repo, &program, review_id, "rita", &input, now)
                .await
                .unwrap();
            let Applied::Decided { .. } = applied else {
                panic!("{applied:?}")
            };
            let pass = human == Human::Pass;
            model.reviews.push((lean_pass, pass));
            let first = model.decide(&intent.rep, intent.track, pass, now);
            model.decisions.push(MDecision {
                rep: intent.rep.clone(),
                track: intent.track.into(),
                rubric: rubric.into(),
                submitted,
                decided: now,
                pass,
                issued_first: first,
                verdicts,
            });
            if first {
                schedule_after_first_cert(
                    &mut agenda,
                    &model,
                    &spec(&intent.rep),
                    intent.track,
                    now,
                );
            }
        }

        // 23:00: rights of every rep something happened to (or could: an
        // expiry or reminder in the last day), everyone weekly; tiers daily.
        let evening = at(day, 23, 0);
        let touched: BTreeSet<String> = model
            .events
            .iter()
            .filter(|e| e.at > evening - TimeDelta::days(1) && e.at <= evening)
            .map(|e| e.rep.clone())
            .chain(acted)
            .collect();
        for r in &reps {
            if day % 7 == 0 || touched.contains(&r.id) {
                let got = gating::rights_of(repo, &program, &r.id, evening)
                    .await
                    .unwrap();
                let names: BTreeSet<String> = got.rights.iter().map(|h| h.right.clone()).collect();
                assert_eq!(
                    names,
                    model.rights(&r.id, evening),
                    "{} rights on day {day}",
                    r.id
                );
                checked_rights += 1;
            }
        }
        // The exact instants around every expiry of the day.
        let expiring: Vec<(String, DateTime<Utc>)> = model
            .certs
            .iter()
            .filter(|(_, c)| c.expires > evening - TimeDelta::days(1) && c.expires <= evening)
            .map(|((rep, _), c)| (rep.clone(), c.expires))
            .collect();
        for (rep, exp) in expiring {
            for t in [exp - TimeDelta::milliseconds(1), exp] {
                let got = gating::rights_of(repo, &program, &rep, t).await.unwrap();
                let names: BTreeSet<String> = got.rights.iter().map(|h| h.right.clone()).collect();
                assert_eq!(names, model.rights(&rep, t), "{rep} rights at {t}");
                checked_rights += 1;
            }
        }
        for firm in ["northwind", "bluepeak", "cedar"] {
            let s = gating::firm_standing(repo, &program, firm, evening)
                .await
                .unwrap();
            assert_eq!(
                s.tier.as_deref(),
                model.tier(firm, evening),
                "{firm} tier on day {day}"
            );
        }

        if day == REPORT_DAY {
            let now = at(day, 23, 30);
            mid_report = Some(
                reports::build(repo, &program, now, &ReportOptions::default())
                    .await
                    .unwrap(),
            );
            mid_model = Some(expected_report(&model, now));
        }
    }

    // Every event, exactly.
    let mut got: Vec<Ev> = repo
        .list_outbox(None, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            let d = &e.payload["data"];
            let rep = d["rep_id"].as_str().unwrap().to_string();
            let what = match e.kind.as_str() {
                "rights.granted" | "rights.paused" | "rights.restored" => {
                    d["right"].as_str().unwrap().to_string()
                }
                "certification.expiring" => {
                    format!("{}:{}", d["track"].as_str().unwrap(), d["days_before"])
                }
                "grade.needs_review" => d["rubric_id"].as_str().unwrap().to_string(),
                _ => d["track"].as_str().unwrap().to_string(),
            };
            Ev {
                at: e.occurred_at,
                rep,
                kind: e.kind,
                what,
            }
        })
        .collect();
    got.sort();
    let mut want = model.events.clone();
    want.sort();
    assert_eq!(got.len(), want.len(), "event count");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w);
    }
    let ids: BTreeSet<_> = repo
        .list_outbox(None, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids.len(), want.len(), "every event has its own id");

    // The story covered what it claims to.
    let count = |k: &str| want.iter().filter(|e| e.kind == k).count();
    for kind in [
        "certification.issued",
        "certification.renewed",
        "certification.expiring",
        "certification.expired",
        "rights.granted",
        "rights.paused",
        "rights.restored",
        "grade.needs_review",
    ] {
        assert!(count(kind) > 0, "the year has no {kind}");
    }
    assert!(
        model.reviews.iter().any(|(lean, human)| lean != human),
        "an override happened"
    );
    assert!(
        checked_rights > 2000,
        "checked {checked_rights} rights answers"
    );

    // Reviews and overrides in the audit log.
    let overrides = repo
        .audit_log(&AuditFilter {
            action_prefix: Some("review.override".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    let overall_overrides = overrides
        .iter()
        .filter(|a| a.detail.get("criterion").is_none())
        .count();
    assert_eq!(
        overall_overrides,
        model.reviews.iter().filter(|(l, h)| l != h).count()
    );

    // Every report figure, mid-year and at the end.
    let mid = mid_report.unwrap();
    compare_report(&mid, &mid_model.unwrap());
    assert!(
        !mid.tier_forecast.is_empty(),
        "the mid-year report forecasts a tier drop"
    );
    let end = at(DAYS, 23, 30);
    let last = reports::build(repo, &program, end, &ReportOptions::default())
        .await
        .unwrap();
    compare_report(&last, &expected_report(&model, end));
}

/// After a first certification: specialists take the specialty a month later;
/// every sales rep's renewal story is scheduled from the expiry the model expects.
fn schedule_after_first_cert(
    agenda: &mut Agenda,
    model: &Model,
    rep: &RepSpec,
    track: &str,
    now: DateTime<Utc>,
) {
    let expiry = model.certs[&(rep.id.clone(), track.to_string())].expires;
    match track {
        "sales" => {
            renewal_plan(agenda, rep, expiry);
            if SPECIALISTS.contains(&rep.id.as_str()) {
                add(
                    agenda,
                    day_of(now) + 30,
                    &rep.id,
                    "close-specialist",
                    Planned::Pass,
                    Expect::Allowed,
                );
            }
        }
        "close-specialist" if rep.id == SPECIALISTS[0] => {
            // Renews the specialty inside its 30-day window.
            add(
                agenda,
                day_of(expiry) - 10,
                &rep.id,
                "close-specialist",
                Planned::Pass,
                Expect::Allowed,
            );
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// Report figures, computed from the model's own records
// ---------------------------------------------------------------------------

/// Tier drops by firm: (tier now, tier after, when).
type Drops<'a> = BTreeMap<String, (Option<&'a str>, Option<&'a str>, DateTime<Utc>)>;
struct ExpectedReport {
    pass: (u32, u32),
    first: BTreeMap<String, (u32, u32)>,
    retake: (u32, u32),
    median_days: Option<f64>,
    certified_pairs: u32,
    coverage: BTreeMap<(String, String), (u32, u32)>,
    tiers: BTreeMap<String, Option<&'static str>>,
    overrides: (u32, u32),
    kappa: Option<f64>,
    drops: Drops<'static>,
    misses: BTreeMap<(String, String), (u32, u32, u32)>,
}

fn expected_report(model: &Model, now: DateTime<Utc>) -> ExpectedReport {
    let decided: Vec<&MDecision> = model
        .decisions
        .iter()
        .filter(|d| d.decided <= now)
        .collect();
    let pass = (
        decided.iter().filter(|d| d.pass).count() as u32,
        decided.len() as u32,
    );

    let mut pairs: BTreeMap<(String, String), Vec<&MDecision>> = BTreeMap::new();
    for d in &decided {
        pairs
            .entry((d.rep.clone(), d.track.clone()))
            .or_default()
            .push(d);
    }
    let mut first: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    let mut retaken = 0;
    let mut days = Vec::new();
    for attempts in pairs.values_mut() {
        attempts.sort_by_key(|d| d.submitted);
        let e = first.entry(attempts[0].rubric.clone()).or_default();
        e.1 += 1;
        e.0 += u32::from(attempts[0].pass);
        if attempts.iter().take(attempts.len() - 1).any(|d| !d.pass) {
            retaken += 1;
        }
        if let Some(c) = attempts.iter().find(|d| d.issued_first) {
            days.push((c.decided - attempts[0].submitted).num_milliseconds() as f64 / 86_400_000.0);
        }
    }
    days.sort_by(f64::total_cmp);
    let median_days = match days.len() {
        0 => None,
        n if n % 2 == 1 => Some(days[n / 2]),
        n => Some((days[n / 2 - 1] + days[n / 2]) / 2.0),
    };

    let mut coverage = BTreeMap::new();
    let mut tiers = BTreeMap::new();
    let mut drops = BTreeMap::new();
    for firm in ["northwind", "bluepeak", "cedar"] {
        for (track, role) in [
            ("sales", "sales"),
            ("technical", "technical"),
            ("close-specialist", "sales"),
        ] {
            let reps: Vec<&String> = model
                .firm_of
                .iter()
                .filter(|(r, f)| {
                    f.as_str() == firm && model.active[*r] && model.role_of[*r] == role
                })
                .map(|(r, _)| r)
                .collect();
            let certified = reps.iter().filter(|r| model.gives(r, track, now)).count() as u32;
            coverage.insert(
                (firm.to_string(), track.to_string()),
                (certified, reps.len() as u32),
            );
        }
        let tier = model.tier(firm, now);
        tiers.insert(firm.to_string(), tier);
        // Nobody renews: walk the firm's expiries within 60 days.
        let mut expiries: Vec<DateTime<Utc>> = model
            .certs
            .iter()
            .filter(|((r, _), c)| {
                model.firm_of[r] == firm
                    && c.valid
                    && c.expires > now
                    && c.expires <= now + TimeDelta::days(60)
            })
            .map(|(_, c)| c.expires)
            .collect();
        expiries.sort();
        expiries.dedup();
        if let Some(t) = expiries
            .into_iter()
            .find(|t| rank(model.tier(firm, *t)) > rank(tier))
        {
            drops.insert(firm.to_string(), (tier, model.tier(firm, t), t));
        }
    }

    let reviews: Vec<(bool, bool)> = model.reviews.clone();
    let n = reviews.len() as f64;
    let agree = reviews.iter().filter(|(a, b)| a == b).count();
    let kappa = if reviews.is_empty() {
        None
    } else {
        let po = agree as f64 / n;
        let a = reviews.iter().filter(|r| r.0).count() as f64 / n;
        let b = reviews.iter().filter(|r| r.1).count() as f64 / n;
        let pe = a * b + (1.0 - a) * (1.0 - b);
        (pe < 1.0).then(|| (po - pe) / (1.0 - pe))
    };

    let mut misses: BTreeMap<(String, String), (u32, u32, u32)> = BTreeMap::new();
    for d in &decided {
        for (id, _, _) in criteria_of(&d.rubric) {
            let v = d
                .verdicts
                .iter()
                .find(|(c, _)| c == id)
                .map_or(Verdict::Met, |(_, v)| *v);
            let e = misses
                .entry((d.rubric.clone(), id.to_string()))
                .or_default();
            e.0 += 1;
            e.1 += u32::from(v == Verdict::Missed);
            e.2 += u32::from(v == Verdict::Partial);
        }
    }

    ExpectedReport {
        pass,
        first,
        retake: (retaken, pairs.len() as u32),
        median_days,
        certified_pairs: days.len() as u32,
        coverage,
        tiers,
        overrides: ((reviews.len() - agree) as u32, reviews.len() as u32),
        kappa,
        drops,
        misses,
    }
}

fn close(a: Option<f64>, b: Option<f64>, what: &str) {
    match (a, b) {
        (Some(a), Some(b)) => assert!((a - b).abs() < 1e-9, "{what}: {a} vs {b}"),
        (a, b) => assert_eq!(a, b, "{what}"),
    }
}

fn compare_report(got: &reports::Report, want: &ExpectedReport) {
    assert_eq!(
        (got.pass_rate.count, got.pass_rate.total),
        want.pass,
        "pass rate"
    );
    let first: BTreeMap<String, (u32, u32)> = got
        .first_attempt
        .iter()
        .map(|f| (f.rubric_id.clone(), (f.rate.count, f.rate.total)))
        .collect();
    assert_eq!(first, want.first, "first-attempt pass rate per rubric");
    for f in &got.first_attempt {
        let rate = f64::from(f.rate.count) / f64::from(f.rate.total);
        let health = if f.rate.total < 10 {
            BandHealth::TooFewAttempts
        } else if rate > 0.80 {
            BandHealth::TooEasy
        } else if rate < 0.65 {
            BandHealth::TooHard
        } else {
            BandHealth::Healthy
        };
        assert_eq!(f.health, health, "{}: {rate}", f.rubric_id);
        assert_eq!(
            f.warning.is_some(),
            matches!(health, BandHealth::TooEasy | BandHealth::TooHard)
        );
    }
    assert_eq!(
        (got.retake_rate.count, got.retake_rate.total),
        want.retake,
        "retake rate"
    );
    close(
        got.median_days_to_certification,
        want.median_days,
        "median time to certification",
    );
    assert_eq!(got.certified_pairs, want.certified_pairs);
    for firm in &got.coverage {
        assert_eq!(
            firm.tier.as_deref(),
            want.tiers[&firm.firm_id],
            "{} tier",
            firm.firm_id
        );
        for c in &firm.coverage {
            let (certified, eligible) = want.coverage[&(firm.firm_id.clone(), c.track.clone())];
            assert_eq!(
                (c.certified, c.eligible),
                (certified, eligible),
                "{} {}",
                firm.firm_id,
                c.track
            );
        }
    }
    assert_eq!(got.coverage.len(), 3);
    assert_eq!(
        (
            got.reviews.override_rate.count,
            got.reviews.override_rate.total
        ),
        want.overrides,
        "override rate"
    );
    close(got.reviews.kappa, want.kappa, "kappa");
    let drops: Drops = got
        .tier_forecast
        .iter()
        .map(|d| {
            (
                d.firm_id.clone(),
                (d.tier_now.as_deref(), d.tier_after.as_deref(), d.drops_at),
            )
        })
        .collect();
    let want_drops: Drops = want
        .drops
        .iter()
        .map(|(k, v)| (k.clone(), (v.0, v.1, v.2)))
        .collect();
    assert_eq!(drops, want_drops, "tier forecast");
    let misses: BTreeMap<(String, String), (u32, u32, u32)> = got
        .criterion_misses
        .iter()
        .map(|m| {
            (
                (m.rubric_id.clone(), m.criterion.clone()),
                (m.scored, m.missed, m.partial),
            )
        })
        .collect();
    assert_eq!(misses, want.misses, "per-criterion miss rates");
}
