//! The service: the pipeline behind a durable queue, an HTTP API and a worker pool.
//!
//! `certification` loads the program and runs the sweep and webhooks;
//! `config` turns flags and environment into connected parts; `http` serves
//! the router with timeouts and a connection cap; `worker` claims
//! jobs and runs the pipeline on them; `metrics` is what an operator scrapes.
//! The same parts run in one process (`pitchgrade serve`, the embedded default)
//! or split across machines (`pitchgrade worker` processes sharing PostgreSQL + S3).

pub mod api;
pub mod certification;
pub mod config;
pub mod http;
pub mod metrics;
pub mod worker;

pub use config::{ServiceParts, StorageArgs, WorkerArgs};
pub use metrics::Metrics;
pub use worker::{JobOutcome, Worker, WorkerError, WorkerSettings};
