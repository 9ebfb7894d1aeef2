//! `CertificationRepo` for PostgreSQL: the shared SQL (see
//! `certification::backend`) with `timestamptz` columns; claims skip rows
//! another process has locked instead of waiting on them.

use super::PgRepo;

fn ts(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    t
}

crate::store::db::certification::impl_certification_repo!(
    PgRepo,
    chrono::DateTime<chrono::Utc>,
    ts,
    pool,
    "FOR UPDATE SKIP LOCKED"
);
