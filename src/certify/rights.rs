//! Rights are derived, never stored as a flag: a rep holds a right at instant
//! `t` when a certification that unlocks it is valid at `t` (and, for a
//! specialty, the base-track certification is valid too). So a lapse takes
//! effect at the exact expiry whether or not the sweep has run; the sweep and
//! the lifecycle only *record* the changes (paused, restored) for the audit log
//! and the webhooks.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::program::Program;
use crate::rubric::TrackKind;
use crate::store::db::certification::Certification;

/// Whether `cert` gives its track's rights at `t`: valid itself, and its base
/// valid too when it is a specialty.
pub fn effective_at(
    program: &Program,
    certs: &[Certification],
    cert: &Certification,
    t: DateTime<Utc>,
) -> bool {
    if !cert.is_valid_at(t) {
        return false;
    }
    let Some(track) = program.track(&cert.track) else {
        // A track removed from the program unlocks nothing any more.
        return false;
    };
    match (track.kind, &track.base) {
        (TrackKind::Specialty, Some(base)) => certs
            .iter()
            .any(|c| &c.track == base && c.rep_id == cert.rep_id && c.is_valid_at(t)),
        _ => true,
    }
}

/// Every right held at `t`, with the tracks that give it.
pub fn held_at(
    program: &Program,
    certs: &[Certification],
    t: DateTime<Utc>,
) -> BTreeMap<String, Vec<String>> {
    let mut rights: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for cert in certs.iter().filter(|c| effective_at(program, certs, c, t)) {
        for right in program.rights_of(&cert.track) {
            rights
                .entry(right.clone())
                .or_default()
                .push(cert.track.clone());
        }
    }
    rights
}

pub fn names_at(program: &Program, certs: &[Certification], t: DateTime<Utc>) -> BTreeSet<String> {
    held_at(program, certs, t).into_keys().collect()
}

/// Rights gained and lost between two states of a rep's certifications.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RightsDiff {
    pub gained: BTreeSet<String>,
    pub lost: BTreeSet<String>,
}

pub fn diff(before: &BTreeSet<String>, after: &BTreeSet<String>) -> RightsDiff {
    RightsDiff {
        gained: after.difference(before).cloned().collect(),
        lost: before.difference(after).cloned().collect(),
    }
}
