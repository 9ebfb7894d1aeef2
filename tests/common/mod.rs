//! Helpers shared by the integration tests: real audio and deterministic judges.
#![allow(dead_code, unused_imports)] // each test binary uses a different part

pub mod judge;
pub mod speech;

pub use judge::*;
pub use speech::*;
