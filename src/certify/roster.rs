//! Partner firms and their reps, checked against the program: a rep's role
//! must be one the program certifies, or coverage would silently miss them.

use chrono::{DateTime, Utc};

use super::program::Program;
use super::CertifyError;
use crate::store::db::certification::{Firm, NewFirm, NewRep, Rep};
use crate::store::Repo;

pub async fn register_firm(
    repo: &dyn Repo,
    firm: &NewFirm,
    now: DateTime<Utc>,
) -> Result<Firm, CertifyError> {
    if firm.name.trim().is_empty() {
        return Err(CertifyError::Invalid("a firm needs a name".into()));
    }
    Ok(repo.upsert_firm(firm, now).await?)
}

pub async fn register_rep(
    repo: &dyn Repo,
    program: &Program,
    rep: &NewRep,
    now: DateTime<Utc>,
) -> Result<Rep, CertifyError> {
    let roles = program.roles();
    if !roles.contains(rep.role.as_str()) {
        return Err(CertifyError::UnknownRole {
            role: rep.role.clone(),
            known: roles.into_iter().collect::<Vec<_>>().join(", "),
        });
    }
    Ok(repo.upsert_rep(rep, now).await?)
}
