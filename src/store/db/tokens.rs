//! API tokens: who may call the HTTP API, and as whom.
//!
//! Only a token's SHA-256 is stored, so a copy of the database cannot be
//! replayed against the API. A rep token is bound to one rep id; a partner
//! admin token (and, optionally, a reviewer token) to one partner firm; the
//! other roles read across firms. Hashing and checking happen in the service's
//! auth layer; this is the storage of the outcome.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::rows::DbTime;
use crate::store::DbError;

/// What a token may do. Ordered by reach: a rep acts for one rep id; a
/// partner admin reads (and keeps the roster of) one firm; reviewers read
/// everything, or one firm when their token is bound to it; enablement reads
/// everything; admins also manage tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Rep,
    PartnerAdmin,
    Reviewer,
    Enablement,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Rep => "rep",
            Role::PartnerAdmin => "partner_admin",
            Role::Reviewer => "reviewer",
            Role::Enablement => "enablement",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = DbError;
    fn from_str(s: &str) -> Result<Self, DbError> {
        match s {
            "rep" => Ok(Role::Rep),
            "partner_admin" => Ok(Role::PartnerAdmin),
            "reviewer" => Ok(Role::Reviewer),
            "enablement" => Ok(Role::Enablement),
            "admin" => Ok(Role::Admin),
            other => Err(DbError::Invalid(format!(
                "unknown role {other:?}: use rep, partner_admin, reviewer, enablement or admin"
            ))),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token about to be stored. The secret itself never reaches the store.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// Lower-case hex SHA-256 of the secret.
    pub token_hash: String,
    pub role: Role,
    /// Set for (and only for) rep tokens.
    pub rep_id: Option<String>,
    /// The partner firm the token is confined to: required for partner
    /// admins, optional for reviewers (partner-side reviewers), refused for
    /// the other roles.
    pub firm_id: Option<String>,
    /// Free text for operators ("alice's laptop", "MinIO webhook").
    pub label: String,
    /// The person the token acts as ("Rita"), shown in audit trails; may be
    /// empty.
    pub display_name: String,
    /// When the token stops working; `None` never.
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiToken {
    pub id: Uuid,
    pub role: Role,
    pub rep_id: Option<String>,
    pub firm_id: Option<String>,
    pub label: String,
    pub display_name: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait TokenRepo: Send + Sync {
    /// Stores a token. A rep token without a rep id, or another role with one,
    /// is `Invalid`.
    async fn create_token(&self, new: &NewToken, now: DateTime<Utc>) -> Result<ApiToken, DbError>;

    /// The token with this hash unless revoked. An expired one is returned
    /// (with its `expires_at`) so the caller can say it expired.
    async fn find_token(&self, token_hash: &str) -> Result<Option<ApiToken>, DbError>;

    /// The token with this id, revoked or not: who an audit line's actor was.
    async fn get_token(&self, id: Uuid) -> Result<Option<ApiToken>, DbError>;

    /// Revokes a token; false when there was no live token with that id.
    async fn revoke_token(&self, id: Uuid, now: DateTime<Utc>) -> Result<bool, DbError>;

    /// Starts a browser session for the token with `token_hash`, until
    /// `expires_at`; sessions already over are swept out on the way.
    async fn create_session(
        &self,
        id_hash: &str,
        token_hash: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), DbError>;

    /// The hash of the token a live session was started with.
    async fn find_session(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, DbError>;

    /// Ends a session (signing out); ending one that is gone is not an error.
    async fn end_session(&self, id_hash: &str) -> Result<(), DbError>;
}

pub(crate) fn validate_token(new: &NewToken) -> Result<(), DbError> {
    let named = |v: &Option<String>| v.as_deref().map(str::trim).is_some_and(|v| !v.is_empty());
    let (rep, firm) = (named(&new.rep_id), named(&new.firm_id));
    let refuse = |why: String| Err(DbError::Invalid(why));
    match new.role {
        Role::Rep if !rep => refuse("a rep token must name its rep id".into()),
        Role::PartnerAdmin if !firm => {
            refuse("a partner_admin token must name its firm (it sees that firm only)".into())
        }
        Role::Rep if firm => refuse("a rep token is bound to its rep, not to a firm".into()),
        Role::Rep => Ok(()),
        role if rep => refuse(format!(
            "a {role} token reads more than one rep's submissions; it cannot be bound to one rep"
        )),
        Role::Enablement | Role::Admin if firm => refuse(format!(
            "a {} token runs the whole program; it cannot be bound to one firm \
             (use a partner_admin or a reviewer token for that)",
            new.role
        )),
        _ => Ok(()),
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct TokenRow<T> {
    id: Uuid,
    role: String,
    rep_id: Option<String>,
    firm_id: Option<String>,
    label: String,
    display_name: String,
    created_at: T,
    revoked_at: Option<T>,
    expires_at: Option<T>,
}

impl<T: DbTime> TokenRow<T> {
    pub(crate) fn into_domain(self) -> Result<ApiToken, DbError> {
        Ok(ApiToken {
            id: self.id,
            role: self
                .role
                .parse()
                .map_err(|_| DbError::Corrupt(format!("unknown role {:?}", self.role)))?,
            rep_id: self.rep_id,
            firm_id: self.firm_id,
            label: self.label,
            display_name: self.display_name,
            created_at: self.created_at.to_utc()?,
            revoked_at: self.revoked_at.map(DbTime::to_utc).transpose()?,
            expires_at: self.expires_at.map(DbTime::to_utc).transpose()?,
        })
    }
}
