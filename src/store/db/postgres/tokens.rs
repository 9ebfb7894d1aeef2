//! `TokenRepo` for PostgreSQL: single statements on the pool.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{PgRepo, Ts};
use crate::store::db::tokens::{validate_token, ApiToken, NewToken, TokenRepo, TokenRow};
use crate::store::StoreError;

#[async_trait]
impl TokenRepo for PgRepo {
    async fn create_token(
        &self,
        new: &NewToken,
        now: DateTime<Utc>,
    ) -> Result<ApiToken, StoreError> {
        validate_token(new)?;
        sqlx::query_as::<_, TokenRow<Ts>>(
            "INSERT INTO api_tokens (id, token_hash, role, rep_id, label, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             RETURNING id, role, rep_id, label, created_at, revoked_at",
        )
        .bind(Uuid::now_v7())
        .bind(&new.token_hash)
        .bind(new.role.as_str())
        .bind(&new.rep_id)
        .bind(&new.label)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::db("storing a token"))?
        .into_domain()
    }

    async fn find_token(&self, token_hash: &str) -> Result<Option<ApiToken>, StoreError> {
        sqlx::query_as::<_, TokenRow<Ts>>(
            "SELECT id, role, rep_id, label, created_at, revoked_at FROM api_tokens
             WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::db("looking up a token"))?
        .map(TokenRow::into_domain)
        .transpose()
    }

    async fn revoke_token(&self, id: Uuid, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(StoreError::db("revoking a token"))?;
        Ok(done.rows_affected() > 0)
    }
}
