//! One module per audience; this one holds what every page shares: the
//! chrome (title, navigation for the viewer's role) and rendering.

pub mod dashboard;
pub mod firm;
pub mod rep;
pub mod replay;
pub mod review;
pub mod rubrics;

use askama::Template;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY};
use axum::http::HeaderValue;
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::auth::{Principal, Role};
use super::error::WebError;
use super::WebState;

/// A link in the header's navigation.
#[derive(Debug, Clone)]
pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// What the layout needs: page title, who is signed in and where they can go.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub title: String,
    /// `data-page` on `<body>`: which part of app.js wakes up.
    pub page: &'static str,
    pub who: Option<String>,
    pub role: Option<&'static str>,
    pub nav: Vec<NavLink>,
}

impl Chrome {
    pub fn anonymous(title: &str) -> Chrome {
        Chrome {
            title: title.to_string(),
            page: "plain",
            who: None,
            role: None,
            nav: Vec::new(),
        }
    }

    /// The layout for `viewer`, with `current` marked in the navigation.
    pub fn for_viewer(
        title: &str,
        page: &'static str,
        viewer: &Principal,
        current: &str,
    ) -> Chrome {
        let links: &[(&'static str, &'static str)] = match viewer.role {
            Role::Rep => &[("/rep", "My pitches")],
            Role::PartnerAdmin => &[("/firm", "My firm")],
            Role::Reviewer => &[("/review", "Review queue"), ("/rubrics", "Rubrics")],
            Role::Enablement | Role::Admin => &[
                ("/program", "Program"),
                ("/review", "Review queue"),
                ("/rubrics", "Rubrics"),
            ],
        };
        Chrome {
            title: title.to_string(),
            page,
            // A partner admin is their firm's admin to themselves, not a token id.
            who: Some(match (viewer.role, &viewer.firm) {
                (Role::PartnerAdmin, Some(firm)) => format!("{firm} admin"),
                _ => viewer.id.clone(),
            }),
            role: Some(viewer.role.as_str()),
            nav: links
                .iter()
                .map(|&(href, label)| NavLink {
                    href,
                    label,
                    current: href == current,
                })
                .collect(),
        }
    }
}

/// Renders a template into a response with the headers every page carries:
/// a strict CSP (our own script and style only: nothing injected can run),
/// no caching of pages that show personal results, no referrer leaks.
pub fn render<T: Template>(page: &T) -> Result<Response, WebError> {
    let body = page.render().map_err(|source| WebError::Render {
        page: std::any::type_name::<T>(),
        source,
    })?;
    let mut response = Html(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(crate::service::http::CONTENT_SECURITY_POLICY_VALUE),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    Ok(response)
}

/// `/`: the viewer's home page, or sign-in.
pub async fn home(
    axum::extract::State(state): axum::extract::State<WebState>,
    headers: axum::http::HeaderMap,
) -> Result<Response, WebError> {
    let principal = crate::web::auth::signed_in(&state, &headers).await?;
    Ok(match principal {
        Some(p) => Redirect::to(p.role.home()).into_response(),
        None => Redirect::to("/sign-in").into_response(),
    })
}
