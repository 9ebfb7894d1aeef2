//! Stages 4–6: measured criteria (code), judged criteria (a [`judge::Judge`]),
//! evidence checks, and the decision.

pub mod evidence;
pub mod judge;
pub mod sentences;
pub mod untrusted;
