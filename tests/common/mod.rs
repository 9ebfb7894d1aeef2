//! Helpers shared by the integration tests: real audio and deterministic judges.
#![allow(dead_code, unused_imports)] // each test binary uses a different part

pub mod app;
pub mod audio;
pub mod judge;
pub mod logs;
pub mod speech;
pub mod store;

pub use audio::*;
pub use judge::*;
pub use speech::*;
