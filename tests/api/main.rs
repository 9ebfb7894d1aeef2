//! The HTTP API against real parts: the router on a random port, SQLite and
//! PostgreSQL, a local folder and Garage (S3), the real worker with the
//! OpenAI-compatible transcriber against a wiremock double and the real
//! offline judge — and `pitchgrade serve` / `pitchgrade submit` as binaries.

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/certify.rs"]
mod seed;

mod auth;
mod authz;
mod certification;
mod cli;
mod hardening;
mod ops;
mod races;
mod retention;
mod submissions;
mod tenancy;
mod uploads;
