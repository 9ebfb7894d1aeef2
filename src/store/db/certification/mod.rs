//! Certification storage: partner firms and reps, certifications, final
//! decisions, the review queue, the audit log, the webhook outbox and the
//! sweep's lease — behind one trait that both database backends implement.
//!
//! The rules (what a pass does, when rights pause) live in `crate::certify`.
//! This layer stores their outcome atomically: `certify` reads a rep's ledger,
//! plans a [`ChangeSet`] and hands it back; `apply_change` writes all of it in
//! one transaction or none of it, refusing when the plan was made from a stale
//! ledger (someone else changed the rep meanwhile) or was already applied (its
//! idempotency key exists). That keeps the SQL dumb and the rules in one place.

mod backend;
pub(crate) mod rows;
mod types;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;
use uuid::Uuid;

pub(crate) use backend::impl_certification_repo;
pub use types::*;

use crate::store::DbError;

/// Certification storage. Every write that depends on time takes `now`.
#[async_trait]
pub trait CertificationRepo: Send + Sync {
    /// Creates or updates a partner firm.
    async fn upsert_firm(&self, firm: &NewFirm, now: DateTime<Utc>) -> Result<Firm, DbError>;
    /// Creates or updates a rep; the firm must exist.
    async fn upsert_rep(&self, rep: &NewRep, now: DateTime<Utc>) -> Result<Rep, DbError>;
    async fn get_firm(&self, id: &str) -> Result<Option<Firm>, DbError>;
    async fn get_rep(&self, id: &str) -> Result<Option<Rep>, DbError>;
    async fn list_firms(&self) -> Result<Vec<Firm>, DbError>;
    /// Reps of one firm, or of every firm.
    async fn list_reps(&self, firm_id: Option<&str>) -> Result<Vec<Rep>, DbError>;
    /// The firm of the rep who made a submission; `None` when there is no such
    /// submission or its rep is on no firm's roster. What confines a partner
    /// admin to its firm before anything of the submission is read.
    async fn submission_firm(&self, submission_id: Uuid) -> Result<Option<String>, DbError>;

    /// What a plan about one rep starts from: its certifications and the
    /// version that `apply_change` checks.
    async fn rep_ledger(&self, rep_id: &str) -> Result<RepLedger, DbError>;

    /// Writes a planned change in one transaction: all of it or nothing.
    async fn apply_change(
        &self,
        change: &ChangeSet,
        now: DateTime<Utc>,
    ) -> Result<ChangeOutcome, DbError>;

    /// Certifications matching the filter, oldest expiry first, at most `limit`.
    async fn list_certifications(
        &self,
        filter: &CertFilter,
        limit: u32,
    ) -> Result<Vec<Certification>, DbError>;

    /// The final decision recorded for a submission, if any.
    async fn decision_for(&self, submission_id: Uuid) -> Result<Option<CertDecision>, DbError>;
    /// Final decisions, oldest first; of one rep and/or one firm's reps when given.
    async fn list_decisions(
        &self,
        rep_id: Option<&str>,
        firm_id: Option<&str>,
    ) -> Result<Vec<CertDecision>, DbError>;

    /// Grades whose certification effect is missing: a pass or fail with no
    /// decision row, a borderline grade with no review. A worker that crashed
    /// between writing a grade and applying it leaves these; the sweep finishes them.
    async fn unapplied_grades(&self, limit: u32) -> Result<Vec<Uuid>, DbError>;

    /// Reviews not yet decided, oldest first (claimed ones included, with their
    /// claim); of one firm's reps when given.
    async fn review_queue(&self, limit: u32, firm_id: Option<&str>)
        -> Result<Vec<Review>, DbError>;
    async fn get_review(&self, id: Uuid) -> Result<Option<Review>, DbError>;
    async fn review_for(&self, submission_id: Uuid) -> Result<Option<Review>, DbError>;
    /// Decided reviews, oldest decision first; of one firm's reps when given.
    async fn list_decided_reviews(&self, firm_id: Option<&str>) -> Result<Vec<Review>, DbError>;
    /// Gives `reviewer` the review `id` (or the oldest one nobody holds) until
    /// `now + ttl`. A claim held by someone else and not yet expired is
    /// respected. With `firm_id`, only reviews of that firm's reps.
    async fn claim_review(
        &self,
        reviewer: &str,
        id: Option<Uuid>,
        firm_id: Option<&str>,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Review>, DbError>;

    /// Audit entries in the order they were written.
    async fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, DbError>;

    /// Writes re-scored grades beside the originals, each with an audit line
    /// (`grade.replayed`), all in one transaction.
    async fn add_grade_versions(&self, versions: &[NewGradeVersion]) -> Result<(), DbError>;

    /// A submission's grade versions, oldest first.
    async fn grade_versions(&self, submission_id: Uuid) -> Result<Vec<GradeVersion>, DbError>;

    /// Takes (or extends) the named lease for `owner` until `now + ttl`, unless
    /// another owner holds it unexpired. Exactly one process wins.
    async fn try_lease(
        &self,
        name: &str,
        owner: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool, DbError>;
    async fn release_lease(&self, name: &str, owner: &str) -> Result<(), DbError>;

    /// Outbox events due for delivery, hidden from other deliverers until
    /// `now + ttl` so two processes never post the same event at once.
    async fn claim_outbox(
        &self,
        limit: u32,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxEvent>, DbError>;
    /// Records one delivery attempt and what comes next for the event.
    async fn record_delivery(
        &self,
        attempt: &DeliveryAttempt,
        now: DateTime<Utc>,
    ) -> Result<(), DbError>;
    /// Events in the order they were written, after `after` (an event id) when given.
    async fn list_outbox(
        &self,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, DbError>;
    async fn delivery_log(&self, event_id: Option<Uuid>) -> Result<Vec<DeliveryAttempt>, DbError>;
}

/// Most rows one listing returns where a caller could ask for more.
pub const MAX_LIST: u32 = 10_000;

/// `list_certifications` page after page, each starting after the previous
/// page's last row (listing order: expiry, then id), so any number of
/// certifications is read in bounded queries and none is read twice.
#[derive(Debug, Clone)]
pub struct CertPages {
    filter: CertFilter,
    page_size: u32,
    exhausted: bool,
}

impl CertPages {
    pub fn new(filter: CertFilter, page_size: u32) -> CertPages {
        CertPages {
            filter,
            // A page the listing would cut short would look like the last one.
            page_size: page_size.clamp(1, MAX_LIST),
            exhausted: false,
        }
    }

    /// The next page, or `None` when there is none left to read.
    pub async fn next<R: CertificationRepo + ?Sized>(
        &mut self,
        repo: &R,
    ) -> Result<Option<Vec<Certification>>, DbError> {
        if self.exhausted {
            return Ok(None);
        }
        let page = repo
            .list_certifications(&self.filter, self.page_size)
            .await?;
        self.exhausted = page.len() < self.page_size as usize;
        match page.last() {
            Some(last) => self.filter.after = Some((last.expires_at, last.id)),
            None => return Ok(None),
        }
        Ok(Some(page))
    }

    /// The last page came back short: another `next` would query nothing new.
    pub fn exhausted(&self) -> bool {
        self.exhausted
    }
}

/// Every certification matching `filter`.
pub async fn all_certifications<R: CertificationRepo + ?Sized>(
    repo: &R,
    filter: CertFilter,
) -> Result<Vec<Certification>, DbError> {
    let mut pages = CertPages::new(filter, MAX_LIST);
    let mut all = Vec::new();
    while let Some(page) = pages.next(repo).await? {
        all.extend(page);
    }
    Ok(all)
}
