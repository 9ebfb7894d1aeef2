//! What retention and erasure need from the database: which recordings and
//! transcripts have outlived their purpose, their tombstones, and renaming a
//! rep to a pseudonym everywhere in one transaction.
//!
//! The rules (how long, what counts as final) are `crate::privacy`'s; this is
//! the storage of their outcome. One implementation for both databases, as a
//! macro like `certification::backend`: the SQL differs only in how a
//! timestamp is bound.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::store::DbError;

/// A submission's recording and every stored copy of it: the object the
/// submission names, and the direct upload it was completed from, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecording {
    pub submission_id: Uuid,
    pub object_keys: Vec<String>,
}

/// The database half of erasing one rep (see `privacy::erasure`).
#[derive(Debug, Clone)]
pub struct RepErasure {
    pub rep_id: String,
    /// What every row naming the rep names instead, so counts and rates
    /// still add up without saying who.
    pub pseudonym: String,
    /// Who asked, for the audit log.
    pub actor: String,
    /// Take the rep off the coverage roster (the program's choice).
    pub deactivate: bool,
}

#[async_trait]
pub trait RetentionRepo: Send + Sync {
    /// Recordings still stored of submissions final at or before
    /// `final_before` (a final decision recorded, or the submission failed),
    /// oldest first. Direct uploads never completed are included once
    /// they expired before `final_before`.
    async fn recordings_due(
        &self,
        final_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<StoredRecording>, DbError>;

    /// Graded submissions whose transcript is still stored, final at or
    /// before `final_before`, and that support no certification valid after
    /// `lapsed_before`.
    async fn transcripts_due(
        &self,
        final_before: DateTime<Utc>,
        lapsed_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Uuid>, DbError>;

    /// Every recording of one rep still stored, and every upload object of
    /// theirs (an erasure deletes them all).
    async fn recordings_of(&self, rep_id: &str) -> Result<Vec<StoredRecording>, DbError>;

    /// Graded submissions of one rep whose transcript is still stored.
    async fn transcripts_of(&self, rep_id: &str) -> Result<Vec<Uuid>, DbError>;

    /// Writes the recording's tombstone (and an audit entry); false when it
    /// was written before, so a second pass changes nothing. `submission_id`
    /// may also name an upload that never became a submission: its row goes.
    async fn bury_recording(
        &self,
        submission_id: Uuid,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, DbError>;

    /// Replaces the stored grade document with `redacted` (the grade without
    /// the rep's words) and stamps the submission; false when done before.
    async fn redact_grade(
        &self,
        submission_id: Uuid,
        redacted: &serde_json::Value,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, DbError>;

    /// Renames the rep to the pseudonym in every table, clears what is
    /// personal (idempotency keys, token labels), revokes the rep's tokens and
    /// ends their sessions, and audits the erasure: all or nothing. False when
    /// no row named the rep.
    async fn erase_rep(&self, erasure: &RepErasure, at: DateTime<Utc>) -> Result<bool, DbError>;
}

/// Replaces `from` by `to` inside every string value of `value` (never in
/// keys, numbers or literals); true when anything changed.
pub(crate) fn rename_in(value: &mut serde_json::Value, from: &str, to: &str) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) if s.contains(from) => {
            *s = s.replace(from, to);
            true
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |changed, v| rename_in(v, from, to) | changed),
        Value::Object(map) => map
            .values_mut()
            .fold(false, |changed, v| rename_in(v, from, to) | changed),
        _ => false,
    }
}

/// Parameters: the repository type, its sqlx database, its timestamp type, the function turning
/// a `DateTime<Utc>` into it, and the pool used for reads.
macro_rules! impl_retention_repo {
    ($repo:ty, $dbt:ty, $ts:ty, $db:path, $reader:ident) => {
        use async_trait::async_trait;
        use chrono::{DateTime, Utc};
        use sqlx::types::Json;
        use uuid::Uuid;

        use $crate::store::db::retention::{rename_in, RepErasure, RetentionRepo, StoredRecording};
        use $crate::store::DbError;

        /// Renames an erased rep inside the JSON `column` of every row of
        /// `table` that mentions them; rows are keyed by `key` of type `K`.
        async fn rename_in_json<K>(
            tx: &mut sqlx::Transaction<'static, $dbt>,
            table: &'static str,
            key: &'static str,
            column: &'static str,
            rep: &str,
            alias: &str,
        ) -> Result<u64, DbError>
        where
            K: for<'r> sqlx::Decode<'r, $dbt>
                + for<'q> sqlx::Encode<'q, $dbt>
                + sqlx::Type<$dbt>
                + Send
                + Unpin
                + 'static,
        {
            let rows: Vec<(K, Json<serde_json::Value>)> =
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {key}, {column} FROM {table}
                     WHERE REPLACE(CAST({column} AS TEXT), $1, '') <> CAST({column} AS TEXT)"
                )))
                .bind(rep)
                .fetch_all(&mut **tx)
                .await
                .map_err(DbError::db("finding an erased rep in stored JSON"))?;
            let mut touched = 0;
            for (id, Json(mut value)) in rows {
                if rename_in(&mut value, rep, alias) {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "UPDATE {table} SET {column} = $2 WHERE {key} = $1"
                    )))
                    .bind(id)
                    .bind(Json(&value))
                    .execute(&mut **tx)
                    .await
                    .map_err(DbError::db("renaming an erased rep in stored JSON"))?;
                    touched += 1;
                }
            }
            Ok(touched)
        }

        /// Groups `(submission, key)` rows, in their order, into recordings.
        fn grouped(rows: Vec<(Uuid, String)>) -> Vec<StoredRecording> {
            let mut out: Vec<StoredRecording> = Vec::new();
            for (id, key) in rows {
                match out.last_mut() {
                    Some(last) if last.submission_id == id => last.object_keys.push(key),
                    _ => out.push(StoredRecording {
                        submission_id: id,
                        object_keys: vec![key],
                    }),
                }
            }
            out
        }

        #[async_trait]
        impl RetentionRepo for $repo {
            async fn recordings_due(
                &self,
                final_before: DateTime<Utc>,
                limit: u32,
            ) -> Result<Vec<StoredRecording>, DbError> {
                // A submission's key and its upload's key (the object a
                // direct upload was completed from)...
                let mut rows: Vec<(Uuid, String)> = sqlx::query_as(
                    "SELECT due.id, k.object_key FROM (
                         SELECT s.id, s.object_key, s.updated_at FROM submissions s
                         WHERE s.recording_deleted_at IS NULL
                           AND (EXISTS (SELECT 1 FROM cert_decisions d
                                        WHERE d.submission_id = s.id AND d.decided_at <= $1)
                                OR (s.status = 'failed' AND s.updated_at <= $1))
                         ORDER BY s.updated_at, s.id LIMIT $2
                     ) due
                     JOIN (
                         SELECT id AS submission_id, object_key, 0 AS n FROM submissions
                         UNION ALL
                         SELECT submission_id, object_key, 1 AS n FROM uploads
                             WHERE submission_id IS NOT NULL
                     ) k ON k.submission_id = due.id
                     ORDER BY due.updated_at, due.id, k.n",
                )
                .bind($db(final_before))
                .bind(i64::from(limit))
                .fetch_all(&self.$reader)
                .await
                .map_err(DbError::db("finding recordings past retention"))?;
                // ...then direct uploads that expired without ever becoming a
                // submission (their id stands in for the submission's).
                let orphans: Vec<(Uuid, String)> = sqlx::query_as(
                    "SELECT id, object_key FROM uploads
                     WHERE submission_id IS NULL AND expires_at <= $1
                     ORDER BY expires_at, id LIMIT $2",
                )
                .bind($db(final_before))
                .bind(i64::from(limit))
                .fetch_all(&self.$reader)
                .await
                .map_err(DbError::db("finding expired uploads"))?;
                rows.extend(orphans);
                Ok(grouped(rows))
            }

            async fn transcripts_due(
                &self,
                final_before: DateTime<Utc>,
                lapsed_before: DateTime<Utc>,
                limit: u32,
            ) -> Result<Vec<Uuid>, DbError> {
                sqlx::query_scalar(
                    "SELECT s.id FROM submissions s
                     WHERE s.transcript_deleted_at IS NULL
                       AND EXISTS (SELECT 1 FROM grades g WHERE g.submission_id = s.id)
                       AND EXISTS (SELECT 1 FROM cert_decisions d
                                   WHERE d.submission_id = s.id AND d.decided_at <= $1)
                       AND NOT EXISTS (SELECT 1 FROM certifications c
                                       WHERE c.submission_id = s.id AND c.expires_at > $2)
                     ORDER BY s.id LIMIT $3",
                )
                .bind($db(final_before))
                .bind($db(lapsed_before))
                .bind(i64::from(limit))
                .fetch_all(&self.$reader)
                .await
                .map_err(DbError::db("finding transcripts past retention"))
            }

            async fn recordings_of(&self, rep_id: &str) -> Result<Vec<StoredRecording>, DbError> {
                let rows: Vec<(Uuid, String)> = sqlx::query_as(
                    "SELECT id, object_key FROM (
                         SELECT s.id, s.object_key, 0 AS n FROM submissions s
                             WHERE s.rep_id = $1 AND s.recording_deleted_at IS NULL
                         UNION ALL
                         SELECT COALESCE(u.submission_id, u.id), u.object_key, 1 AS n
                             FROM uploads u WHERE u.rep_id = $1
                     ) keys ORDER BY id, n",
                )
                .bind(rep_id)
                .fetch_all(&self.$reader)
                .await
                .map_err(DbError::db("finding a rep's recordings"))?;
                Ok(grouped(rows))
            }

            async fn transcripts_of(&self, rep_id: &str) -> Result<Vec<Uuid>, DbError> {
                sqlx::query_scalar(
                    "SELECT s.id FROM submissions s JOIN grades g ON g.submission_id = s.id
                     WHERE s.rep_id = $1 AND s.transcript_deleted_at IS NULL ORDER BY s.id",
                )
                .bind(rep_id)
                .fetch_all(&self.$reader)
                .await
                .map_err(DbError::db("finding a rep's transcripts"))
            }

            async fn bury_recording(
                &self,
                submission_id: Uuid,
                reason: &str,
                at: DateTime<Utc>,
            ) -> Result<bool, DbError> {
                let mut tx = self.begin().await?;
                let rep: Option<String> = sqlx::query_scalar(
                    "UPDATE submissions SET recording_deleted_at = $2, recording_deleted_reason = $3
                     WHERE id = $1 AND recording_deleted_at IS NULL RETURNING rep_id",
                )
                .bind(submission_id)
                .bind($db(at))
                .bind(reason)
                .fetch_optional(&mut *tx)
                .await
                .map_err(DbError::db("writing a recording's tombstone"))?;
                // An upload that never became a submission has no row to keep
                // a tombstone on: the row itself goes with its object.
                let orphan = sqlx::query(
                    "DELETE FROM uploads WHERE id = $1 AND submission_id IS NULL",
                )
                .bind(submission_id)
                .execute(&mut *tx)
                .await
                .map_err(DbError::db("removing an expired upload"))?
                .rows_affected();
                if let Some(rep) = &rep {
                    sqlx::query(
                        "INSERT INTO audit_log (at, recorded_at, actor, action, rep_id, submission_id, detail)
                         VALUES ($1, $1, $2, 'recording.deleted', $3, $4, $5)",
                    )
                    .bind($db(at))
                    .bind(reason)
                    .bind(rep)
                    .bind(submission_id)
                    .bind(Json(serde_json::json!({ "reason": reason })))
                    .execute(&mut *tx)
                    .await
                    .map_err(DbError::db("auditing a deleted recording"))?;
                }
                tx.commit()
                    .await
                    .map_err(DbError::db("committing a tombstone"))?;
                Ok(rep.is_some() || orphan > 0)
            }

            async fn redact_grade(
                &self,
                submission_id: Uuid,
                redacted: &serde_json::Value,
                reason: &str,
                at: DateTime<Utc>,
            ) -> Result<bool, DbError> {
                let mut tx = self.begin().await?;
                let rep: Option<String> = sqlx::query_scalar(
                    "UPDATE submissions SET transcript_deleted_at = $2
                     WHERE id = $1 AND transcript_deleted_at IS NULL RETURNING rep_id",
                )
                .bind(submission_id)
                .bind($db(at))
                .fetch_optional(&mut *tx)
                .await
                .map_err(DbError::db("stamping a deleted transcript"))?;
                let Some(rep) = rep else {
                    tx.rollback()
                        .await
                        .map_err(DbError::db("ending a redaction"))?;
                    return Ok(false);
                };
                sqlx::query("UPDATE grades SET grade = $2 WHERE submission_id = $1")
                    .bind(submission_id)
                    .bind(Json(redacted))
                    .execute(&mut *tx)
                    .await
                    .map_err(DbError::db("redacting a grade"))?;
                sqlx::query(
                    "INSERT INTO audit_log (at, recorded_at, actor, action, rep_id, submission_id, detail)
                     VALUES ($1, $1, $2, 'transcript.deleted', $3, $4, $5)",
                )
                .bind($db(at))
                .bind(reason)
                .bind(&rep)
                .bind(submission_id)
                .bind(Json(serde_json::json!({ "reason": reason })))
                .execute(&mut *tx)
                .await
                .map_err(DbError::db("auditing a deleted transcript"))?;
                tx.commit()
                    .await
                    .map_err(DbError::db("committing a redaction"))?;
                Ok(true)
            }

            async fn erase_rep(
                &self,
                erasure: &RepErasure,
                at: DateTime<Utc>,
            ) -> Result<bool, DbError> {
                let (rep, alias) = (erasure.rep_id.as_str(), erasure.pseudonym.as_str());
                let mut tx = self.begin().await?;
                let mut touched = 0u64;
                // Rows that name the rep by id: renamed, so every count and
                // rate still adds up.
                for sql in [
                    "UPDATE submissions SET rep_id = $2, idempotency_key = NULL WHERE rep_id = $1",
                    "UPDATE uploads SET rep_id = $2, idempotency_key = NULL WHERE rep_id = $1",
                    "UPDATE rep_ledgers SET rep_id = $2 WHERE rep_id = $1",
                    "UPDATE certifications SET rep_id = $2 WHERE rep_id = $1",
                    "UPDATE cert_decisions SET rep_id = $2 WHERE rep_id = $1",
                    "UPDATE reviews SET rep_id = $2, reason = REPLACE(reason, $1, $2) WHERE rep_id = $1",
                    "UPDATE audit_log SET rep_id = $2 WHERE rep_id = $1",
                ] {
                    touched += sqlx::query(sql)
                        .bind(rep)
                        .bind(alias)
                        .execute(&mut *tx)
                        .await
                        .map_err(DbError::db("renaming an erased rep"))?
                        .rows_affected();
                }
                sqlx::query(
                    "DELETE FROM web_sessions WHERE token_hash IN
                         (SELECT token_hash FROM api_tokens WHERE rep_id = $1)",
                )
                .bind(rep)
                .execute(&mut *tx)
                .await
                .map_err(DbError::db("ending an erased rep's sessions"))?;
                touched += sqlx::query(
                    "UPDATE api_tokens SET rep_id = $2, label = '',
                         revoked_at = COALESCE(revoked_at, $3) WHERE rep_id = $1",
                )
                .bind(rep)
                .bind(alias)
                .bind($db(at))
                .execute(&mut *tx)
                .await
                .map_err(DbError::db("revoking an erased rep's tokens"))?
                .rows_affected();
                touched += sqlx::query(
                    "UPDATE reps SET id = $2, active = CASE WHEN $3 THEN 0 = 1 ELSE active END,
                         updated_at = $4 WHERE id = $1",
                )
                .bind(rep)
                .bind(alias)
                .bind(erasure.deactivate)
                .bind($db(at))
                .execute(&mut *tx)
                .await
                .map_err(DbError::db("renaming an erased rep on the roster"))?
                .rows_affected();
                // Inside JSON (webhook events, audit details) the id is
                // replaced in string values only, after parsing: a textual
                // replace could hit a key or a number ("12345" is a fine rep id).
                touched += rename_in_json::<Uuid>(&mut tx, "outbox", "id", "payload", rep, alias).await?;
                touched += rename_in_json::<i64>(&mut tx, "audit_log", "seq", "detail", rep, alias).await?;
                if touched == 0 {
                    tx.rollback()
                        .await
                        .map_err(DbError::db("ending an erasure"))?;
                    return Ok(false);
                }
                sqlx::query(
                    "INSERT INTO audit_log (at, recorded_at, actor, action, rep_id, detail)
                     VALUES ($1, $1, $2, 'rep.erased', $3, $4)",
                )
                .bind($db(at))
                .bind(&erasure.actor)
                .bind(alias)
                .bind(Json(serde_json::json!({ "deactivated": erasure.deactivate })))
                .execute(&mut *tx)
                .await
                .map_err(DbError::db("auditing an erasure"))?;
                tx.commit()
                    .await
                    .map_err(DbError::db("committing an erasure"))?;
                Ok(true)
            }
        }
    };
}

pub(crate) use impl_retention_repo;

#[cfg(test)]
mod tests {
    use super::rename_in;
    use serde_json::json;

    #[test]
    fn a_rep_id_is_renamed_in_strings_only() {
        let mut v = json!({
            "12345": 12345,
            "data": {"rep_id": "12345", "note": "12345 passed", "ok": true},
            "list": ["x12345y", 7]
        });
        assert!(rename_in(&mut v, "12345", "erased-1"));
        assert_eq!(
            v,
            json!({
                "12345": 12345,
                "data": {"rep_id": "erased-1", "note": "erased-1 passed", "ok": true},
                "list": ["xerased-1y", 7]
            })
        );
        assert!(!rename_in(&mut v, "12345", "erased-1"));
    }
}
