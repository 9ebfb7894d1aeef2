//! `UploadRepo` for SQLite: reads on the reader pool, each write a single
//! statement on the one writer connection (no read-then-write, so no
//! `BEGIN IMMEDIATE` is needed).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{ms, SqliteRepo, Ts};
use crate::store::db::uploads::{NewUpload, Upload, UploadRepo, UploadRow};
use crate::store::StoreError;

#[async_trait]
impl UploadRepo for SqliteRepo {
    async fn create_upload(
        &self,
        new: &NewUpload,
        now: DateTime<Utc>,
    ) -> Result<Upload, StoreError> {
        sqlx::query_as::<_, UploadRow<Ts>>(
            "INSERT INTO uploads (id, rep_id, rubric_id, object_key, idempotency_key,
                 expires_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             RETURNING *",
        )
        .bind(Uuid::now_v7())
        .bind(&new.rep_id)
        .bind(&new.rubric_id)
        .bind(&new.object_key)
        .bind(&new.idempotency_key)
        .bind(ms(new.expires_at))
        .bind(ms(now))
        .fetch_one(&self.writer)
        .await
        .map_err(StoreError::db("storing an upload"))?
        .into_domain()
    }

    async fn get_upload(&self, id: Uuid) -> Result<Option<Upload>, StoreError> {
        sqlx::query_as::<_, UploadRow<Ts>>("SELECT * FROM uploads WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.readers)
            .await
            .map_err(StoreError::db("reading an upload"))?
            .map(UploadRow::into_domain)
            .transpose()
    }

    async fn find_upload_by_key(&self, object_key: &str) -> Result<Option<Upload>, StoreError> {
        sqlx::query_as::<_, UploadRow<Ts>>("SELECT * FROM uploads WHERE object_key = $1")
            .bind(object_key)
            .fetch_optional(&self.readers)
            .await
            .map_err(StoreError::db("reading an upload by key"))?
            .map(UploadRow::into_domain)
            .transpose()
    }

    async fn set_upload_submission(&self, id: Uuid, submission_id: Uuid) -> Result<(), StoreError> {
        sqlx::query("UPDATE uploads SET submission_id = $2 WHERE id = $1")
            .bind(id)
            .bind(submission_id)
            .execute(&self.writer)
            .await
            .map_err(StoreError::db("completing an upload"))?;
        Ok(())
    }
}
