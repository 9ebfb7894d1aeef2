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

pub use db::{connect, connect_with, ConnectOptions, DbError, Repo};
pub use objects::{connect_objects, ObjectError, ObjectKey, ObjectStore};

/// A failure of either half, for the one operation that uses both: copying a
/// whole install (`transfer`). Everything else returns the half it touched.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Objects(#[from] ObjectError),
}
