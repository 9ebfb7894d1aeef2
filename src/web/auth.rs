//! Who is looking: sign-in with an API token, the session cookie, role checks.
//!
//! Sign-in starts a session on the server (`web_sessions`): the cookie
//! (HttpOnly, SameSite=Strict) holds a random session id, never the API
//! token, so a cookie that leaks (a shared machine, a proxy log) is a session
//! that ends — after [`SESSION_SECONDS`], or at sign-out, on the server —
//! not a long-lived token. The session keeps the token's hash, and every
//! request resolves it again through [`Authenticator`], so revoking or
//! expiring a token in the API signs its browser sessions out at once.

use std::collections::HashMap;

use askama::Template;
use async_trait::async_trait;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{COOKIE, HOST, ORIGIN, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::error::WebError;
use super::pages::{render, Chrome};
use super::WebState;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "pitchgrade_session";
/// Browser sessions end after a working day; the token itself may live longer.
const SESSION_SECONDS: u64 = 12 * 60 * 60;

/// The API's roles: the pages sign in with the API's tokens, so they share
/// its role type rather than mirroring it.
pub use crate::store::db::tokens::Role;

impl Role {
    /// The page this role lands on after signing in.
    pub fn home(self) -> &'static str {
        match self {
            Role::Rep => "/rep",
            Role::PartnerAdmin => "/firm",
            Role::Reviewer => "/review",
            Role::Enablement | Role::Admin => "/program",
        }
    }
}

/// A signed-in person. For a rep, `id` is the rep id their submissions carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub id: String,
    pub role: Role,
    /// The partner firm this person is confined to (a partner admin; a
    /// partner-side reviewer), if any.
    pub firm: Option<String>,
}

impl Principal {
    pub fn is(&self, roles: &[Role]) -> bool {
        roles.contains(&self.role)
    }

    /// `Forbidden` unless this person has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), WebError> {
        if self.is(roles) {
            Ok(())
        } else {
            Err(WebError::Forbidden)
        }
    }

    /// Whether this person may see a submission made by `rep_id`, as far as
    /// who they are says: its rep, or anyone whose job is to check or run the
    /// program. Someone confined to a firm is also held to that firm by
    /// [`visible_submission`].
    pub fn may_see(&self, rep_id: &str) -> bool {
        match self.role {
            Role::Rep => self.id == rep_id,
            Role::PartnerAdmin | Role::Reviewer | Role::Enablement | Role::Admin => true,
        }
    }
}

/// Submission `id` if `viewer` may see it; `None` (shown as "not found", so
/// ids are not confirmed) otherwise. For someone confined to a firm, the
/// submission's firm is read from the database before the submission is.
pub async fn visible_submission(
    state: &WebState,
    viewer: &Principal,
    id: uuid::Uuid,
) -> Result<Option<crate::store::db::SubmissionView>, WebError> {
    let repo = state.parts.repo.as_ref();
    if let Some(firm) = viewer.firm.as_deref() {
        if repo.submission_firm(id).await?.as_deref() != Some(firm) {
            return Ok(None);
        }
    }
    Ok(repo
        .get_submission(id)
        .await?
        .filter(|v| viewer.may_see(&v.submission.rep_id)))
}

/// Turns a token into the person it belongs to; `None` for an unknown,
/// expired or revoked token.
#[async_trait]
pub trait Authenticator: Send + Sync {
    async fn authenticate(&self, token: &str) -> Result<Option<Principal>, WebError>;

    /// The same, for a token known by its SHA-256 (hex), as a session keeps it.
    async fn authenticate_hash(&self, token_hash: &str) -> Result<Option<Principal>, WebError>;
}

/// The SHA-256 (hex) a token or a session id is stored under.
fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A fixed set of tokens, e.g. the bootstrap admin token from configuration.
/// Only hashes are kept in memory.
#[derive(Debug, Default)]
pub struct StaticTokens {
    by_hash: HashMap<[u8; 32], Principal>,
}

impl StaticTokens {
    pub fn new() -> StaticTokens {
        StaticTokens::default()
    }

    pub fn with(mut self, token: &str, principal: Principal) -> StaticTokens {
        self.by_hash.insert(Sha256::digest(token).into(), principal);
        self
    }
}

#[async_trait]
impl Authenticator for StaticTokens {
    async fn authenticate(&self, token: &str) -> Result<Option<Principal>, WebError> {
        Ok(self
            .by_hash
            .get(&<[u8; 32]>::from(Sha256::digest(token)))
            .cloned())
    }

    async fn authenticate_hash(&self, token_hash: &str) -> Result<Option<Principal>, WebError> {
        let Ok(bytes) = hex::decode(token_hash) else {
            return Ok(None);
        };
        let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice()) else {
            return Ok(None);
        };
        Ok(self.by_hash.get(&key).cloned())
    }
}

/// The signed-in person, as an extractor. Pages that need one redirect to
/// sign-in when there is none.
pub struct Viewer(pub Principal);

impl FromRequestParts<WebState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, Response> {
        let principal = signed_in(state, &parts.headers)
            .await
            .map_err(IntoResponse::into_response)?;
        match principal {
            Some(p) => Ok(Viewer(p)),
            None => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/");
                let to = format!("/sign-in?next={}", url_encode(next));
                Err(Redirect::to(&to).into_response())
            }
        }
    }
}

/// The person whose live session the request's cookie names, if any.
pub async fn signed_in(
    state: &WebState,
    headers: &axum::http::HeaderMap,
) -> Result<Option<Principal>, WebError> {
    let Some(session) = session_token(headers) else {
        return Ok(None);
    };
    let found = state
        .parts
        .repo
        .find_session(&digest(&session), chrono::Utc::now())
        .await
        .map_err(|e| WebError::Internal(e.to_string()))?;
    match found {
        Some(token_hash) => state.auth.authenticate_hash(&token_hash).await,
        None => Ok(None),
    }
}

/// A fresh session id: `pgs_` + 64 hex digits, 256 bits from the OS.
fn new_session_id() -> Result<String, WebError> {
    use std::io::Read;
    let mut secret = [0u8; 32];
    // The same source as API tokens (`service::api::auth::new_token`).
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut secret))
        .map_err(|e| WebError::Internal(format!("no randomness for a session: {e}")))?;
    Ok(format!("pgs_{}", hex::encode(secret)))
}

/// The session id from the request's cookies, if any.
pub fn session_token(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

#[derive(Template)]
#[template(path = "web/sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    next: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct SignInQuery {
    #[serde(default)]
    next: Option<String>,
}

pub async fn sign_in_page(
    axum::extract::Query(q): axum::extract::Query<SignInQuery>,
) -> Result<Response, WebError> {
    render(&SignInPage {
        chrome: Chrome::anonymous("Sign in"),
        next: safe_next(q.next.as_deref()).unwrap_or_default(),
        error: None,
    })
}

#[derive(Deserialize)]
pub struct SignInForm {
    token: String,
    #[serde(default)]
    next: Option<String>,
}

pub async fn sign_in(
    State(state): State<WebState>,
    Form(form): Form<SignInForm>,
) -> Result<Response, WebError> {
    let token = form.token.trim();
    let next = safe_next(form.next.as_deref());
    let refuse = |message: &str| -> Result<Response, WebError> {
        let mut response = render(&SignInPage {
            chrome: Chrome::anonymous("Sign in"),
            next: next.clone().unwrap_or_default(),
            error: Some(message.to_string()),
        })?;
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        Ok(response)
    };
    if token.is_empty() {
        return refuse("Enter your access token.");
    }
    // A cookie value cannot carry these; no token the API issues contains them.
    if token.len() > 512
        || !token
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b',' | b';' | b'\\'))
    {
        return refuse("That is not a pitchgrade access token.");
    }
    let Some(principal) = state.auth.authenticate(token).await? else {
        return refuse("That token is unknown, expired or revoked.");
    };
    let session = new_session_id()?;
    let now = chrono::Utc::now();
    let ends = now + chrono::TimeDelta::seconds(SESSION_SECONDS as i64);
    state
        .parts
        .repo
        .create_session(&digest(&session), &digest(token), now, ends)
        .await
        .map_err(|e| WebError::Internal(e.to_string()))?;
    let mut cookie = format!(
        "{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECONDS}"
    );
    if state.options.secure_cookies {
        cookie.push_str("; Secure");
    }
    let to = next.unwrap_or_else(|| principal.role.home().to_string());
    let mut response = Redirect::to(&to).into_response();
    response.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|_| WebError::BadRequest("bad token".into()))?,
    );
    Ok(response)
}

/// Ends the session on the server, then in the browser: a copy of the cookie
/// kept elsewhere signs nobody in after this.
pub async fn sign_out(State(state): State<WebState>, headers: axum::http::HeaderMap) -> Response {
    if let Some(session) = session_token(&headers) {
        if let Err(e) = state.parts.repo.end_session(&digest(&session)).await {
            tracing::warn!(error = %e, "could not end a session on sign-out");
        }
    }
    let mut response = Redirect::to("/sign-in").into_response();
    response.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_static(
            "pitchgrade_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    response
}

/// Refuses a state-changing request whose `Origin` names another site. The
/// SameSite=Strict cookie already keeps other sites' forms from carrying a
/// session; this also covers browsers that ignore SameSite.
pub async fn same_origin_writes(request: Request, next: Next) -> Response {
    let writes = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if writes {
        let headers = request.headers();
        if let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) {
            let host = headers.get(HOST).and_then(|v| v.to_str().ok());
            let origin_host = origin.split_once("://").map(|(_, rest)| rest);
            if origin_host.is_none() || origin_host != host {
                return WebError::Forbidden.into_response();
            }
        }
    }
    next.run(request).await
}

/// A `next` target after sign-in, only when it is a plain path on this site:
/// visible ASCII and nothing else. Browsers drop tabs and newlines from a
/// `Location` (`/\t/host` is `//host`, another site), read `\` as `/`, and
/// a CR LF cannot go in a header at all.
fn safe_next(next: Option<&str>) -> Option<String> {
    let next = next?.trim();
    let plain = next.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    let local = plain && next.starts_with('/') && !next.starts_with("//");
    (local && next != "/sign-in").then(|| next.to_string())
}

/// Percent-encodes everything but unreserved characters and `/`.
pub(crate) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_must_stay_on_this_site() {
        assert_eq!(safe_next(Some("/rep")), Some("/rep".into()));
        assert_eq!(safe_next(Some("//evil.example/x")), None);
        assert_eq!(safe_next(Some("https://evil.example")), None);
        assert_eq!(safe_next(Some("/\\evil.example")), None);
        assert_eq!(safe_next(None), None);
        assert_eq!(safe_next(Some("/\t/evil.example")), None);
        assert_eq!(safe_next(Some("/\r\nSet-Cookie: x=1")), None);
        assert_eq!(safe_next(Some("/rep\u{0}")), None);
        assert_eq!(safe_next(Some("/r\u{e9}p")), None);
        assert_eq!(
            safe_next(Some("/submissions/1?tab=audio")),
            Some("/submissions/1?tab=audio".into())
        );
    }

    #[test]
    fn reads_the_session_cookie_among_others() {
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("a=1; pitchgrade_session=tok_123; b=2"),
        );
        assert_eq!(session_token(&h).as_deref(), Some("tok_123"));
        h.insert(COOKIE, HeaderValue::from_static("pitchgrade_session="));
        assert_eq!(session_token(&h), None);
    }

    #[tokio::test]
    async fn static_tokens_match_only_the_exact_token() {
        let who = Principal {
            id: "rep-1".into(),
            role: Role::Rep,
            firm: None,
        };
        let tokens = StaticTokens::new().with("secret-token", who.clone());
        assert_eq!(
            tokens.authenticate("secret-token").await.unwrap(),
            Some(who)
        );
        assert_eq!(tokens.authenticate("secret-token ").await.unwrap(), None);
    }
}
