//! What the CLI subcommands do, one file each, so `main.rs` holds no logic.
//! Each `run` prints its output and returns the process exit code.

pub mod analyze;
pub mod grade;
pub mod migrate;
pub mod program_args;
pub mod rep;
pub mod report;
pub mod rubric;
pub mod serve;
pub mod submit;
pub mod sweep;
pub mod token;
pub mod transcribe;
pub mod worker;

/// Exit status for a recording the rep must fix (2), as opposed to our own
/// failures (1): scripts and the service tell "re-record" from "retry".
pub const BAD_FILE: u8 = 2;
