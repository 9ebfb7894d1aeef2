//! The retention policy as the program file states it (`[retention]`).

use serde::{Deserialize, Serialize};

/// How long what a rep leaves behind is kept. The defaults are what a
/// vendor's data-protection officer is usually asked to sign off on: the
/// recording long enough for a rep to dispute a grade, the words as long as
/// the certification they earned is in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionPolicy {
    /// Days a recording is kept after its grade is final.
    pub recording_days: u32,
    /// Days the transcript and evidence quotes are kept after the
    /// certification they support lapses (or after the grade is final, when
    /// they support none).
    pub transcript_days: u32,
    /// Whether an erased rep also leaves the coverage roster, so their still
    /// valid certification stops counting for the firm's tier. Off by
    /// default: an erasure changes no one's standing.
    pub erasure_deactivates_rep: bool,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy {
            recording_days: 90,
            transcript_days: 30,
            erasure_deactivates_rep: false,
        }
    }
}

/// The tombstone reason for the policy's deletions.
pub const RETENTION: &str = "retention";
/// The tombstone reason for an erasure's.
pub const ERASURE: &str = "erasure";

/// What a page says about a recording that is gone.
pub fn recording_gone(reason: &str) -> &'static str {
    match reason {
        ERASURE => "The recording was deleted at the rep's request.",
        _ => "The recording was deleted under the retention policy.",
    }
}
