//! A partner firm's page, for its partner admin (and for enablement, any
//! firm's): the roster with where each rep stands, certified coverage per
//! track, the tier and what would take it away.
//!
//! A partner admin reaches only their own firm: another firm's page reads as
//! missing, exactly like one that does not exist, so firm ids cannot be probed.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use chrono::{DateTime, Utc};

use super::super::auth::{Principal, Role, Viewer};
use super::super::charts;
use super::super::error::WebError;
use super::super::program::{FirmOverview, RepStanding};
use super::super::WebState;
use super::{render, Chrome};

/// Who may open a firm's page.
const FIRM_READERS: &[Role] = &[Role::PartnerAdmin, Role::Enablement, Role::Admin];

/// One row of the roster table.
pub struct RosterRow {
    pub rep_id: String,
    pub role: String,
    pub active: bool,
    /// `certified`, `expiring`, `lapsed`, `not-yet`, `never`: the CSS class
    /// and what tests read.
    pub code: &'static str,
    pub status: String,
    pub latest: Option<String>,
}

#[derive(Template)]
#[template(path = "web/firm.html")]
pub struct FirmPage {
    pub chrome: Chrome,
    pub configured: bool,
    pub firm_id: String,
    pub name: String,
    pub tier: String,
    pub coverage_svg: String,
    pub coverage_rows: Vec<Vec<String>>,
    pub forecast: String,
    /// A drop is coming: the forecast is a warning, not a reassurance.
    pub at_risk: bool,
    pub rows: Vec<RosterRow>,
}

/// `/firm`: the partner admin's own firm.
pub async fn own(
    State(state): State<WebState>,
    Viewer(viewer): Viewer,
) -> Result<Response, WebError> {
    viewer.require(&[Role::PartnerAdmin])?;
    let firm = viewer.firm.clone().ok_or(WebError::Forbidden)?;
    page(&state, &viewer, &firm).await
}

/// `/firms/{firm}`: any firm for enablement and admins, its own for a
/// partner admin.
pub async fn any(
    State(state): State<WebState>,
    Viewer(viewer): Viewer,
    Path(firm): Path<String>,
) -> Result<Response, WebError> {
    viewer.require(FIRM_READERS)?;
    if viewer.firm.as_deref().is_some_and(|own| own != firm) {
        return Err(WebError::NotFound("firm".into()));
    }
    page(&state, &viewer, &firm).await
}

async fn page(state: &WebState, viewer: &Principal, firm: &str) -> Result<Response, WebError> {
    let now = Utc::now();
    let configured = state.program.configured();
    let overview = match state.program.firm(firm, now).await? {
        Some(o) => o,
        // Without a program there are no firms to show; say so on the page
        // rather than pretend the firm does not exist.
        None if !configured => FirmOverview {
            firm_id: firm.to_string(),
            name: firm.to_string(),
            tier: None,
            coverage: Vec::new(),
            reps: Vec::new(),
            forecast: None,
            forecast_days: 0,
        },
        None => return Err(WebError::NotFound("firm".into())),
    };
    let home = if viewer.role == Role::PartnerAdmin {
        "/firm"
    } else {
        "/program"
    };
    let title = if overview.name.is_empty() {
        overview.firm_id.clone()
    } else {
        overview.name.clone()
    };
    render(&build(
        Chrome::for_viewer(&title, "firm", viewer, home),
        configured,
        &overview,
    ))
}

fn date(t: DateTime<Utc>) -> String {
    t.format("%-d %B %Y").to_string()
}

/// The page from the firm's figures (pure, so its sentences can be tested).
pub fn build(chrome: Chrome, configured: bool, o: &FirmOverview) -> FirmPage {
    let tier_name = |t: &Option<String>| t.clone().unwrap_or_else(|| "no tier".into());
    let forecast = match &o.forecast {
        Some(f) => {
            let n = f.lapsing_reps.len();
            format!(
                "If {} lapse{} ({}), the firm drops from {} to {} on {}. Renewing before then keeps the tier.",
                if n == 1 { "this rep".to_string() } else { format!("these {n} reps") },
                if n == 1 { "s" } else { "" },
                f.lapsing_reps.join(", "),
                tier_name(&f.tier_now),
                tier_name(&f.tier_after),
                date(f.drops_at)
            )
        }
        None if configured => format!(
            "The firm keeps {} for at least the next {} days, even if nobody renews.",
            tier_name(&o.tier),
            o.forecast_days
        ),
        None => "No certification program is configured on this server.".into(),
    };
    let rows = o
        .reps
        .iter()
        .map(|r| {
            let (code, status) = match &r.standing {
                RepStanding::Certified { until } => {
                    ("certified", format!("Certified until {}", date(*until)))
                }
                RepStanding::Expiring { until, days } => (
                    "expiring",
                    format!(
                        "Expiring in {} ({})",
                        match days {
                            0 => "less than a day".to_string(),
                            1 => "1 day".to_string(),
                            d => format!("{d} days"),
                        },
                        date(*until)
                    ),
                ),
                RepStanding::Lapsed { since } => ("lapsed", format!("Lapsed on {}", date(*since))),
                RepStanding::NotYetCertified => ("not-yet", "Not certified yet".to_string()),
                RepStanding::NeverAttempted => ("never", "Never attempted".to_string()),
            };
            RosterRow {
                rep_id: r.rep_id.clone(),
                role: r.role.clone(),
                active: r.active,
                code,
                status,
                latest: r.latest.map(|id| format!("/submissions/{id}")),
            }
        })
        .collect();
    FirmPage {
        chrome,
        configured,
        firm_id: o.firm_id.clone(),
        name: o.name.clone(),
        tier: tier_name(&o.tier),
        coverage_svg: charts::share_bars(
            "svg-firm-coverage",
            "Certified coverage per track",
            &o.coverage
                .iter()
                .map(|c| {
                    (
                        c.track.clone(),
                        c.coverage,
                        format!("({} of {} active {} reps)", c.certified, c.eligible, c.role),
                    )
                })
                .collect::<Vec<_>>(),
        ),
        coverage_rows: o
            .coverage
            .iter()
            .map(|c| {
                vec![
                    c.track.clone(),
                    c.role.clone(),
                    format!("{:.0}%", c.coverage * 100.0),
                    c.certified.to_string(),
                    c.eligible.to_string(),
                ]
            })
            .collect(),
        at_risk: o.forecast.is_some(),
        forecast,
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::program::{FirmRep, TierForecast, TrackCoverage};

    fn overview(forecast: Option<TierForecast>) -> FirmOverview {
        FirmOverview {
            firm_id: "contoso".into(),
            name: "Contoso".into(),
            tier: Some("gold".into()),
            coverage: vec![TrackCoverage {
                track: "sales".into(),
                role: "sales".into(),
                certified: 3,
                eligible: 4,
                coverage: 0.75,
            }],
            reps: vec![
                FirmRep {
                    rep_id: "ana".into(),
                    role: "sales".into(),
                    active: true,
                    standing: RepStanding::Expiring {
                        until: "2027-03-01T00:00:00Z".parse().unwrap(),
                        days: 12,
                    },
                    latest: None,
                },
                FirmRep {
                    rep_id: "bo".into(),
                    role: "sales".into(),
                    active: true,
                    standing: RepStanding::NeverAttempted,
                    latest: None,
                },
            ],
            forecast,
            forecast_days: 60,
        }
    }

    #[test]
    fn the_forecast_names_the_reps_the_tier_and_the_day() {
        let page = build(
            Chrome::anonymous("Contoso"),
            true,
            &overview(Some(TierForecast {
                tier_now: Some("gold".into()),
                tier_after: Some("silver".into()),
                drops_at: "2027-03-01T00:00:00Z".parse().unwrap(),
                lapsing_reps: vec!["ana".into(), "cy".into()],
            })),
        );
        assert_eq!(
            page.forecast,
            "If these 2 reps lapse (ana, cy), the firm drops from gold to silver on 1 March 2027. \
             Renewing before then keeps the tier."
        );
        assert!(page.at_risk);
        assert_eq!(page.rows[0].code, "expiring");
        assert_eq!(page.rows[0].status, "Expiring in 12 days (1 March 2027)");
        assert_eq!(page.rows[1].status, "Never attempted");
    }

    #[test]
    fn a_steady_firm_is_told_it_keeps_its_tier() {
        let page = build(Chrome::anonymous("Contoso"), true, &overview(None));
        assert_eq!(
            page.forecast,
            "The firm keeps gold for at least the next 60 days, even if nobody renews."
        );
        assert!(!page.at_risk);
    }
}
