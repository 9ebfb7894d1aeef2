//! `CertificationRepo` for SQLite: the shared SQL (see `certification::backend`)
//! with integer-millisecond timestamps, reads on the reader pool and writes on
//! the single `BEGIN IMMEDIATE` writer.

use super::{ms, SqliteRepo};

crate::store::db::certification::impl_certification_repo!(SqliteRepo, i64, ms, readers, "");
