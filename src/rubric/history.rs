//! Versions that cannot lie: the `(id, version)` of a rubric names one text.
//!
//! Enablement edits rubrics every quarter. An edit that changes a grade but
//! keeps `version = 1` would leave two different texts both shown as "v1",
//! and past grades would point at words they were never graded with. The
//! first grade made with a version records its exact text in the database;
//! from then on a file whose bytes differ under that version is refused — at
//! `serve`/`worker` start, by `rubric lint --database-url`, and by a worker
//! about to grade with it — with a message that says to bump `version`.

use chrono::{DateTime, Utc};

use super::{LoadedRubric, RubricCatalog};
use crate::store::{DbError, Repo};

/// A rubric file whose bytes changed under a version already graded with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionConflict {
    pub rubric_id: String,
    pub version: u32,
    pub source: String,
    pub recorded_sha256: String,
    pub file_sha256: String,
    pub first_used_at: DateTime<Utc>,
}

impl std::fmt::Display for VersionConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: rubric {} version {} was first graded with on {} with other text \
             (sha256 {} then, {} now): bump `version` so past grades keep pointing \
             at the text they were graded with",
            self.source,
            self.rubric_id,
            self.version,
            self.first_used_at.format("%Y-%m-%d"),
            short(&self.recorded_sha256),
            short(&self.file_sha256),
        )
    }
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("{}", .0.iter().map(|c| c.to_string()).collect::<Vec<_>>().join("\n"))]
    Changed(Vec<VersionConflict>),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Every rubric of `catalog` whose version was graded with under other bytes.
pub async fn check(repo: &dyn Repo, catalog: &RubricCatalog) -> Result<(), HistoryError> {
    check_all(repo, catalog.iter()).await
}

/// The same check for single files (`rubric lint`).
pub async fn check_files(repo: &dyn Repo, files: &[LoadedRubric]) -> Result<(), HistoryError> {
    check_all(repo, files.iter()).await
}

async fn check_all<'a>(
    repo: &dyn Repo,
    rubrics: impl Iterator<Item = &'a LoadedRubric>,
) -> Result<(), HistoryError> {
    let mut conflicts = Vec::new();
    for loaded in rubrics {
        if let Some(c) = conflict(repo, loaded).await? {
            conflicts.push(c);
        }
    }
    if conflicts.is_empty() {
        Ok(())
    } else {
        Err(HistoryError::Changed(conflicts))
    }
}

/// Records the rubric's text as its version's before a grade is made with
/// it; refuses when that version already names other bytes (a worker
/// deployed with a stale or edited copy).
pub async fn record(
    repo: &dyn Repo,
    loaded: &LoadedRubric,
    now: DateTime<Utc>,
) -> Result<(), HistoryError> {
    let r = &loaded.rubric;
    let stored = repo
        .record_rubric_version(&r.id, r.version, &loaded.sha256, &loaded.text, now)
        .await?;
    if stored.sha256 == loaded.sha256 {
        return Ok(());
    }
    Err(HistoryError::Changed(vec![VersionConflict {
        rubric_id: r.id.clone(),
        version: r.version,
        source: loaded.source.clone(),
        recorded_sha256: stored.sha256,
        file_sha256: loaded.sha256.clone(),
        first_used_at: stored.first_used_at,
    }]))
}

async fn conflict(
    repo: &dyn Repo,
    loaded: &LoadedRubric,
) -> Result<Option<VersionConflict>, DbError> {
    let r = &loaded.rubric;
    let Some(stored) = repo.rubric_version(&r.id, r.version).await? else {
        return Ok(None);
    };
    Ok((stored.sha256 != loaded.sha256).then(|| VersionConflict {
        rubric_id: r.id.clone(),
        version: r.version,
        source: loaded.source.clone(),
        recorded_sha256: stored.sha256,
        file_sha256: loaded.sha256.clone(),
        first_used_at: stored.first_used_at,
    }))
}
