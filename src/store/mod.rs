//! Durable state for the service: the database (submissions, grades and the job
//! queue) and the object store (uploaded recordings).
//!
//! Both are traits with two implementations each, picked by URL scheme at start:
//! the embedded default (SQLite file + local directory) needs no configuration,
//! the distributed shape (PostgreSQL + S3) lets any number of workers on any number
//! of machines share one queue and one bucket. Callers hold `Arc<dyn Repo>` and
//! `Arc<dyn ObjectStore>` and never learn which one they got.

pub mod db;
pub mod objects;
pub mod queue;
pub mod transfer;

pub use db::{connect, connect_with, ConnectOptions, Repo};
pub use objects::{connect_objects, ObjectKey, ObjectStore};

use uuid::Uuid;

/// Everything the storage layer can fail with. The variants separate what a caller
/// can act on (a fenced write, a missing row, a bad key) from infrastructure faults
/// (database, I/O, S3) that a worker treats as transient.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported storage URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("database error while {context}: {source}")]
    Database {
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("running database migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("job {job_id} attempt {attempt} no longer holds the job; its write was discarded")]
    Fenced { job_id: Uuid, attempt: u32 },
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    #[error("idempotency key {key:?} was already used by rep {rep_id} for a different submission")]
    IdempotencyConflict { rep_id: String, key: String },
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("invalid object key {key:?}: {reason}")]
    BadKey { key: String, reason: &'static str },
    #[error("object {0} not found")]
    ObjectNotFound(String),
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("S3 {op} of {key:?} failed: {message}")]
    S3 {
        op: &'static str,
        key: String,
        message: String,
    },
    #[error("{0} is not supported by this object store")]
    Unsupported(&'static str),
}

impl StoreError {
    /// Wraps a sqlx error with what we were doing, so logs say which step failed.
    pub(crate) fn db(context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Database { context, source }
    }

    pub(crate) fn io(
        path: impl AsRef<std::path::Path>,
    ) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.as_ref().display().to_string();
        move |source| StoreError::Io { path, source }
    }
}
