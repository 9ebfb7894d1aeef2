//! One implementation of `CertificationRepo` for both databases.
//!
//! The certification SQL is the same on SQLite and PostgreSQL except for how a
//! timestamp is bound and for `FOR UPDATE SKIP LOCKED`, so it is written once
//! as a macro that each backend expands inside its own module (where its
//! private pools and `begin` are visible). A difference in behaviour between
//! the two would be a bug the conformance tests catch, not a feature.
//!
//! Parameters: the repository type, its stored timestamp type, the function
//! turning a `DateTime<Utc>` into it, the pool used for reads, and the locking
//! clause appended to "pick one row to claim" subqueries (empty on SQLite, whose
//! `BEGIN IMMEDIATE` already keeps every other writer out).

macro_rules! impl_certification_repo {
    ($repo:ty, $ts:ty, $db:path, $reader:ident, $skip_locked:literal) => {
        use std::collections::BTreeSet;
        use std::time::Duration as StdDuration;

        use async_trait::async_trait;
        use chrono::{DateTime, Utc};
        use sqlx::types::Json;
        use uuid::Uuid;

        use $crate::store::db::certification::rows::*;
        use $crate::store::db::certification::*;
        use $crate::store::db::{decision_text, to_i32};
        use $crate::store::queue;
        use $crate::store::DbError;

        fn check_id(what: &str, id: &str) -> Result<(), DbError> {
            if id.trim().is_empty() || id.len() > 200 {
                return Err(DbError::Invalid(format!(
                    "{what} must be 1 to 200 characters"
                )));
            }
            Ok(())
        }

        fn opt_i32(v: Option<u32>, what: &str) -> Result<Option<i32>, DbError> {
            v.map(|v| to_i32(v, what)).transpose()
        }

        /// Rolls back a change that was refused part-way (nothing of it stays).
        async fn refuse<'c, DB: sqlx::Database>(
            tx: sqlx::Transaction<'c, DB>,
            outcome: ChangeOutcome,
        ) -> Result<ChangeOutcome, DbError> {
            tx.rollback()
                .await
                .map_err(DbError::db("rolling back a refused change"))?;
            Ok(outcome)
        }

        #[async_trait]
        impl CertificationRepo for $repo {
            async fn upsert_firm(
                &self,
                firm: &NewFirm,
                now: DateTime<Utc>,
            ) -> Result<Firm, DbError> {
                check_id("a firm id", &firm.id)?;
                let mut tx = self.begin().await?;
                let row = sqlx::query_as::<_, FirmRow<$ts>>(
                    "INSERT INTO firms (id, name, segment, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $4)
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name,
                         segment = excluded.segment, updated_at = excluded.updated_at
                     RETURNING *",
                )
                .bind(&firm.id)
                .bind(&firm.name)
                .bind(&firm.segment)
                .bind($db(now))
                .fetch_one(&mut *tx)
                .await
                .map_err(DbError::db("writing a firm"))?;
                tx.commit()
                    .await
                    .map_err(DbError::db("committing a firm"))?;
                row.into_domain()
            }

            async fn upsert_rep(
                &self,
                rep: &NewRep,
                now: DateTime<Utc>,
            ) -> Result<Rep, DbError> {
                check_id("a rep id", &rep.id)?;
                check_id("a role", &rep.role)?;
                let mut tx = self.begin().await?;
                let firm: Option<String> = sqlx::query_scalar("SELECT id FROM firms WHERE id = $1")
                    .bind(&rep.firm_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(DbError::db("looking up a rep's firm"))?;
                if firm.is_none() {
                    return Err(DbError::NotFound {
                        what: "firm",
                        id: rep.firm_id.clone(),
                    });
                }
                let row = sqlx::query_as::<_, RepRow<$ts>>(
                    "INSERT INTO reps (id, firm_id, role, active, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $5)
                     ON CONFLICT (id) DO UPDATE SET firm_id = excluded.firm_id,
                         role = excluded.role, active = excluded.active,
                         updated_at = excluded.updated_at
                     RETURNING *",
                )
                .bind(&rep.id)
                .bind(&rep.firm_id)
                .bind(&rep.role)
                .bind(rep.active)
                .bind($db(now))
                .fetch_one(&mut *tx)
                .await
                .map_err(DbError::db("writing a rep"))?;
                tx.commit()
                    .await
                    .map_err(DbError::db("committing a rep"))?;
                row.into_domain()
            }

            async fn get_firm(&self, id: &str) -> Result<Option<Firm>, DbError> {
                sqlx::query_as::<_, FirmRow<$ts>>("SELECT * FROM firms WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.$reader)
                    .await
                    .map_err(DbError::db("reading a firm"))?
                    .map(FirmRow::into_domain)
                    .transpose()
            }

            async fn get_rep(&self, id: &str) -> Result<Option<Rep>, DbError> {
                sqlx::query_as::<_, RepRow<$ts>>("SELECT * FROM reps WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.$reader)
                    .await
                    .map_err(DbError::db("reading a rep"))?
                    .map(RepRow::into_domain)
                    .transpose()
            }

            async fn list_firms(&self) -> Result<Vec<Firm>, DbError> {
                sqlx::query_as::<_, FirmRow<$ts>>("SELECT * FROM firms ORDER BY id")
                    .fetch_all(&self.$reader)
                    .await
                    .map_err(DbError::db("listing firms"))?
                    .into_iter()
                    .map(FirmRow::into_domain)
                    .collect()
            }

            async fn list_reps(&self, firm_id: Option<&str>) -> Result<Vec<Rep>, DbError> {
                sqlx::query_as::<_, RepRow<$ts>>(
                    "SELECT * FROM reps WHERE ($1 IS NULL OR firm_id = $1) ORDER BY id",
                )
                .bind(firm_id)
                .fetch_all(&self.$reader)
                .await
                .map_err(DbError::db("listing reps"))?
                .into_iter()
                .map(RepRow::into_domain)
                .collect()
            }

            async fn submission_firm(&self, submission_id: Uuid) -> Result<Option<String>, DbError> {
                sqlx::query_scalar(
                    "SELECT r.firm_id FROM submissions s JOIN reps r ON r.id = s.rep_id
                     WHERE s.id = $1",
                )
                .bind(submission_id)
                .fetch_optional(&self.$reader)
                .await
                .map_err(DbError::db("reading a submission's firm"))
            }

            async fn rep_ledger(&self, rep_id: &str) -> Result<RepLedger, DbError> {
                let mut tx = self
                    .$reader
                    .begin()
                    .await
                    .map_err(DbError::db("starting a read"))?;
                // The version first: a change committed after this read makes the
                // plan stale even if the rows below already show it.
                let version: Option<i64> =
                    sqlx::query_scalar("SELECT version FROM rep_ledgers WHERE rep_id = $1")
                        .bind(rep_id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(DbError::db("reading a rep's ledger version"))?;
                let certifications = sqlx::query_as::<_, CertRow<$ts>>(
                    "SELECT * FROM certifications WHERE rep_id = $1 ORDER BY track",
                )
                .bind(rep_id)
                .fetch_all(&mut *tx)
                .await
                .map_err(DbError::db("reading a rep's certifications"))?
                .into_iter()
                .map(CertRow::into_domain)
                .collect::<Result<Vec<_>, _>>()?;
                let rights: Vec<(Option<String>, String)> = sqlx::query_as(
                    "SELECT right_name, action FROM audit_log
                     WHERE rep_id = $1 AND action IN ('rights.granted', 'rights.paused', 'rights.restored')
                     ORDER BY seq",
                )
                .bind(rep_id)
                .fetch_all(&mut *tx)
                .await
                .map_err(DbError::db("reading a rep's rights history"))?;
                let mut paused_rights = BTreeSet::new();
                for (right, action) in rights {
                    let Some(right) = right else { continue };
                    if action == "rights.paused" {
                        paused_rights.insert(right);
                    } else {
                        paused_rights.remove(&right);
                    }
                }
                let rep = sqlx::query_as::<_, RepRow<$ts>>("SELECT * FROM reps WHERE id = $1")
                    .bind(rep_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(DbError::db("reading a rep"))?
                    .map(RepRow::into_domain)
                    .transpose()?;
                let firm = match &rep {
                    Some(rep) => sqlx::query_as::<_, FirmRow<$ts>>(
                        "SELECT * FROM firms WHERE id = $1",
                    )
                    .bind(&rep.firm_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(DbError::db("reading a firm"))?
                    .map(FirmRow::into_domain)
                    .transpose()?,
                    None => None,
                };
                tx.commit().await.map_err(DbError::db("ending a read"))?;
                Ok(RepLedger {
                    rep_id: rep_id.to_string(),
                    version: version.unwrap_or(0),
                    rep,
                    firm,
                    certifications,
                    paused_rights,
                })
            }

            async fn apply_change(
                &self,
                change: &ChangeSet,
                now: DateTime<Utc>,
            ) -> Result<ChangeOutcome, DbError> {
                let mut tx = self.begin().await?;
                for key in &change.idempotency_keys {
                    let done = sqlx::query(
                        "INSERT INTO applied_keys (key, applied_at) VALUES ($1, $2)
                         ON CONFLICT (key) DO NOTHING",
                    )
                    .bind(key)
                    .bind($db(now))
                    .execute(&mut *tx)
                    .await
                    .map_err(DbError::db("recording an idempotency key"))?;
                    if done.rows_affected() == 0 {
                        return refuse(tx, ChangeOutcome::Duplicate).await;
                    }
                }
                if let Some(d) = &change.review_decision {
                    let done = sqlx::query(
                        "UPDATE reviews SET decided_by = $2, decided_at = $3, decision = $4,
                             reason = $5, criteria = $6
                         WHERE id = $1 AND decided_at IS NULL AND claimed_by = $2
                             AND claim_expires_at > $7",
                    )
                    .bind(d.review_id)
                    .bind(&d.reviewer)
                    .bind($db(d.decided_at))
                    .bind(d.decision.as_str())
                    .bind(&d.reason)
                    .bind(Json(&d.criteria))
                    .bind($db(now))
                    .execute(&mut *tx)
                    .await
                    .map_err(DbError::db("recording a review decision"))?;
                    if done.rows_affected() == 0 {
                        return refuse(tx, ChangeOutcome::NotClaimed).await;
                    }
                }
                if let Some(id) = change.settle_submission {
                    sqlx::query(
                        "UPDATE submissions SET status = 'graded', updated_at = $2
                         WHERE id = $1 AND status = 'needs_review'",
                    )
                    .bind(id)
                    .bind($db(now))
                    .execute(&mut *tx)
                    .await
                    .map_err(DbError::db("settling a reviewed submission"))?;
                }
                if let Some(guard) = &change.ledger {
                    let done = if guard.expected_version == 0 {
                        sqlx::query(
                            "INSERT INTO rep_ledgers (rep_id, version) VALUES ($1, 1)
                             ON CONFLICT (rep_id) DO NOTHING",
                        )
                        .bind(&guard.rep_id)
                        .execute(&mut *tx)
                        .await
                    } else {
                        sqlx::query(
                            "UPDATE rep_ledgers SET version = version + 1
                             WHERE rep_id = $1 AND version = $2",
                        )
                        .bind(&guard.rep_id)
                        .bind(guard.expected_version)
                        .execute(&mut *tx)
                        .await
                    }
                    .map_err(DbError::db("advancing a rep's ledger"))?;
                    if done.rows_affected() == 0 {
                        return refuse(tx, ChangeOutcome::Stale).await;
                    }
                }
                for c in &change.certifications {
                    sqlx::query(
                        "INSERT INTO certifications (id, rep_id, track, rubric_id, rubric_version,
                             status, first_issued_at, issued_at, expires_at, renewals,
                             reminded_days, submission_id, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                         ON CONFLICT (id) DO UPDATE SET rubric_id = excluded.rubric_id,
                             rubric_version = excluded.rubric_version, status = excluded.status,
                             issued_at = excluded.issued_at, expires_at = excluded.expires_at,
                             renewals = excluded.renewals, reminded_days = excluded.reminded_days,
                             submission_id = excluded.submission_id,
                             updated_at = excluded.updated_at",
                    )
                    .bind(c.id)
                    .bind(&c.rep_id)
                    .bind(&c.track)
                    .bind(&c.rubric_id)
                    .bind(opt_i32(c.rubric_version, "rubric version")?)
                    .bind(c.status.as_str())
                    .bind($db(c.first_issued_at))
                    .bind($db(c.issued_at))
                    .bind($db(c.expires_at))
                    .bind(to_i32(c.renewals, "renewals")?)
                    .bind(opt_i32(c.reminded_days, "reminded days")?)
                    .bind(c.submission_id)
                    .bind($db(c.updated_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(DbError::db("writing a certification"))?;
                }
                if let Some(d) = &change.decision {
                    let done = sqlx::query(
                        "INSERT INTO cert_decisions (submission_id, rep_id, track, rubric_id,
                             rubric_version, outcome, source, review_id, machine_decision,
                             machine_score, effect, certification_id, submitted_at, graded_at,
                             decided_at, criteria)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
                         ON CONFLICT (submission_id) DO NOTHING",
                    )
                    .bind(d.submission_id)
                    .bind(&d.rep_id)
                    .bind(&d.track)
                    .bind(&d.rubric_id)
                    .bind(opt_i32(d.rubric_version, "rubric version")?)
                    .bind(d.outcome.as_str())
                    .bind(d.source.as_str())
                    .bind(d.review_id)
                    .bind(decision_text(d.machine_decision))
                    .bind(d.machine_score)
                    .bind(d.effect.as_str())
                    .bind(d.certification_id)
                    .bind($db(d.submitted_at))
                    .bind($db(d.graded_at))
                    .bind($db(d.decided_at))
                    .bind(Json(&d.criteria))
                    .execute(&mut *tx)
                    .await
                    .map_err(DbError::db("recording a decision"))?;
                    if done.rows_affected() == 0 {
                        return refuse(tx, ChangeOutcome::Duplicate).await;
                    }
                }
                if let Some(r) = &change.new_review {
                    let done = sqlx::query(
                        "INSERT INTO reviews (id, submission_id, grade_id, rep_id, rubric_id,
                             machine_score, machine_lean, reasons, queued_at, criteria)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                         ON CONFLICT (submission_id) DO NOTHING",
                    )
                    .bind(r.id)
                    .bind(r.submission_id)
                    .bind(r.grade_id)
                    .bind(&r.rep_id)
                    .bind(&r.rubric_id)
                    .bind(r.machine_score)
                    .bind(r.machine_lean.as_str())
                    .bind(Json(&r.reasons))
                    .bind($db(r.queued_at))
                    .bind(Json(&r.criteria))
                    .execute(&mut *tx)
                    .await
                    .map_err(DbError::db("queueing a review"))?;
                    if done.rows_affected() == 0 {
                        return refuse(tx, ChangeOutcome::Duplicate).await;
                    }
                }
                for a in &change.audit {
                    sqlx::query(
                        "INSERT INTO audit_log (at, recorded_at, actor, action, rep_id, track,
                             right_name, certification_id, submission_id, review_id, detail)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    )
                    .bind($db(a.at))
                    .bind($db(now))
                    .bind(&a.actor)
                    .bind(&a.action)
                    .bind(&a.rep_id)
                    .bind(&a.track)
                    .bind(&a.right)
                    .bind(a.certification_id)
                    .bind(a.submission_id)
                    .bind(a.review_id)
                    .bind(Json(&a.detail))
                    .execute(&mut *tx)
                    .await
                    .map_err(DbError::db("writing the audit log"))?;
                }
                for e in &change.events {
                    sqlx::query(
                        "INSERT INTO outbox (id, kind, occurred_at, payload, created_at, attempts,
                             next_attempt_at)
                         VALUES ($1, $2, $3, $4, $5, 0, $5)",
                    )
                    .bind(e.id)
                    .bind(&e.kind)
                    .bind($db(e.occurred_at))
                    .bind(Json(&e.payload))
                    .bind($db(now))
                    .execute(&mut *tx)
                    .await
                    .map_err(DbError::db("writing to the outbox"))?;
                }
                tx.commit()
                    .await
                    .map_err(DbError::db("committing a certification change"))?;
                Ok(ChangeOutcome::Applied)
            }

            async fn list_certifications(
                &self,
                filter: &CertFilter,
                limit: u32,
            ) -> Result<Vec<Certification>, DbError> {
                sqlx::query_as::<_, CertRow<$ts>>(
                    "SELECT c.* FROM certifications c LEFT JOIN reps r ON r.id = c.rep_id
                     WHERE ($1 IS NULL OR c.rep_id = $1) AND ($2 IS NULL OR r.firm_id = $2)
                         AND ($3 IS NULL OR c.status = $3) AND ($4 IS NULL OR c.expires_at <= $4)
                         AND ($5 IS NULL OR (c.expires_at, c.id) > ($5, $6))
                     ORDER BY c.expires_at, c.id LIMIT $7",
                )
                .bind(&filter.rep_id)
                .bind(&filter.firm_id)
                .bind(filter.status.map(|s| s.as_str()))
                .bind(filter.expires_by.map($db))
                .bind(filter.after.map(|(t, _)| $db(t)))
                .bind(filter.after.map(|(_, id)| id))
                .bind(i64::from(limit.min(MAX_LIST)))
                .fetch_all(&self.$reader)
                .await
                .map_err(DbError::db("listing certifications"))?
                .into_iter()
                .map(CertRow::into_domain)
                .collect()
            }

            async fn decision_for(
                &self,
                submission_id: Uuid,
            ) -> Result<Option<CertDecision>, DbError> {
                sqlx::query_as::<_, DecisionRow<$ts>>(
                    "SELECT * FROM cert_decisions WHERE submission_id = $1",
                )
                .bind(submission_id)
                .fetch_optional(&self.$reader)
                .await
                .map_err(DbError::db("reading a decision"))?
                .map(DecisionRow::into_domain)
                .transpose()
            }

            async fn list_decisions(
                &self,
                rep_id: Option<&str>,
                firm_id: Option<&str>,
            ) -> Result<Vec<CertDecision>, DbError> {
                sqlx::query_as::<_, DecisionRow<$ts>>(
                    "SELECT * FROM cert_decisions WHERE ($1 IS NULL OR rep_id = $1)
                         AND ($2 IS NULL OR rep_id IN (SELECT id FROM reps WHERE firm_id = $2))
                     ORDER BY decided_at, submission_id",
                )
                .bind(rep_id)
                .bind(firm_id)
                .fetch_all(&self.$reader)
                .await
                .map_err(DbError::db("listing decisions"))?
                .into_iter()
                .map(DecisionRow::into_domain)
                .collect()
            }

            async fn unapplied_grades(&self, limit: u32) -> Result<Vec<Uuid>, DbError> {
                sqlx::query_scalar(
                    "SELECT g.submission_id FROM grades g
                     WHERE (g.decision IN ('pass', 'fail') AND NOT EXISTS
                             (SELECT 1 FROM cert_decisions d WHERE d.submission_id = g.submission_id))
                        OR (g.decision = 'borderline' AND NOT EXISTS
                             (SELECT 1 FROM reviews r WHERE r.submission_id = g.submission_id))
                     ORDER BY g.created_at, g.id LIMIT $1",
                )
                .bind(i64::from(limit.min(MAX_LIST)))
                .fetch_all(&self.$reader)
                .await
                .map_err(DbError::db("finding grades without a certification effect"))
            }

            async fn review_queue(
                &self,
                limit: u32,
                firm_id: Option<&str>,
            ) -> Result<Vec<Review>, DbError> {
                sqlx::query_as::<_, ReviewRow<$ts>>(
                    "SELECT * FROM reviews WHERE decided_at IS NULL
                         AND ($2 IS NULL OR rep_id IN (SELECT id FROM reps WHERE firm_id = $2))
                     ORDER BY queued_at, id LIMIT $1",
                )
                .bind(i64::from(limit.min(MAX_LIST)))
                .bind(firm_id)
                .fetch_all(&self.$reader)
                .await
                .map_err(DbError::db("listing the review queue"))?
                .into_iter()
                .map(ReviewRow::into_domain)
                .collect()
            }

            async fn get_review(&self, id: Uuid) -> Result<Option<Review>, DbError> {
                sqlx::query_as::<_, ReviewRow<$ts>>("SELECT * FROM reviews WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.$reader)
                    .await
                    .map_err(DbError::db("reading a review"))?
                    .map(ReviewRow::into_domain)
                    .transpose()
            }

            async fn review_for(&self, submission_id: Uuid) -> Result<Option<Review>, DbError> {
                sqlx::query_as::<_, ReviewRow<$ts>>(
                    "SELECT * FROM reviews WHERE submission_id = $1",
                )
                .bind(submission_id)
                .fetch_optional(&self.$reader)
                .await
                .map_err(DbError::db("reading a review"))?
                .map(ReviewRow::into_domain)
                .transpose()
            }

            async fn list_decided_reviews(
                &self,
                firm_id: Option<&str>,
            ) -> Result<Vec<Review>, DbError> {
                sqlx::query_as::<_, ReviewRow<$ts>>(
                    "SELECT * FROM reviews WHERE decided_at IS NOT NULL
                         AND ($1 IS NULL OR rep_id IN (SELECT id FROM reps WHERE firm_id = $1))
                     ORDER BY decided_at, id",
                )
                .bind(firm_id)
                .fetch_all(&self.$reader)
                .await
                .map_err(DbError::db("listing decided reviews"))?
                .into_iter()
                .map(ReviewRow::into_domain)
                .collect()
            }

            async fn claim_review(
                &self,
                reviewer: &str,
                id: Option<Uuid>,
                firm_id: Option<&str>,
                ttl: StdDuration,
                now: DateTime<Utc>,
            ) -> Result<Option<Review>, DbError> {
                check_id("a reviewer id", reviewer)?;
                let until = queue::lease_deadline(now, ttl)?;
                let mut tx = self.begin().await?;
                let claimable = "decided_at IS NULL AND (claimed_by IS NULL OR claimed_by = $2
                                 OR claim_expires_at <= $3)
                                 AND ($5 IS NULL OR rep_id IN (SELECT id FROM reps WHERE firm_id = $5))";
                let sql = match id {
                    Some(_) => format!(
                        "UPDATE reviews SET claimed_by = $2, claimed_at = $3, claim_expires_at = $4
                         WHERE id = $1 AND {claimable} RETURNING *"
                    ),
                    None => format!(
                        "UPDATE reviews SET claimed_by = $2, claimed_at = $3, claim_expires_at = $4
                         WHERE id = (SELECT id FROM reviews WHERE ($1 IS NULL OR id = $1) AND {claimable}
                                     ORDER BY queued_at, id LIMIT 1 {})
                         RETURNING *",
                        $skip_locked
                    ),
                };
                let row = sqlx::query_as::<_, ReviewRow<$ts>>(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .bind(reviewer)
                    .bind($db(now))
                    .bind($db(until))
                    .bind(firm_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(DbError::db("claiming a review"))?;
                let Some(row) = row else {
                    tx.rollback()
                        .await
                        .map_err(DbError::db("ending a claim"))?;
                    return Ok(None);
                };
                let review = row.into_domain()?;
                sqlx::query(
                    "INSERT INTO audit_log (at, recorded_at, actor, action, rep_id, submission_id,
                         review_id, detail)
                     VALUES ($1, $1, $2, 'review.claimed', $3, $4, $5, $6)",
                )
                .bind($db(now))
                .bind(format!("reviewer:{reviewer}"))
                .bind(&review.rep_id)
                .bind(review.submission_id)
                .bind(review.id)
                .bind(Json(serde_json::json!({ "until": until })))
                .execute(&mut *tx)
                .await
                .map_err(DbError::db("auditing a claim"))?;
                tx.commit()
                    .await
                    .map_err(DbError::db("committing a claim"))?;
                Ok(Some(review))
            }

            async fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, DbError> {
                let limit = if filter.limit == 0 { MAX_LIST } else { filter.limit.min(MAX_LIST) };
                sqlx::query_as::<_, AuditRow<$ts>>(
                    "SELECT * FROM audit_log
                     WHERE ($1 IS NULL OR rep_id = $1)
                         AND ($2 IS NULL OR substr(action, 1, length($2)) = $2)
                         AND ($3 IS NULL OR seq > $3)
                         AND ($5 IS NULL OR submission_id = $5)
                     ORDER BY seq LIMIT $4",
                )
                .bind(&filter.rep_id)
                .bind(&filter.action_prefix)
                .bind(filter.after_seq)
                .bind(i64::from(limit))
                .bind(filter.submission_id)
                .fetch_all(&self.$reader)
                .await
                .map_err(DbError::db("reading the audit log"))?
                .into_iter()
                .map(AuditRow::into_domain)
                .collect()
            }

            async fn add_grade_versions(&self, versions: &[NewGradeVersion]) -> Result<(), DbError> {
                let mut tx = self.begin().await?;
                for n in versions {
                    let v = &n.version;
                    sqlx::query(
                        "INSERT INTO grade_versions (id, submission_id, rubric_id, rubric_version,
                             rubric_sha256, judge, decision, score, summary, actor, created_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    )
                    .bind(v.id)
                    .bind(v.submission_id)
                    .bind(&v.rubric_id)
                    .bind(to_i32(v.rubric_version, "rubric_version")?)
                    .bind(&v.rubric_sha256)
                    .bind(&v.judge)
                    .bind(decision_text(v.decision))
                    .bind(v.score)
                    .bind(Json(&v.summary))
                    .bind(&v.actor)
                    .bind($db(v.created_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(DbError::db("writing a grade version"))?;
                    sqlx::query(
                        "INSERT INTO audit_log (at, recorded_at, actor, action, rep_id, submission_id, detail)
                         VALUES ($1, $1, $2, 'grade.replayed', $3, $4, $5)",
                    )
                    .bind($db(v.created_at))
                    .bind(&v.actor)
                    .bind(&n.rep_id)
                    .bind(v.submission_id)
                    .bind(Json(&n.audit))
                    .execute(&mut *tx)
                    .await
                    .map_err(DbError::db("auditing a grade version"))?;
                }
                tx.commit()
                    .await
                    .map_err(DbError::db("committing grade versions"))
            }

            async fn grade_versions(&self, submission_id: Uuid) -> Result<Vec<GradeVersion>, DbError> {
                sqlx::query_as::<_, GradeVersionRow<$ts>>(
                    "SELECT * FROM grade_versions WHERE submission_id = $1 ORDER BY created_at, id",
                )
                .bind(submission_id)
                .fetch_all(&self.$reader)
                .await
                .map_err(DbError::db("reading grade versions"))?
                .into_iter()
                .map(GradeVersionRow::into_domain)
                .collect()
            }

            async fn try_lease(
                &self,
                name: &str,
                owner: &str,
                ttl: StdDuration,
                now: DateTime<Utc>,
            ) -> Result<bool, DbError> {
                let until = queue::lease_deadline(now, ttl)?;
                let mut tx = self.begin().await?;
                let done = sqlx::query(
                    "INSERT INTO leases (name, owner, expires_at) VALUES ($1, $2, $3)
                     ON CONFLICT (name) DO UPDATE SET owner = excluded.owner,
                         expires_at = excluded.expires_at
                     WHERE leases.owner = excluded.owner OR leases.expires_at <= $4",
                )
                .bind(name)
                .bind(owner)
                .bind($db(until))
                .bind($db(now))
                .execute(&mut *tx)
                .await
                .map_err(DbError::db("taking a lease"))?;
                tx.commit()
                    .await
                    .map_err(DbError::db("committing a lease"))?;
                Ok(done.rows_affected() == 1)
            }

            async fn release_lease(&self, name: &str, owner: &str) -> Result<(), DbError> {
                let mut tx = self.begin().await?;
                sqlx::query("DELETE FROM leases WHERE name = $1 AND owner = $2")
                    .bind(name)
                    .bind(owner)
                    .execute(&mut *tx)
                    .await
                    .map_err(DbError::db("releasing a lease"))?;
                tx.commit()
                    .await
                    .map_err(DbError::db("committing a lease release"))
            }

            async fn claim_outbox(
                &self,
                limit: u32,
                ttl: StdDuration,
                now: DateTime<Utc>,
            ) -> Result<Vec<OutboxEvent>, DbError> {
                let until = queue::lease_deadline(now, ttl)?;
                let mut tx = self.begin().await?;
                let sql = format!(
                    "UPDATE outbox SET next_attempt_at = $2
                     WHERE id IN (SELECT id FROM outbox
                                  WHERE delivered_at IS NULL AND dead_at IS NULL
                                      AND next_attempt_at <= $1
                                  ORDER BY created_at, id LIMIT $3 {})
                     RETURNING *",
                    $skip_locked
                );
                let mut events = sqlx::query_as::<_, OutboxRow<$ts>>(sqlx::AssertSqlSafe(sql))
                    .bind($db(now))
                    .bind($db(until))
                    .bind(i64::from(limit.min(MAX_LIST)))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(DbError::db("claiming outbox events"))?
                    .into_iter()
                    .map(OutboxRow::into_domain)
                    .collect::<Result<Vec<_>, _>>()?;
                tx.commit()
                    .await
                    .map_err(DbError::db("committing an outbox claim"))?;
                events.sort_by(|a, b| (a.created_at, a.id).cmp(&(b.created_at, b.id)));
                Ok(events)
            }

            async fn record_delivery(
                &self,
                a: &DeliveryAttempt,
                now: DateTime<Utc>,
            ) -> Result<(), DbError> {
                let error = a.error.as_deref().map(queue::bounded_reason);
                let mut tx = self.begin().await?;
                sqlx::query(
                    "INSERT INTO webhook_deliveries (event_id, attempt, endpoint, at, status_code,
                         error, outcome, next_attempt_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(a.event_id)
                .bind(to_i32(a.attempt, "attempt")?)
                .bind(&a.endpoint)
                .bind($db(a.at))
                .bind(a.status_code.map(i32::from))
                .bind(error.as_deref())
                .bind(a.outcome.as_str())
                .bind(a.next_attempt_at.map($db))
                .execute(&mut *tx)
                .await
                .map_err(DbError::db("logging a delivery"))?;
                let next = a.next_attempt_at.unwrap_or(now);
                let (delivered, dead) = match a.outcome {
                    DeliveryOutcome::Delivered => (Some(a.at), None),
                    DeliveryOutcome::Dead => (None, Some(a.at)),
                    DeliveryOutcome::Retry => (None, None),
                };
                sqlx::query(
                    "UPDATE outbox SET attempts = $2, last_error = $3, next_attempt_at = $4,
                         delivered_at = $5, dead_at = $6
                     WHERE id = $1",
                )
                .bind(a.event_id)
                .bind(to_i32(a.attempt, "attempt")?)
                .bind(error.as_deref())
                .bind($db(next))
                .bind(delivered.map($db))
                .bind(dead.map($db))
                .execute(&mut *tx)
                .await
                .map_err(DbError::db("updating an outbox event"))?;
                tx.commit()
                    .await
                    .map_err(DbError::db("committing a delivery"))
            }

            async fn list_outbox(
                &self,
                after: Option<Uuid>,
                limit: u32,
            ) -> Result<Vec<OutboxEvent>, DbError> {
                sqlx::query_as::<_, OutboxRow<$ts>>(
                    "SELECT * FROM outbox
                     WHERE $1 IS NULL OR (created_at, id) >
                         (SELECT created_at, id FROM outbox WHERE id = $1)
                     ORDER BY created_at, id LIMIT $2",
                )
                .bind(after)
                .bind(i64::from(limit.min(MAX_LIST)))
                .fetch_all(&self.$reader)
                .await
                .map_err(DbError::db("listing the outbox"))?
                .into_iter()
                .map(OutboxRow::into_domain)
                .collect()
            }

            async fn delivery_log(
                &self,
                event_id: Option<Uuid>,
            ) -> Result<Vec<DeliveryAttempt>, DbError> {
                sqlx::query_as::<_, DeliveryRow<$ts>>(
                    "SELECT * FROM webhook_deliveries WHERE ($1 IS NULL OR event_id = $1)
                     ORDER BY id LIMIT $2",
                )
                .bind(event_id)
                .bind(i64::from(MAX_LIST))
                .fetch_all(&self.$reader)
                .await
                .map_err(DbError::db("reading the delivery log"))?
                .into_iter()
                .map(DeliveryRow::into_domain)
                .collect()
            }
        }
    };
}

pub(crate) use impl_certification_repo;
