//! The program dashboard for enablement and admins: five charts drawn on the
//! server from the certification reports, each with its numbers in a table.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};

use super::super::auth::{Role, Viewer};
use super::super::charts;
use super::super::error::WebError;
use super::super::program::{DashboardData, PeriodRate};
use super::super::WebState;
use super::{render, Chrome};
use crate::certify::calibration::{Agreement, AlertLevel};

/// A chart and the rows of its data table.
pub struct Chart {
    pub id: &'static str,
    pub title: String,
    pub svg: String,
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
    /// A sentence under the chart (e.g. which rubrics sit outside the band).
    pub note: Option<String>,
}

/// AI–reviewer agreement over the program's window: a table, not a chart, and
/// its alerts at the top of the page where nobody can miss them.
pub struct AgreementCard {
    pub title: String,
    /// `(level, sentence)`: level is `warn` or `recalibrate`.
    pub alerts: Vec<(&'static str, String)>,
    pub rows: Vec<Vec<String>>,
    pub criteria: Vec<Vec<String>>,
    pub note: String,
}

#[derive(Template)]
#[template(path = "web/dashboard.html")]
pub struct DashboardPage {
    pub chrome: Chrome,
    pub configured: bool,
    pub charts: Vec<Chart>,
    pub agreement: Option<AgreementCard>,
}

pub async fn page(
    State(state): State<WebState>,
    Viewer(viewer): Viewer,
) -> Result<Response, WebError> {
    viewer.require(&[Role::Enablement, Role::Admin])?;
    let now = Utc::now();
    let data = state.program.dashboard(now).await?;
    render(&DashboardPage {
        chrome: Chrome::for_viewer("Program dashboard", "dashboard", &viewer, "/program"),
        configured: state.program.configured(),
        charts: build_charts(&data, now),
        agreement: data.agreement.as_ref().map(agreement_card),
    })
}

fn kappa(k: Option<f64>) -> String {
    k.map(|k| format!("{k:.2}")).unwrap_or_else(|| "–".into())
}

/// The agreement table and its alerts, in the report's words.
pub fn agreement_card(a: &Agreement) -> AgreementCard {
    let status = |l: AlertLevel| match l {
        AlertLevel::TooFewReviews => format!("too few reviews (under {})", a.min_sample),
        AlertLevel::Ok => "ok".into(),
        AlertLevel::Warn => "warning".into(),
        AlertLevel::Recalibrate => "recalibrate".into(),
    };
    let all = std::iter::once(&a.overall).chain(&a.rubrics);
    AgreementCard {
        title: format!("AI–reviewer agreement, last {} days", a.window_days),
        alerts: a
            .alerts()
            .filter_map(|r| {
                let level = if r.level == AlertLevel::Recalibrate {
                    "recalibrate"
                } else {
                    "warn"
                };
                Some((level, r.alert.clone()?))
            })
            .collect(),
        rows: all
            .map(|r| {
                vec![
                    r.rubric_id.clone(),
                    r.override_rate.total.to_string(),
                    format!(
                        "{} ({})",
                        pct(r.override_rate.rate),
                        r.override_rate.count
                    ),
                    kappa(r.kappa),
                    status(r.level),
                ]
            })
            .collect(),
        criteria: a
            .rubrics
            .iter()
            .flat_map(|r| {
                r.criteria.iter().map(|c| {
                    vec![
                        r.rubric_id.clone(),
                        c.criterion.clone(),
                        c.reviews.to_string(),
                        pct(c.agreement.rate),
                        kappa(c.kappa),
                    ]
                })
            })
            .collect(),
        note: format!(
            "Decided reviews since {}. Above {:.0}% overridden warns, above {:.0}% asks for recalibration; a rubric needs {} decided reviews before it is judged. Reviews are the machine's borderline cases, so agreement here is lower than over all pitches.",
            a.since.format("%Y-%m-%d"),
            a.warn_override_rate * 100.0,
            a.recalibrate_override_rate * 100.0,
            a.min_sample
        ),
    }
}

fn pct(r: Option<f64>) -> String {
    r.map(|r| format!("{:.0}%", r * 100.0))
        .unwrap_or_else(|| "–".into())
}

fn periods(rates: &[PeriodRate]) -> Vec<(String, Option<f64>)> {
    rates
        .iter()
        .map(|p| (p.period_start.format("%b %d").to_string(), p.rate))
        .collect()
}

fn period_rows(rates: &[PeriodRate]) -> Vec<Vec<String>> {
    rates
        .iter()
        .map(|p| {
            vec![
                p.period_start.format("%Y-%m-%d").to_string(),
                pct(p.rate),
                p.count.to_string(),
            ]
        })
        .collect()
}

/// The five charts, in the order enablement reads them.
pub fn build_charts(d: &DashboardData, now: DateTime<Utc>) -> Vec<Chart> {
    let band = d.healthy_band;
    // The report's own sentences: one definition and one minimum sample.
    let outside: Vec<String> = d
        .first_attempt
        .iter()
        .filter_map(|r| r.warning.clone())
        .collect();

    // Expiring in the next 60 days, bucketed by week from today.
    let mut weeks = [0u64; 9];
    for e in &d.expiring {
        let days = (e.expires_at - now).num_days();
        if (0..=60).contains(&days) {
            weeks[(days / 7) as usize] += 1;
        }
    }
    let week_bars: Vec<(String, u64)> = weeks
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let from = now + chrono::TimeDelta::days(7 * i as i64);
            (from.format("%b %d").to_string(), *n)
        })
        .collect();

    vec![
        Chart {
            id: "chart-pass-rate",
            title: "Pass rate over time".into(),
            svg: charts::rate_line(
                "svg-pass-rate",
                "Pass rate over time",
                &periods(&d.pass_rate),
            ),
            columns: vec!["Period from", "Pass rate", "Decisions"],
            rows: period_rows(&d.pass_rate),
            note: None,
        },
        Chart {
            id: "chart-first-attempt",
            title: format!(
                "First-attempt pass rate per rubric (healthy {:.0}–{:.0}%)",
                band.0 * 100.0,
                band.1 * 100.0
            ),
            svg: charts::band_bars(
                "svg-first-attempt",
                "First-attempt pass rate per rubric",
                &d.first_attempt
                    .iter()
                    .map(|r| charts::BandBar {
                        label: r.rubric_id.clone(),
                        rate: r.rate,
                        judged: r.judged,
                    })
                    .collect::<Vec<_>>(),
                band,
            ),
            columns: vec!["Rubric", "First-attempt pass rate", "First attempts"],
            rows: d
                .first_attempt
                .iter()
                .map(|r| vec![r.rubric_id.clone(), pct(r.rate), r.attempts.to_string()])
                .collect(),
            note: (!outside.is_empty()).then(|| outside.join("; ") + "."),
        },
        Chart {
            id: "chart-coverage",
            title: "Certified coverage per firm".into(),
            svg: charts::share_bars(
                "svg-coverage",
                "Certified coverage per firm",
                &d.coverage
                    .iter()
                    .map(|f| {
                        (
                            f.firm.clone(),
                            f.coverage,
                            format!(
                                "({} of {} active reps, tier {})",
                                f.certified, f.active, f.tier
                            ),
                        )
                    })
                    .collect::<Vec<_>>(),
            ),
            columns: vec!["Firm", "Tier", "Coverage", "Certified", "Active reps"],
            rows: d
                .coverage
                .iter()
                .map(|f| {
                    vec![
                        f.firm.clone(),
                        f.tier.clone(),
                        pct(Some(f.coverage)),
                        f.certified.to_string(),
                        f.active.to_string(),
                    ]
                })
                .collect(),
            note: None,
        },
        Chart {
            id: "chart-expiring",
            title: "Certifications expiring in the next 60 days (by week)".into(),
            svg: charts::count_bars(
                "svg-expiring",
                "Certifications expiring in the next 60 days, by week",
                &week_bars,
            ),
            columns: vec!["Rep", "Firm", "Track", "Expires"],
            rows: d
                .expiring
                .iter()
                .map(|e| {
                    vec![
                        e.rep_id.clone(),
                        e.firm.clone(),
                        e.track.clone(),
                        e.expires_at.format("%Y-%m-%d").to_string(),
                    ]
                })
                .collect(),
            note: None,
        },
        Chart {
            id: "chart-override",
            title: "Reviewer override rate".into(),
            svg: charts::rate_line(
                "svg-override",
                "Share of reviewed grades where the reviewer overrode the machine",
                &periods(&d.override_rate),
            ),
            columns: vec!["Period from", "Override rate", "Reviews"],
            rows: period_rows(&d.override_rate),
            note: None,
        },
    ]
}
