//! Program health for enablement: is the rubric fair, is the program working,
//! which firms are about to lose a tier.
//!
//! Definitions (the figures are only useful if everyone reads them the same way):
//! - **pass rate**: final decisions that passed / all final decisions;
//! - **first-attempt pass rate per rubric**: for every (rep, track), the first
//!   final decision (by submission time), grouped by the rubric it used. Healthy
//!   between 65% and 80%: above, the rubric is too easy; below, too hard (or the
//!   content is). Fewer than `min_sample` first attempts give no verdict (the
//!   program's `[calibration] min_sample`, the dashboard's too);
//! - **retake rate**: (rep, track) pairs that submitted again after a fail / all
//!   pairs with a final decision;
//! - **median time to certification**: for every (rep, track) ever certified,
//!   days from its first submission to the decision that first certified it;
//! - **coverage**: per firm and track, the share of the firm's active reps in
//!   the track's role holding a valid certification, and the firm's tier;
//! - **override rate**: decided reviews where the reviewer went against the
//!   machine's lean (its score against the bar) / decided reviews;
//! - **AI–reviewer agreement**: Cohen's kappa between the machine's lean and the
//!   reviewer's decision (pass/fail), `None` when undefined (one class only);
//!   over all time here, and per rubric and criterion over the program's
//!   rolling window with alerts in `agreement` (see [`super::calibration`]);
//! - **tier forecast**: firms that fall below their tier within `forecast_days`
//!   if nobody renews, and when;
//! - **criterion miss rates**: per rubric and criterion, machine verdicts
//!   `missed` (and `partial`) / scored verdicts, over all final decisions.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::calibration::{self, Agreement};
use super::gating::{self, Coverage, TierDrop};
use super::program::Program;
use super::CertifyError;
use crate::score::decide::Verdict;
use crate::store::db::certification::{
    all_certifications, CertDecision, CertFilter, Certification, Effect, Outcome, Rep, Review,
};
use crate::store::Repo;

pub const HEALTHY_BAND: (f64, f64) = (0.65, 0.80);

#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub forecast_days: u32,
    /// Below this many first attempts a rubric gets no healthy/unhealthy
    /// verdict; `None` takes the program's `[calibration] min_sample`.
    pub min_sample: Option<u32>,
    /// One partner firm's report: every figure from that firm's reps alone
    /// (what its partner admin is shown). The rows are chosen in the
    /// repository's queries, so another firm's rows are never read.
    pub firm: Option<String>,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            forecast_days: 60,
            min_sample: None,
            firm: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rate {
    pub count: u32,
    pub total: u32,
    /// `count / total`; `None` with nothing to measure.
    pub rate: Option<f64>,
}

impl Rate {
    pub(crate) fn of(count: usize, total: usize) -> Rate {
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        let total = u32::try_from(total).unwrap_or(u32::MAX);
        Rate {
            count,
            total,
            rate: (total > 0).then(|| f64::from(count) / f64::from(total)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BandHealth {
    Healthy,
    TooEasy,
    TooHard,
    TooFewAttempts,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FirstAttempt {
    pub rubric_id: String,
    pub track: Option<String>,
    pub rate: Rate,
    pub health: BandHealth,
    pub warning: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FirmCoverage {
    pub firm_id: String,
    pub name: String,
    pub tier: Option<String>,
    pub coverage: Vec<Coverage>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewStats {
    pub override_rate: Rate,
    pub kappa: Option<f64>,
    /// Observed agreement (the share where machine lean and reviewer agree).
    pub agreement: Rate,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriterionMisses {
    pub rubric_id: String,
    pub criterion: String,
    pub scored: u32,
    pub missed: u32,
    pub partial: u32,
    pub miss_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub at: DateTime<Utc>,
    pub pass_rate: Rate,
    pub first_attempt: Vec<FirstAttempt>,
    pub retake_rate: Rate,
    pub median_days_to_certification: Option<f64>,
    pub certified_pairs: u32,
    pub coverage: Vec<FirmCoverage>,
    pub reviews: ReviewStats,
    pub forecast_days: u32,
    pub tier_forecast: Vec<TierDrop>,
    pub criterion_misses: Vec<CriterionMisses>,
    /// AI–reviewer agreement over the program's window, with its alerts.
    pub agreement: Agreement,
}

/// Reads everything a report needs and computes it as of `now`.
pub async fn build(
    repo: &dyn Repo,
    program: &Program,
    now: DateTime<Utc>,
    options: &ReportOptions,
) -> Result<Report, CertifyError> {
    let firm = options.firm.as_deref();
    let decisions = repo.list_decisions(None, firm).await?;
    let reviews = repo.list_decided_reviews(firm).await?;
    let firms = match firm {
        Some(id) => repo.get_firm(id).await?.into_iter().collect(),
        None => repo.list_firms().await?,
    };
    let reps = repo.list_reps(firm).await?;
    let certs = all_certifications(
        repo,
        CertFilter {
            firm_id: firm.map(str::to_string),
            ..CertFilter::default()
        },
    )
    .await?;
    let firms: Vec<(String, String)> = firms.into_iter().map(|f| (f.id, f.name)).collect();
    Ok(compute(
        program, &decisions, &reviews, &firms, &reps, &certs, now, options,
    ))
}

/// The report from rows already read (pure, so it can be checked against
/// figures computed by hand).
#[allow(clippy::too_many_arguments)]
pub fn compute(
    program: &Program,
    decisions: &[CertDecision],
    reviews: &[Review],
    firms: &[(String, String)],
    reps: &[Rep],
    certs: &[Certification],
    now: DateTime<Utc>,
    options: &ReportOptions,
) -> Report {
    let passed = decisions
        .iter()
        .filter(|d| d.outcome == Outcome::Pass)
        .count();

    // Attempts of each (rep, track), in submission order.
    let mut pairs: BTreeMap<(&str, &str), Vec<&CertDecision>> = BTreeMap::new();
    for d in decisions {
        if let Some(track) = d.track.as_deref() {
            pairs.entry((d.rep_id.as_str(), track)).or_default().push(d);
        }
    }
    for attempts in pairs.values_mut() {
        attempts.sort_by_key(|d| (d.submitted_at, d.submission_id));
    }

    let mut first: BTreeMap<&str, (Option<&str>, usize, usize)> = BTreeMap::new();
    let mut retaken = 0;
    let mut days_to_cert = Vec::new();
    for ((_, track), attempts) in &pairs {
        let head = attempts[0];
        let entry = first
            .entry(head.rubric_id.as_str())
            .or_insert((Some(track), 0, 0));
        entry.1 += 1;
        if head.outcome == Outcome::Pass {
            entry.2 += 1;
        }
        if attempts.windows(2).any(|w| w[0].outcome == Outcome::Fail) {
            retaken += 1;
        }
        if let Some(cert) = attempts.iter().find(|d| matches!(d.effect, Effect::Issued)) {
            let ms = (cert.decided_at - head.submitted_at).num_milliseconds();
            days_to_cert.push(ms as f64 / 86_400_000.0);
        }
    }
    let first_attempt = first
        .into_iter()
        .map(|(rubric, (track, total, passed))| {
            let rate = Rate::of(passed, total);
            let min_sample = options.min_sample.unwrap_or(program.calibration.min_sample);
            let (health, warning) = health(rate, min_sample);
            FirstAttempt {
                rubric_id: rubric.to_string(),
                track: track.map(str::to_string),
                rate,
                health,
                warning: warning.map(|w| format!("{rubric}: {w}")),
            }
        })
        .collect();

    let certified_pairs = days_to_cert.len();
    let median_days_to_certification = median(&mut days_to_cert);

    let coverage = firms
        .iter()
        .map(|(id, name)| {
            let firm_reps: Vec<Rep> = reps.iter().filter(|r| &r.firm_id == id).cloned().collect();
            let ids: BTreeSet<&str> = firm_reps.iter().map(|r| r.id.as_str()).collect();
            let firm_certs: Vec<Certification> = certs
                .iter()
                .filter(|c| ids.contains(c.rep_id.as_str()))
                .cloned()
                .collect();
            let s = gating::standing(program, id, &firm_reps, &firm_certs, now);
            FirmCoverage {
                firm_id: id.clone(),
                name: name.clone(),
                tier: s.tier,
                coverage: s.coverage,
            }
        })
        .collect();

    let tier_forecast = firms
        .iter()
        .filter_map(|(id, _)| {
            let firm_reps: Vec<Rep> = reps.iter().filter(|r| &r.firm_id == id).cloned().collect();
            let ids: BTreeSet<&str> = firm_reps.iter().map(|r| r.id.as_str()).collect();
            let firm_certs: Vec<Certification> = certs
                .iter()
                .filter(|c| ids.contains(c.rep_id.as_str()))
                .cloned()
                .collect();
            gating::forecast_drop(
                program,
                id,
                &firm_reps,
                &firm_certs,
                now,
                options.forecast_days,
            )
        })
        .collect();

    Report {
        at: now,
        pass_rate: Rate::of(passed, decisions.len()),
        first_attempt,
        retake_rate: Rate::of(retaken, pairs.len()),
        median_days_to_certification,
        certified_pairs: u32::try_from(certified_pairs).unwrap_or(u32::MAX),
        coverage,
        reviews: review_stats(reviews),
        forecast_days: options.forecast_days,
        tier_forecast,
        criterion_misses: criterion_misses(decisions),
        agreement: calibration::compute(reviews, decisions, &program.calibration, now),
    }
}

/// Where a first-attempt pass rate stands against the healthy band: the one
/// definition the report and the dashboard both show.
pub fn health(rate: Rate, min_sample: u32) -> (BandHealth, Option<String>) {
    let Some(r) = rate.rate.filter(|_| rate.total >= min_sample) else {
        return (BandHealth::TooFewAttempts, None);
    };
    let (low, high) = HEALTHY_BAND;
    let pct = |x: f64| format!("{:.0}%", x * 100.0);
    if r > high {
        (
            BandHealth::TooEasy,
            Some(format!(
                "first-attempt pass rate {} is above the healthy {}–{} band: the rubric may be too easy",
                pct(r),
                pct(low),
                pct(high)
            )),
        )
    } else if r < low {
        (
            BandHealth::TooHard,
            Some(format!(
                "first-attempt pass rate {} is below the healthy {}–{} band: the rubric or the enablement content may be too hard",
                pct(r),
                pct(low),
                pct(high)
            )),
        )
    } else {
        (BandHealth::Healthy, None)
    }
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

fn review_stats(reviews: &[Review]) -> ReviewStats {
    let decided: Vec<(Outcome, Outcome)> = reviews
        .iter()
        .filter_map(|r| r.decision.map(|d| (r.machine_lean, d)))
        .collect();
    let n = decided.len();
    let agree = decided.iter().filter(|(m, h)| m == h).count();
    ReviewStats {
        override_rate: Rate::of(n - agree, n),
        kappa: kappa(&decided),
        agreement: Rate::of(agree, n),
    }
}

/// Cohen's kappa for two raters over pass/fail.
pub fn kappa(pairs: &[(Outcome, Outcome)]) -> Option<f64> {
    if pairs.is_empty() {
        return None;
    }
    let n = pairs.len() as f64;
    let observed = pairs.iter().filter(|(a, b)| a == b).count() as f64 / n;
    let share =
        |f: &dyn Fn(&(Outcome, Outcome)) -> bool| pairs.iter().filter(|p| f(p)).count() as f64 / n;
    let a_pass = share(&|p| p.0 == Outcome::Pass);
    let b_pass = share(&|p| p.1 == Outcome::Pass);
    let expected = a_pass * b_pass + (1.0 - a_pass) * (1.0 - b_pass);
    if (1.0 - expected).abs() < f64::EPSILON {
        return None;
    }
    Some((observed - expected) / (1.0 - expected))
}

fn criterion_misses(decisions: &[CertDecision]) -> Vec<CriterionMisses> {
    let mut counts: BTreeMap<(&str, &str), (u32, u32, u32)> = BTreeMap::new();
    for d in decisions {
        for c in &d.criteria {
            let e = counts
                .entry((d.rubric_id.as_str(), c.id.as_str()))
                .or_default();
            match c.verdict {
                Verdict::Unscored => continue,
                Verdict::Missed => e.1 += 1,
                Verdict::Partial => e.2 += 1,
                Verdict::Met => {}
            }
            e.0 += 1;
        }
    }
    counts
        .into_iter()
        .map(
            |((rubric, criterion), (scored, missed, partial))| CriterionMisses {
                rubric_id: rubric.to_string(),
                criterion: criterion.to_string(),
                scored,
                missed,
                partial,
                miss_rate: (scored > 0).then(|| f64::from(missed) / f64::from(scored)),
            },
        )
        .collect()
}

/// Long-format CSV, one figure per row: `section,subject,metric,value`.
pub fn to_csv(report: &Report) -> String {
    let mut out = String::from("section,subject,metric,value\n");
    let mut row = |section: &str, subject: &str, metric: &str, value: String| {
        let _ = writeln!(
            out,
            "{},{},{},{}",
            csv(section),
            csv(subject),
            csv(metric),
            csv(&value)
        );
    };
    let num = |x: Option<f64>| x.map_or_else(String::new, |v| format!("{v:.4}"));
    let rate =
        |row: &mut dyn FnMut(&str, &str, &str, String), section: &str, subject: &str, r: &Rate| {
            row(section, subject, "count", r.count.to_string());
            row(section, subject, "total", r.total.to_string());
            row(section, subject, "rate", num(r.rate));
        };
    rate(&mut row, "pass_rate", "all", &report.pass_rate);
    for f in &report.first_attempt {
        rate(&mut row, "first_attempt_pass_rate", &f.rubric_id, &f.rate);
        row(
            "first_attempt_pass_rate",
            &f.rubric_id,
            "health",
            health_name(f.health).into(),
        );
    }
    rate(&mut row, "retake_rate", "all", &report.retake_rate);
    row(
        "time_to_certification",
        "all",
        "median_days",
        num(report.median_days_to_certification),
    );
    row(
        "time_to_certification",
        "all",
        "certified_pairs",
        report.certified_pairs.to_string(),
    );
    for firm in &report.coverage {
        row(
            "firm_tier",
            &firm.firm_id,
            "tier",
            firm.tier.clone().unwrap_or_default(),
        );
        for c in &firm.coverage {
            let subject = format!("{}/{}", firm.firm_id, c.track);
            row("coverage", &subject, "eligible", c.eligible.to_string());
            row("coverage", &subject, "certified", c.certified.to_string());
            row("coverage", &subject, "coverage", num(Some(c.coverage)));
        }
    }
    rate(
        &mut row,
        "review_override_rate",
        "all",
        &report.reviews.override_rate,
    );
    row(
        "review_agreement",
        "all",
        "kappa",
        num(report.reviews.kappa),
    );
    let a = &report.agreement;
    for r in std::iter::once(&a.overall).chain(&a.rubrics) {
        let section = "agreement_window";
        rate(&mut row, section, &r.rubric_id, &r.override_rate);
        row(section, &r.rubric_id, "kappa", num(r.kappa));
        row(section, &r.rubric_id, "level", r.level.name().into());
        row(
            section,
            &r.rubric_id,
            "window_days",
            a.window_days.to_string(),
        );
        for c in &r.criteria {
            let subject = format!("{}/{}", r.rubric_id, c.criterion);
            row(
                "criterion_agreement",
                &subject,
                "reviews",
                c.reviews.to_string(),
            );
            row(
                "criterion_agreement",
                &subject,
                "agreement",
                num(c.agreement.rate),
            );
            row("criterion_agreement", &subject, "kappa", num(c.kappa));
        }
    }
    for d in &report.tier_forecast {
        row(
            "tier_forecast",
            &d.firm_id,
            "tier_now",
            d.tier_now.clone().unwrap_or_default(),
        );
        row(
            "tier_forecast",
            &d.firm_id,
            "tier_after",
            d.tier_after.clone().unwrap_or_default(),
        );
        row(
            "tier_forecast",
            &d.firm_id,
            "drops_at",
            d.drops_at.to_rfc3339(),
        );
    }
    for m in &report.criterion_misses {
        let subject = format!("{}/{}", m.rubric_id, m.criterion);
        row(
            "criterion_miss_rate",
            &subject,
            "scored",
            m.scored.to_string(),
        );
        row(
            "criterion_miss_rate",
            &subject,
            "missed",
            m.missed.to_string(),
        );
        row(
            "criterion_miss_rate",
            &subject,
            "partial",
            m.partial.to_string(),
        );
        row(
            "criterion_miss_rate",
            &subject,
            "miss_rate",
            num(m.miss_rate),
        );
    }
    out
}

fn health_name(h: BandHealth) -> &'static str {
    match h {
        BandHealth::Healthy => "healthy",
        BandHealth::TooEasy => "too_easy",
        BandHealth::TooHard => "too_hard",
        BandHealth::TooFewAttempts => "too_few_attempts",
    }
}

/// Quotes a CSV field when it needs it; a leading formula character is
/// neutralised so a spreadsheet does not execute a firm's name.
pub(crate) fn csv(field: &str) -> String {
    let guarded = if field.starts_with(['=', '+', '-', '@']) && field.parse::<f64>().is_err() {
        format!("'{field}")
    } else {
        field.to_string()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

/// The report for a terminal.
pub fn to_text(report: &Report) -> String {
    let mut out = String::new();
    let pct = |r: &Rate| {
        r.rate.map_or_else(
            || "n/a".to_string(),
            |v| format!("{:.1}% ({}/{})", v * 100.0, r.count, r.total),
        )
    };
    let _ = writeln!(out, "Certification report at {}", report.at.to_rfc3339());
    let _ = writeln!(out, "pass rate: {}", pct(&report.pass_rate));
    let _ = writeln!(out, "first-attempt pass rate by rubric:");
    for f in &report.first_attempt {
        let _ = writeln!(
            out,
            "  {}: {} [{}]",
            f.rubric_id,
            pct(&f.rate),
            health_name(f.health)
        );
        if let Some(w) = &f.warning {
            let _ = writeln!(out, "  WARNING {w}");
        }
    }
    let _ = writeln!(out, "retake rate: {}", pct(&report.retake_rate));
    let _ = writeln!(
        out,
        "median time to certification: {}",
        report.median_days_to_certification.map_or_else(
            || "n/a".to_string(),
            |d| format!("{d:.1} days ({} certified)", report.certified_pairs)
        )
    );
    let _ = writeln!(out, "firms:");
    for firm in &report.coverage {
        let _ = writeln!(
            out,
            "  {} ({}): tier {}",
            firm.name,
            firm.firm_id,
            firm.tier.as_deref().unwrap_or("none")
        );
        for c in &firm.coverage {
            let _ = writeln!(
                out,
                "    {} ({}): {}/{} = {:.1}%",
                c.track,
                c.role,
                c.certified,
                c.eligible,
                c.coverage * 100.0
            );
        }
    }
    let _ = writeln!(
        out,
        "reviewer override rate: {}",
        pct(&report.reviews.override_rate)
    );
    let _ = writeln!(
        out,
        "AI-reviewer agreement (Cohen's kappa): {}",
        report
            .reviews
            .kappa
            .map_or_else(|| "n/a".to_string(), |k| format!("{k:.3}"))
    );
    let a = &report.agreement;
    let kappa_text = |k: Option<f64>| k.map_or_else(|| "n/a".to_string(), |k| format!("{k:.2}"));
    let _ = writeln!(
        out,
        "AI-reviewer agreement, reviews decided in the last {} days (alerts from {} reviews; warn above {:.0}%, recalibrate above {:.0}% overridden):",
        a.window_days,
        a.min_sample,
        a.warn_override_rate * 100.0,
        a.recalibrate_override_rate * 100.0
    );
    for r in std::iter::once(&a.overall).chain(&a.rubrics) {
        let _ = writeln!(
            out,
            "  {}: overridden {}, kappa {} [{}]",
            r.rubric_id,
            pct(&r.override_rate),
            kappa_text(r.kappa),
            r.level.name()
        );
        for c in &r.criteria {
            let _ = writeln!(
                out,
                "    {}: kept {}, kappa {}",
                c.criterion,
                pct(&c.agreement),
                kappa_text(c.kappa)
            );
        }
    }
    for alert in a.alerts().filter_map(|r| r.alert.as_deref()) {
        let _ = writeln!(out, "  ALERT {alert}");
    }
    let _ = writeln!(
        out,
        "firms dropping a tier within {} days if nobody renews:",
        report.forecast_days
    );
    if report.tier_forecast.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for d in &report.tier_forecast {
        let _ = writeln!(
            out,
            "  {}: {} -> {} on {}",
            d.firm_id,
            d.tier_now.as_deref().unwrap_or("none"),
            d.tier_after.as_deref().unwrap_or("none"),
            d.drops_at.format("%Y-%m-%d %H:%M UTC")
        );
    }
    let _ = writeln!(out, "criterion miss rates:");
    for m in &report.criterion_misses {
        let _ = writeln!(
            out,
            "  {}/{}: missed {}/{} ({}), partial {}",
            m.rubric_id,
            m.criterion,
            m.missed,
            m.scored,
            m.miss_rate
                .map_or_else(|| "n/a".to_string(), |r| format!("{:.1}%", r * 100.0)),
            m.partial
        );
    }
    out
}
