//! What the database half of the store fails with.

use uuid::Uuid;

/// Every repository failure. The variants separate what a caller can act on (a
/// fenced write, a missing row, a bad input) from faults of the database itself,
/// and `is_transient` says which of them a retry may clear.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
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
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl DbError {
    /// Wraps a sqlx error with what we were doing, so logs say which step failed.
    pub(crate) fn db(context: &'static str) -> impl FnOnce(sqlx::Error) -> DbError {
        move |source| DbError::Database { context, source }
    }

    pub(crate) fn io(path: impl AsRef<std::path::Path>) -> impl FnOnce(std::io::Error) -> DbError {
        let path = path.as_ref().display().to_string();
        move |source| DbError::Io { path, source }
    }

    /// Whether the same call may succeed later: the database was unreachable,
    /// busy or restarting. A row that does not decode, a missing row, a fenced
    /// write or bad input stays what it is however often it is retried.
    pub fn is_transient(&self) -> bool {
        match self {
            DbError::Database { source, .. } => matches!(
                source,
                sqlx::Error::Io(_)
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::Protocol(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::WorkerCrashed
                    | sqlx::Error::BeginFailed
                    // What the server reports: deadlocks, serialisation failures,
                    // an administrator's shutdown during a restart.
                    | sqlx::Error::Database(_)
            ),
            DbError::Io { .. } => true,
            DbError::BadUrl { .. }
            | DbError::Migrate(_)
            | DbError::Fenced { .. }
            | DbError::NotFound { .. }
            | DbError::IdempotencyConflict { .. }
            | DbError::Invalid(_)
            | DbError::Corrupt(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_faults_of_the_database_itself_are_transient() {
        assert!(DbError::db("claiming a job")(sqlx::Error::PoolTimedOut).is_transient());
        assert!(!DbError::db("reading a job")(sqlx::Error::RowNotFound).is_transient());
        assert!(!DbError::Corrupt("unknown JobState \"x\"".into()).is_transient());
        assert!(!DbError::Fenced {
            job_id: Uuid::nil(),
            attempt: 1
        }
        .is_transient());
    }
}
