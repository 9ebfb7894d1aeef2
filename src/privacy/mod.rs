//! Recordings that do not outlive their purpose: the retention policy and
//! the erasure of one rep.
//!
//! - **Retention** ([`retention::sweep`]): a recording goes `recording_days`
//!   after its grade is final (a final decision, or the submission failed);
//!   the transcript and the evidence quotes go `transcript_days` after the
//!   certification they support lapses, or after the grade is final when they
//!   support none. The grade's numbers and verdicts and the certification
//!   audit trail stay. Each deletion leaves a tombstone (when, why), so the
//!   pages say what happened instead of failing.
//! - **Erasure** ([`erasure::erase_rep`]): every recording and transcript of
//!   one rep goes at once, and their id is replaced by a pseudonym in every
//!   row, so program reports still add up without saying who.
//!
//! Both are idempotent: a pass interrupted half-way is finished by the next.
//! Objects are deleted before the rows that name them are changed, so a crash
//! in between leaves a row pointing at nothing (which the next pass buries),
//! never an object nobody can find.
//!
//! What is stored where, for how long, is written for a data-protection
//! officer in `docs/privacy.md`.

pub mod erasure;
pub mod policy;
pub mod retention;

pub use erasure::{erase_rep, Erasure};
pub use policy::RetentionPolicy;
pub use retention::{sweep, RetentionReport};

use crate::pipeline::stored::StoredGradeError;
use crate::store::{DbError, ObjectError};

#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    #[error("retention: {0}")]
    Store(#[from] DbError),
    #[error("retention: deleting a recording: {0}")]
    Objects(#[from] ObjectError),
    #[error("retention: submission {submission}: {source}")]
    Grade {
        submission: uuid::Uuid,
        #[source]
        source: StoredGradeError,
    },
    #[error("no rep {0:?} to erase (unknown, or erased already)")]
    NoSuchRep(String),
    #[error("no randomness for a pseudonym: {0}")]
    Randomness(#[source] std::io::Error),
}
