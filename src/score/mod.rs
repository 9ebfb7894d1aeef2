//! Stages 4–6: measured criteria (code), judged criteria (a [`judge::Judge`]),
//! evidence checks, and the decision.

pub mod agreement;
pub mod calibrate;
pub mod clarity;
pub mod decide;
pub mod evidence;
pub mod grade;
pub mod hearing;
pub mod judge;
pub mod measured;
pub mod report;
pub mod rubric_test;
pub mod sentences;
pub mod transcript_input;
pub mod untrusted;

pub use decide::{Decision, Verdict};
pub use grade::{grade, Grade};
pub use measured::DeliveryInput;
