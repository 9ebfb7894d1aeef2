//! Queue semantics shared by every database backend: how long a lease lasts,
//! when a failed attempt runs again, and when a job gives up.
//!
//! The SQL is the backends'; the decisions must not differ between them, so they
//! live here and both backends call them. The model is River/Oban: a claimed job
//! carries a lease that the worker extends by heartbeat; each claim bumps the
//! attempt number, and every write a worker makes names its attempt, so a worker
//! whose lease expired and whose job was handed to someone else (a newer attempt)
//! is fenced off.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::db::{text_enum, JobKind};
use super::DbError;

text_enum!(
    /// A job's place in the queue's life cycle (River's states, minus scheduling extras).
    JobState {
        Available = "available",
        Running = "running",
        Retryable = "retryable",
        Completed = "completed",
        Dead = "dead",
    }
);

/// A job as stored: what it is for, where it is in its life cycle and who holds
/// its lease. Lives here because every field is the queue's business.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: Uuid,
    pub submission_id: Uuid,
    pub kind: JobKind,
    pub state: JobState,
    pub attempt: u32,
    pub max_attempts: u32,
    pub run_at: DateTime<Utc>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub heartbeat_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Exponential backoff between attempts: `base * 2^(attempt-1)`, capped.
/// No jitter: the rescuer and claim ordering already spread retries across
/// workers, and a deterministic schedule is what operators and tests can reason about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobBackoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for JobBackoff {
    fn default() -> Self {
        // A hosted backend's 5xx or rate limit usually clears within seconds to
        // minutes; ten minutes bounds how stale a retried submission can get.
        JobBackoff {
            base: Duration::from_secs(5),
            cap: Duration::from_secs(600),
        }
    }
}

impl JobBackoff {
    /// Delay before the attempt after `failed_attempt` (1-based) may run.
    pub fn delay(&self, failed_attempt: u32) -> Duration {
        let exponent = failed_attempt.saturating_sub(1).min(31);
        self.base
            .checked_mul(1u32 << exponent)
            .map_or(self.cap, |d| d.min(self.cap))
    }
}

/// What happens to a job after a transient failure or an expired lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterFailure {
    /// Runs again, no earlier than `run_at`.
    Retry { run_at: DateTime<Utc> },
    /// Out of attempts: the job is dead and the submission failed with `reason`.
    Dead { reason: String },
}

/// Decides retry or death after attempt `attempt` of `max_attempts` failed.
/// The error itself is not an input: it is the operator's (a backend's body
/// can hold hostnames and key fragments) and stays in the job's `last_error`
/// and the log, never in the reason the rep reads.
pub fn after_transient_failure(
    policy: &JobBackoff,
    attempt: u32,
    max_attempts: u32,
    now: DateTime<Utc>,
) -> Result<AfterFailure, DbError> {
    if attempt >= max_attempts {
        return Ok(AfterFailure::Dead {
            reason: ours_not_yours(&format!("grading gave up after {attempt} attempts")),
        });
    }
    Ok(AfterFailure::Retry {
        run_at: add(now, policy.delay(attempt))?,
    })
}

/// Decides the fate of a job whose worker stopped heartbeating. A crashed worker
/// says nothing about the job itself, so it may run again at once.
pub fn after_lease_expired(attempt: u32, max_attempts: u32, now: DateTime<Utc>) -> AfterFailure {
    if attempt >= max_attempts {
        AfterFailure::Dead {
            reason: ours_not_yours(&format!(
                "grading gave up after {attempt} attempts: the worker stopped responding"
            )),
        }
    } else {
        AfterFailure::Retry { run_at: now }
    }
}

/// What a rep reads when grading failed for a reason on our side: what
/// happened, that it is not their recording, that it did not count, and what
/// to do. The technical detail is for operators only.
pub fn ours_not_yours(what: &str) -> String {
    format!(
        "{what} because of a problem on our side, not with your recording. \
         It did not count as an attempt: submit the recording again later, \
         and tell your program's administrator if this keeps happening."
    )
}

/// Longest error or failure reason stored. Backends sometimes answer with a whole
/// HTML page; the row, the log line and the rep's screen need only the start.
pub const MAX_REASON_CHARS: usize = 2000;

/// Cuts `text` to `MAX_REASON_CHARS` characters, marking the cut.
pub fn bounded_reason(text: &str) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(MAX_REASON_CHARS) {
        None => std::borrow::Cow::Borrowed(text),
        Some((cut, _)) => std::borrow::Cow::Owned(format!("{}…", &text[..cut])),
    }
}

/// `now + lease`, refusing leases that overflow the calendar instead of panicking.
pub fn lease_deadline(now: DateTime<Utc>, lease: Duration) -> Result<DateTime<Utc>, DbError> {
    add(now, lease)
}

fn add(now: DateTime<Utc>, d: Duration) -> Result<DateTime<Utc>, DbError> {
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .ok_or_else(|| DbError::Invalid(format!("duration {d:?} is out of range")))
}

/// Whether a worker's write for `attempt` may proceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fence {
    /// The attempt still holds the job: write.
    Holds,
    /// This very attempt already finished the job the same way: a repeated call
    /// (say, after a lost reply) gets the stored result, nothing is written twice.
    AlreadyDone,
}

/// The attempt-number fence every worker write goes through. `done` is the state
/// the write would leave the job in, if repeating it is harmless.
pub fn check_fence(job: &Job, attempt: u32, done: Option<JobState>) -> Result<Fence, DbError> {
    if job.attempt == attempt {
        if job.state == JobState::Running {
            return Ok(Fence::Holds);
        }
        if Some(job.state) == done {
            return Ok(Fence::AlreadyDone);
        }
    }
    Err(DbError::Fenced {
        job_id: job.id,
        attempt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_then_caps() {
        let p = JobBackoff {
            base: Duration::from_secs(2),
            cap: Duration::from_secs(30),
        };
        let delays: Vec<u64> = (1..=6).map(|a| p.delay(a).as_secs()).collect();
        assert_eq!(delays, vec![2, 4, 8, 16, 30, 30]);
        assert_eq!(p.delay(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn last_attempt_dies_with_a_reason_the_rep_can_act_on() {
        let now = Utc::now();
        let p = JobBackoff::default();
        match after_transient_failure(&p, 3, 3, now).unwrap() {
            AfterFailure::Dead { reason } => {
                assert!(reason.contains("gave up after 3 attempts"), "{reason}");
                assert!(reason.contains("not with your recording"), "{reason}");
                assert!(reason.contains("did not count"), "{reason}");
            }
            other => panic!("expected dead, got {other:?}"),
        }
        assert_eq!(
            after_transient_failure(&p, 1, 3, now).unwrap(),
            AfterFailure::Retry {
                run_at: now + TimeDelta::seconds(5)
            }
        );
    }

    #[test]
    fn long_reasons_are_cut_on_a_character_boundary() {
        assert_eq!(bounded_reason("short"), "short");
        let long = "é".repeat(MAX_REASON_CHARS + 10);
        let cut = bounded_reason(&long);
        assert_eq!(cut.chars().count(), MAX_REASON_CHARS + 1);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn absurd_lease_is_an_error_not_a_panic() {
        assert!(lease_deadline(Utc::now(), Duration::from_secs(u64::MAX)).is_err());
    }
}
