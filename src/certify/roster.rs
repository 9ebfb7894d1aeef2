//! Partner firms and their reps, checked against the program: a rep's role
//! must be one the program certifies, or coverage would silently miss them.

use chrono::{DateTime, Utc};

use super::program::Program;
use super::CertifyError;
use crate::store::db::certification::{Firm, NewFirm, NewRep, Rep};
use crate::store::Repo;

/// Longest rep or firm id.
pub const MAX_ID_LEN: usize = 128;
/// Longest free-text field (a firm's name or segment): a name, not a document.
pub const MAX_NAME_CHARS: usize = 200;
/// What an id may be made of, said the way a person reads it.
pub const ID_RULE: &str = "1 to 128 ASCII letters, digits or . _ - @ +";

/// Whether `id` is a usable rep or firm id. ASCII only: ids land in URLs,
/// logs and partner systems, and a Unicode look-alike (a Cyrillic "а", a
/// full-width "ａ") would be a second rep that reads like the first.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@' | b'+'))
}

/// `Invalid` unless `id` is a usable id for a `what` ("rep", "firm").
pub fn check_id(what: &str, id: &str) -> Result<(), CertifyError> {
    if is_valid_id(id) {
        Ok(())
    } else {
        Err(CertifyError::Invalid(format!("a {what} id is {ID_RULE}")))
    }
}

/// `Invalid` when a free-text `field` is longer than [`MAX_NAME_CHARS`].
pub fn check_name(field: &str, value: &str) -> Result<(), CertifyError> {
    if value.chars().count() > MAX_NAME_CHARS {
        Err(CertifyError::Invalid(format!(
            "{field} is at most {MAX_NAME_CHARS} characters"
        )))
    } else {
        Ok(())
    }
}

pub async fn register_firm(
    repo: &dyn Repo,
    firm: &NewFirm,
    now: DateTime<Utc>,
) -> Result<Firm, CertifyError> {
    check_id("firm", &firm.id)?;
    if firm.name.trim().is_empty() {
        return Err(CertifyError::Invalid("a firm needs a name".into()));
    }
    check_name("a firm's name", &firm.name)?;
    if let Some(segment) = &firm.segment {
        check_name("a firm's segment", segment)?;
    }
    Ok(repo.upsert_firm(firm, now).await?)
}

pub async fn register_rep(
    repo: &dyn Repo,
    program: &Program,
    rep: &NewRep,
    now: DateTime<Utc>,
) -> Result<Rep, CertifyError> {
    check_id("rep", &rep.id)?;
    check_id("firm", &rep.firm_id)?;
    let roles = program.roles();
    if !roles.contains(rep.role.as_str()) {
        return Err(CertifyError::UnknownRole {
            role: rep.role.clone(),
            known: roles.into_iter().collect::<Vec<_>>().join(", "),
        });
    }
    Ok(repo.upsert_rep(rep, now).await?)
}
