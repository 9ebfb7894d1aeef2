//! Certification: what a final decision does, and the rights it unlocks.
//!
//! A pass issues or renews the rep's certification for the rubric's track; a
//! valid certification unlocks the track's rights; a lapse pauses them at the
//! exact expiry without anyone acting (gating reads validity at the instant it
//! is asked, and the sweep records the lapse with that instant). Every change
//! is planned here from a rep's ledger and written by the store in one
//! transaction with its audit lines and outbox events, once: applying the same
//! decision twice has one effect.
//!
//! - [`program`]: the program file (tracks, rights, retakes, paths, tiers);
//! - [`lifecycle`]: final decisions → certifications (`apply_decision`);
//! - [`review`]: the borderline queue, claims and reviewers' decisions;
//! - [`audit_trail`]: a submission's story in sentences, for people;
//! - [`retake`]: may this rep submit for this track now, and if not, when;
//! - [`sweep`]: reminders, expiries and reconciliation, one runner at a time;
//! - [`gating`]: a rep's rights, a firm's tier and coverage;
//! - [`outbox`] and [`webhook`]: signed webhooks with retries and a delivery log;
//! - [`reports`]: program health figures for enablement;
//! - [`calibration`]: AI–reviewer agreement over a window, and its alerts;
//! - [`replay`]: what a rubric change would do to past grades, before it ships.

pub mod audit_trail;
pub mod calibration;
pub mod gating;
mod grade_view;
pub mod lifecycle;
pub mod outbox;
pub mod program;
pub mod replay;
pub mod reports;
pub mod retake;
pub mod review;
pub mod rights;
pub mod roster;
pub mod sweep;
pub mod webhook;

use uuid::Uuid;

pub use lifecycle::{apply_decision, Applied};
pub use program::{Program, ProgramError, RubricTracks};

use crate::store::DbError;

/// Who wrote an audit line when no person did.
pub const SYSTEM: &str = "system";

#[derive(Debug, thiserror::Error)]
pub enum CertifyError {
    #[error(transparent)]
    Store(#[from] DbError),
    #[error("submission {0} not found")]
    SubmissionNotFound(Uuid),
    #[error("submission {0} has no grade yet")]
    NotGraded(Uuid),
    #[error("review {0} not found")]
    ReviewNotFound(Uuid),
    #[error("review {0} is already decided")]
    ReviewAlreadyDecided(Uuid),
    #[error("review {review_id} is not claimed by {reviewer} (claim it first, or it expired)")]
    NotClaimed { review_id: Uuid, reviewer: String },
    #[error("invalid review: {0}")]
    InvalidReview(String),
    #[error("unknown track {0:?}")]
    UnknownTrack(String),
    #[error("unknown role {role:?}; the program knows {known}")]
    UnknownRole { role: String, known: String },
    #[error("{0}")]
    Invalid(String),
    #[error("rep {0} changed under every attempt to update it; try again")]
    Contention(String),
}
