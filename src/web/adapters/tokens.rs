//! Sign-in with the API's tokens: one source of truth for tokens and roles.
//!
//! A token is resolved exactly as the API resolves a bearer token
//! (`service::api::auth::caller_of`: the bootstrap admin token's hash, then the
//! token store by SHA-256), so a token revoked through the API signs its
//! browser sessions out on their next request.

use async_trait::async_trait;
use axum::http::StatusCode;

use crate::service::api::auth::{caller_of, caller_of_hash, Caller};
use crate::service::api::certification::reviewer_name;
use crate::service::api::ApiError;
use crate::service::api::ApiState;

use super::super::auth::{Authenticator, Principal, Role};
use super::super::error::WebError;

/// The API's token store (and bootstrap admin token) as the pages'
/// [`Authenticator`].
#[derive(Clone)]
pub struct ApiTokens {
    api: ApiState,
}

impl ApiTokens {
    pub fn new(api: ApiState) -> ApiTokens {
        ApiTokens { api }
    }
}

#[async_trait]
impl Authenticator for ApiTokens {
    async fn authenticate(&self, token: &str) -> Result<Option<Principal>, WebError> {
        signed_in(caller_of(&self.api, token).await)
    }

    async fn authenticate_hash(&self, token_hash: &str) -> Result<Option<Principal>, WebError> {
        signed_in(caller_of_hash(&self.api, token_hash).await)
    }
}

fn signed_in(caller: Result<Caller, ApiError>) -> Result<Option<Principal>, WebError> {
    match caller {
        Ok(caller) => Ok(principal_of(&caller)),
        // Unknown, expired or revoked: not signed in (the page offers sign-in).
        Err(e) if e.status == StatusCode::UNAUTHORIZED => Ok(None),
        // The store failing is not the person's fault: an error page, not
        // "your token is wrong".
        Err(e) => Err(e.into()),
    }
}

/// The person behind an API caller. A rep is known by the rep id their
/// submissions carry; everyone else by the name the API records their claims
/// and decisions under, so a review claimed in the API can be decided in the
/// page and the audit log names one reviewer either way.
pub fn principal_of(caller: &Caller) -> Option<Principal> {
    let role = caller.role;
    let id = match caller.role {
        // A rep token without a rep cannot see anything; treat it as no
        // session rather than as a rep with an empty id.
        Role::Rep => caller.rep_id.clone().filter(|r| !r.is_empty())?,
        _ => reviewer_name(caller),
    };
    Some(Principal {
        id,
        role,
        firm: caller.firm_id.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reps_are_their_rep_id_and_staff_their_reviewer_name() {
        let rep = Caller {
            role: Role::Rep,
            rep_id: Some("alice".into()),
            firm_id: None,
            token_id: None,
        };
        assert_eq!(
            principal_of(&rep),
            Some(Principal {
                id: "alice".into(),
                role: Role::Rep,
                firm: None,
            })
        );
        let orphan = Caller {
            rep_id: None,
            ..rep
        };
        assert_eq!(principal_of(&orphan), None);
        let id = uuid::Uuid::now_v7();
        let reviewer = Caller {
            role: Role::Reviewer,
            rep_id: None,
            firm_id: None,
            token_id: Some(id),
        };
        let p = principal_of(&reviewer).expect("a reviewer");
        assert_eq!(p.role, Role::Reviewer);
        assert_eq!(p.id, format!("reviewer:{id}"));
        let admin = Caller {
            role: Role::Admin,
            rep_id: None,
            firm_id: None,
            token_id: None,
        };
        assert_eq!(
            principal_of(&admin).map(|p| p.id),
            Some("bootstrap-admin".into())
        );
    }
}
