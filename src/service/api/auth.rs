//! Bearer tokens and what each role may do.
//!
//! - **rep**: bound to one rep id; creates and reads only that rep's
//!   submissions (another rep's submission answers 404, as if it did not exist).
//! - **partner_admin**: bound to one partner firm; reads that firm's reps,
//!   their submissions, grades, rights and the firm's standing and report, and
//!   keeps its roster. Anything of another firm answers 404. It never grades,
//!   reviews or overrides.
//! - **reviewer**: reads and reviews every rep's submissions, or one firm's
//!   when the token is bound to a firm (partner-side reviewers).
//! - **enablement**: reads every rep's submissions and runs the program.
//! - **admin**: everything, including creating submissions for any rep and
//!   managing tokens.
//!
//! Tokens are random 256-bit secrets shown once; the database keeps only their
//! SHA-256, so a leaked backup cannot call the API. A fresh install has no
//! tokens: the bootstrap admin token from the configuration
//! (`PITCHGRADE_ADMIN_TOKEN`) lets the operator create the first ones.

use std::io::Read;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use chrono::{SecondsFormat, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::error::ApiError;
use super::ApiState;
pub use crate::store::db::tokens::Role;
use crate::store::Repo;

/// Tokens start with this, so secret scanners and people can tell them apart.
pub const TOKEN_PREFIX: &str = "pgt_";

/// Who is calling, as established by their token.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub role: Role,
    /// The rep a rep token acts for; `None` for the other roles.
    pub rep_id: Option<String>,
    /// The firm a partner admin (or a firm-bound reviewer) is confined to.
    pub firm_id: Option<String>,
    /// The stored token; `None` for the bootstrap admin token.
    pub token_id: Option<Uuid>,
}

/// "a" or "an", by the sound the next word starts with (role names start
/// with a vowel sound exactly when they start with a vowel letter).
fn article(next: &str) -> &'static str {
    match next.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

impl Caller {
    /// Refuses (403) unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role], doing: &str) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            return Ok(());
        }
        let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        let wanted = names.join(" or ");
        Err(ApiError::forbidden(format!(
            "{doing} needs {} {wanted} token; this one is {} {} token",
            article(&wanted),
            article(self.role.as_str()),
            self.role
        )))
    }

    /// Whether the caller may see this rep's submissions, as far as the token
    /// alone says: a rep only itself. A caller confined to a firm is checked
    /// against the roster too, by [`Caller::may_read_rep`].
    pub fn can_read(&self, rep_id: &str) -> bool {
        self.role != Role::Rep || self.rep_id.as_deref() == Some(rep_id)
    }

    /// The firm this caller is confined to, if any.
    pub fn firm(&self) -> Option<&str> {
        self.firm_id.as_deref()
    }

    /// Refuses unless the caller may read rep `rep`: a rep token another rep
    /// (403); a caller confined to a firm a rep outside it (404, exactly as for
    /// a rep nobody registered, so another firm's roster cannot be probed).
    /// The rep's firm is read from the roster before anything of the rep.
    pub async fn may_read_rep(&self, repo: &dyn Repo, rep: &str) -> Result<(), ApiError> {
        if !self.can_read(rep) {
            return Err(ApiError::forbidden("a rep token can only read its own rep"));
        }
        match self.firm() {
            None => Ok(()),
            Some(firm) => match repo.get_rep(rep).await? {
                Some(r) if r.firm_id == firm => Ok(()),
                _ => Err(ApiError::not_found(format!(
                    "no rep {rep:?} in firm {firm:?}"
                ))),
            },
        }
    }

    /// Whether a caller confined to a firm may read submission `id` (always,
    /// for the others): its rep's firm is looked up in the database before
    /// the submission itself is read.
    pub async fn may_read_submission(&self, repo: &dyn Repo, id: Uuid) -> Result<bool, ApiError> {
        match self.firm() {
            None => Ok(true),
            Some(firm) => Ok(repo.submission_firm(id).await?.as_deref() == Some(firm)),
        }
    }

    /// The rep a new submission is for: a rep token's own rep (naming another
    /// is refused); an admin must name one.
    pub fn submitting_rep(&self, requested: Option<&str>) -> Result<String, ApiError> {
        self.require(&[Role::Rep, Role::Admin], "creating a submission")?;
        let requested = requested.map(str::trim).filter(|r| !r.is_empty());
        match (self.role, self.rep_id.as_deref(), requested) {
            (Role::Rep, Some(own), None) => Ok(own.to_string()),
            (Role::Rep, Some(own), Some(asked)) if asked == own => Ok(own.to_string()),
            (Role::Rep, _, Some(asked)) => Err(ApiError::forbidden(format!(
                "a rep token can only submit for its own rep, not for {asked:?}"
            ))),
            (_, _, Some(asked)) => {
                check_rep_id(asked)?;
                Ok(asked.to_string())
            }
            (_, _, None) => Err(ApiError::invalid(
                "name the rep this recording is for (field `rep`)",
            )),
        }
    }
}

/// Rep ids come from clients and land in URLs and logs: keep them plain.
/// The roster's rule (`certify::roster::is_valid_id`), so the API and the
/// roster accept the same ids.
pub fn check_rep_id(rep: &str) -> Result<(), ApiError> {
    if crate::certify::roster::is_valid_id(rep) {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "a rep id is {}",
            crate::certify::roster::ID_RULE
        )))
    }
}

/// Lower-case hex SHA-256 of a token: what the database stores and looks up.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random token (`pgt_` + 64 hex digits, 256 bits from the OS).
pub fn new_token() -> std::io::Result<String> {
    let mut secret = [0u8; 32];
    // The OS generator, without another crate: every platform the service
    // targets (Linux containers, macOS for development) has /dev/urandom.
    std::fs::File::open("/dev/urandom")?.read_exact(&mut secret)?;
    Ok(format!("{TOKEN_PREFIX}{}", hex::encode(secret)))
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Caller, ApiError> {
        caller_of(state, bearer(&parts.headers)?).await
    }
}

/// Resolves a presented token to its caller (401 when it is not valid). Public
/// so the web pages' sign-in checks tokens exactly as the API does.
pub async fn caller_of(state: &ApiState, token: &str) -> Result<Caller, ApiError> {
    caller_of_hash(state, &hash_token(token)).await
}

/// [`caller_of`] for a token known by its hash only (a browser session keeps
/// the hash, never the token).
pub async fn caller_of_hash(state: &ApiState, hash: &str) -> Result<Caller, ApiError> {
    let hash = hash.to_string();
    // Comparing digests, not secrets: timing can at most reveal a prefix of
    // a hash, which says nothing about the token.
    if state.admin_token_hash.as_deref() == Some(hash.as_str()) {
        return Ok(Caller {
            role: Role::Admin,
            rep_id: None,
            firm_id: None,
            token_id: None,
        });
    }
    match state.parts.repo.find_token(&hash).await? {
        Some(t) if t.expires_at.is_some_and(|at| at <= Utc::now()) => {
            let at = t.expires_at.unwrap_or_default();
            Err(ApiError::unauthorized(format!(
                "this token expired at {}; ask an admin for a new one",
                at.to_rfc3339_opts(SecondsFormat::Secs, true)
            )))
        }
        Some(t) => Ok(Caller {
            role: t.role,
            rep_id: t.rep_id,
            firm_id: t.firm_id,
            token_id: Some(t.id),
        }),
        None => Err(ApiError::unauthorized(
            "this token is not valid (unknown or revoked)",
        )),
    }
}

/// The token from `Authorization: Bearer …`.
pub(super) fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("send a token: Authorization: Bearer <token>"))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("the Authorization header is not valid text"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(ApiError::unauthorized(
            "use a bearer token: Authorization: Bearer <token>",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rep(id: &str) -> Caller {
        Caller {
            role: Role::Rep,
            rep_id: Some(id.into()),
            firm_id: None,
            token_id: None,
        }
    }

    fn role(role: Role) -> Caller {
        Caller {
            role,
            rep_id: None,
            firm_id: None,
            token_id: None,
        }
    }

    #[test]
    fn refusals_name_the_roles_with_the_right_article() {
        let err = rep("alice")
            .require(&[Role::Enablement, Role::Admin], "reading reports")
            .unwrap_err();
        assert_eq!(
            err.message,
            "reading reports needs an enablement or admin token; this one is a rep token"
        );
        let err = role(Role::Admin)
            .require(&[Role::Reviewer], "claiming")
            .unwrap_err();
        assert_eq!(
            err.message,
            "claiming needs a reviewer token; this one is an admin token"
        );
    }

    #[test]
    fn a_rep_reads_and_submits_only_for_itself() {
        let alice = rep("alice");
        assert!(alice.can_read("alice"));
        assert!(!alice.can_read("bob"));
        assert_eq!(alice.submitting_rep(None).unwrap(), "alice");
        assert_eq!(alice.submitting_rep(Some("alice")).unwrap(), "alice");
        assert_eq!(
            alice.submitting_rep(Some("bob")).unwrap_err().code,
            "forbidden"
        );
    }

    #[test]
    fn other_roles_read_everything_but_only_admins_submit_for_others() {
        assert!(role(Role::Reviewer).can_read("bob"));
        assert!(role(Role::Enablement).can_read("bob"));
        let err = role(Role::Reviewer)
            .submitting_rep(Some("bob"))
            .unwrap_err();
        assert_eq!(err.code, "forbidden");
        assert_eq!(
            role(Role::Admin).submitting_rep(Some("bob")).unwrap(),
            "bob"
        );
        assert_eq!(
            role(Role::Admin).submitting_rep(None).unwrap_err().code,
            "invalid_request"
        );
        assert_eq!(
            role(Role::Admin)
                .submitting_rep(Some("../x"))
                .unwrap_err()
                .code,
            "invalid_request"
        );
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 64);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
        assert_eq!(hash_token(&a).len(), 64);
    }
}
