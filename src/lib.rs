//! pitchgrade: grades recorded sales pitches against an enablement rubric.
//!
//! The module tree follows the pipeline described in `docs/architecture.md`:
//! `ingest` (decode + delivery features) → `transcribe` (words with times) →
//! `rubric` + `score` (measured and judged criteria, decision) → `pipeline`
//! (sequences the stages for the CLI and the worker) → `service` (queue,
//! workers, HTTP API). `backend_http` is the retry policy every hosted
//! backend (speech API, LLM judge) sends its requests through.

// Safe Rust only: every file a rep uploads is hostile input, and the
// decoders we depend on are safe Rust; unsafe here would undo that.
#![forbid(unsafe_code)]

pub mod backend_http;
pub mod certify;
pub mod commands;
pub mod ingest;
pub mod install;
pub mod intake;
pub mod pipeline;
pub mod privacy;
pub mod rubric;
pub mod score;
pub mod service;
pub mod store;
pub mod transcribe;
pub mod web;
