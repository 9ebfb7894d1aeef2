//! The worker: claims a job, runs the pipeline on its recording, writes the
//! outcome — over and over, in as many slots as configured.
//!
//! Processing is at-least-once. A job is leased, not locked: while it runs, a
//! heartbeat extends the lease; if the process dies, the lease runs out and the
//! rescuer hands the job to another worker with a higher attempt number. Every
//! write names its attempt, so a worker that lost its lease (paused, partitioned)
//! cannot overwrite the newer attempt's grade — it finds out and drops its work.
//!
//! Failures split in two: the rep's file is unusable (permanent: the submission
//! fails now with the reason the rep will read), or something outside hiccupped
//! (transient: a backend 5xx, a timeout, the database restarting — the job runs
//! again later with backoff, until its attempts run out).

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, info_span, warn, Instrument};
use uuid::Uuid;

use super::config::ServiceParts;
use crate::pipeline::stored::StoredGrade;
use crate::pipeline::{Pipeline, PipelineError};
use crate::score::decide::Unscored;
use crate::score::Decision;
use crate::store::db::{ClaimedJob, FailOutcome, NewGrade, Rescued};
use crate::store::{DbError, ObjectError, ObjectKey};

/// Queue timing for one process. The defaults suit both shapes.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Jobs graded at once in this process.
    pub concurrency: usize,
    /// How long a claim lasts without a heartbeat.
    pub lease: Duration,
    /// How often a running job renews its lease; a third of the lease leaves two
    /// missed beats before another worker may take over.
    pub heartbeat_every: Duration,
    /// Sleep between polls when the queue is empty.
    pub idle_poll: Duration,
    /// How often this process looks for jobs whose lease ran out.
    pub rescue_every: Duration,
    /// Where recordings are downloaded while they are graded.
    pub scratch_dir: PathBuf,
    /// Names this process in leases and logs (`host-pid` by default).
    pub name: String,
    /// The certification program: a final decision issues or renews a
    /// certification, a borderline one joins the review queue. `None` grades
    /// without certifying.
    pub program: Option<Arc<crate::certify::Program>>,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        let lease = Duration::from_secs(60);
        WorkerSettings {
            concurrency: 2,
            lease,
            heartbeat_every: lease / 3,
            idle_poll: Duration::from_millis(500),
            rescue_every: Duration::from_secs(10),
            scratch_dir: std::env::temp_dir(),
            name: default_name(),
            program: None,
        }
    }
}

impl WorkerSettings {
    /// Sets the lease and keeps what depends on it in step: the heartbeat
    /// inside it, and the rescuer looking at least once per lease, so a dead
    /// worker's job waits about one lease, not one rescue period, to move on.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self.heartbeat_every = lease / 3;
        self.rescue_every = self.rescue_every.min(lease);
        self
    }
}

fn default_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into());
    format!("{host}-{}", std::process::id())
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("queue operation failed: {0}")]
    Store(#[from] DbError),
}

/// What happened to one claimed job.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    Graded {
        submission_id: Uuid,
        decision: Decision,
    },
    /// The recording cannot be graded; `reason` is what the rep reads.
    Failed {
        submission_id: Uuid,
        reason: String,
    },
    Retrying {
        submission_id: Uuid,
        run_at: DateTime<Utc>,
    },
    Dead {
        submission_id: Uuid,
        reason: String,
    },
    /// Another attempt took the job over; this one's work was discarded.
    Fenced {
        submission_id: Uuid,
    },
}

impl JobOutcome {
    fn metric(&self) -> &'static str {
        match self {
            JobOutcome::Graded {
                decision: Decision::Borderline,
                ..
            } => "needs_review",
            JobOutcome::Graded { .. } => "graded",
            JobOutcome::Failed { .. } => "failed",
            JobOutcome::Retrying { .. } => "retrying",
            JobOutcome::Dead { .. } => "dead",
            JobOutcome::Fenced { .. } => "fenced",
        }
    }
}

/// Why one attempt did not produce a grade.
enum AttemptError {
    /// Retrying cannot help. `reason` is the rep's sentence; `detail` is
    /// for the operator's log and the job's `last_error`.
    Permanent { reason: String, detail: String },
    /// Might clear on its own. `backend` labels the metric; the message is
    /// for the operator's logs (and, once attempts run out, the rep's reason).
    Transient {
        backend: &'static str,
        message: String,
    },
}

impl AttemptError {
    fn transient(backend: &'static str, message: impl std::fmt::Display) -> Self {
        AttemptError::Transient {
            backend,
            message: message.to_string(),
        }
    }
}

impl AttemptError {
    /// A storage failure: retried when it may clear, final when it cannot (a
    /// corrupt row, a bad key) instead of burning the job's attempts on it.
    fn storage(backend: &'static str, transient: bool, e: impl std::fmt::Display) -> Self {
        if transient {
            AttemptError::transient(backend, e)
        } else {
            AttemptError::Permanent {
                reason: crate::store::queue::ours_not_yours("this recording could not be graded"),
                detail: format!("{backend}: {e}"),
            }
        }
    }
}

impl From<DbError> for AttemptError {
    fn from(e: DbError) -> Self {
        AttemptError::storage("database", e.is_transient(), e)
    }
}

impl From<ObjectError> for AttemptError {
    fn from(e: ObjectError) -> Self {
        AttemptError::storage("object_store", e.is_transient(), e)
    }
}

/// Aborts the heartbeat however `process` ends, including by panic or by its
/// future being dropped: a detached heartbeat would keep renewing the lease of
/// a job nobody works on, and the job would never be rescued.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What `run` supervises, so a task that panicked is restarted as what it was.
#[derive(Debug, Clone, Copy)]
enum Role {
    Slot(usize),
    Housekeeping,
}

pub struct Worker {
    parts: ServiceParts,
    pipeline: Arc<Pipeline>,
    settings: WorkerSettings,
}

impl Worker {
    pub fn new(parts: ServiceParts, pipeline: Arc<Pipeline>, settings: WorkerSettings) -> Worker {
        Worker {
            parts,
            pipeline,
            settings,
        }
    }

    pub fn settings(&self) -> &WorkerSettings {
        &self.settings
    }

    /// Claims one job and sees it through; `None` when the queue had nothing
    /// runnable. Tests call this to drive the queue step by step.
    pub async fn run_once(&self, slot: &str) -> Result<Option<JobOutcome>, WorkerError> {
        let lease_owner = format!("{}/{slot}", self.settings.name);
        let Some(job) = self
            .parts
            .repo
            .claim(&lease_owner, self.settings.lease, Utc::now())
            .await?
        else {
            return Ok(None);
        };
        let span = info_span!(
            "job",
            job_id = %job.job_id,
            submission_id = %job.submission_id,
            attempt = job.attempt,
        );
        let outcome = self.process(job).instrument(span).await?;
        self.parts.metrics.job_finished(outcome.metric());
        Ok(Some(outcome))
    }

    /// Returns expired leases to the queue (or kills jobs out of attempts).
    pub async fn rescue(&self) -> Result<Rescued, WorkerError> {
        Ok(self.parts.repo.rescue_expired(Utc::now()).await?)
    }

    /// Runs `concurrency` claim loops plus the rescuer until `shutdown`, then
    /// waits for the jobs in hand. A job cut off by the process ending is not
    /// lost: its lease runs out and another worker takes it.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tasks = tokio::task::JoinSet::new();
        let mut roles = HashMap::new();
        let spawn = |tasks: &mut tokio::task::JoinSet<()>, role: Role| {
            let me = Arc::clone(&self);
            let stop = shutdown.clone();
            tasks
                .spawn(async move {
                    match role {
                        Role::Slot(slot) => me.claim_loop(slot, stop).await,
                        Role::Housekeeping => me.housekeeping_loop(stop).await,
                    }
                })
                .id()
        };
        for slot in 0..self.settings.concurrency {
            roles.insert(spawn(&mut tasks, Role::Slot(slot)), Role::Slot(slot));
        }
        roles.insert(spawn(&mut tasks, Role::Housekeeping), Role::Housekeeping);
        info!(
            worker = %self.settings.name,
            concurrency = self.settings.concurrency,
            "workers started"
        );
        while let Some(done) = tasks.join_next_with_id().await {
            // A bug that panics mid-job must not quietly shrink the pool: the
            // job is rescued when its lease runs out, the slot starts again.
            let Err(e) = done else { continue };
            let Some(role) = roles.remove(&e.id()) else {
                continue;
            };
            if e.is_panic() && !shutdown.is_cancelled() {
                error!(?role, "worker task panicked; restarting it");
                roles.insert(spawn(&mut tasks, role), role);
            }
        }
        info!(worker = %self.settings.name, "workers stopped");
    }

    async fn claim_loop(&self, slot: usize, shutdown: CancellationToken) {
        let slot = slot.to_string();
        let mut backoff = Duration::from_millis(250);
        while !shutdown.is_cancelled() {
            let pause = match self.run_once(&slot).await {
                Ok(Some(_)) => {
                    backoff = Duration::from_millis(250);
                    continue;
                }
                Ok(None) => self.settings.idle_poll,
                Err(e) => {
                    // The database is down or restarting: keep trying, slower
                    // and slower, so it recovers without an operator.
                    warn!(error = %e, retry_in = ?backoff, "cannot reach the queue");
                    let pause = backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(15));
                    pause
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    async fn housekeeping_loop(&self, shutdown: CancellationToken) {
        loop {
            match self.rescue().await {
                Ok(r) if r.retried + r.dead > 0 => {
                    info!(retried = r.retried, dead = r.dead, "rescued expired jobs")
                }
                Ok(_) => {}
                Err(e) => warn!(error = %e, "rescuer could not reach the queue"),
            }
            if let Ok(depth) = self.parts.repo.queue_depth().await {
                self.parts.metrics.set_queue_depth(&depth);
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.settings.rescue_every) => {}
            }
        }
    }

    async fn process(&self, job: ClaimedJob) -> Result<JobOutcome, WorkerError> {
        let started = Instant::now();
        let lost = CancellationToken::new();
        let _heartbeat = AbortOnDrop(tokio::spawn(
            heartbeat(
                Arc::clone(&self.parts.repo),
                job.clone(),
                self.settings.clone(),
                lost.clone(),
            )
            .in_current_span(),
        ));
        let attempt = tokio::select! {
            r = self.attempt(&job) => Some(r),
            _ = lost.cancelled() => None,
        };
        // The heartbeat keeps the lease while the outcome is written, so a
        // database blip here is waited out rather than costing a re-grade.
        let repo = &self.parts.repo;
        let metrics = &self.parts.metrics;
        let submission_id = job.submission_id;
        let fenced = || JobOutcome::Fenced { submission_id };
        let outcome = match attempt {
            None => {
                warn!("lost the lease while grading; another attempt owns the job");
                fenced()
            }
            Some(Ok(grade)) => {
                let store_started = Instant::now();
                let decision = grade.decision;
                let written = settle(&lost, "writing the grade", || {
                    repo.complete(job.job_id, job.attempt, &grade, Utc::now())
                })
                .instrument(info_span!("store"))
                .await;
                match written {
                    Ok(_stored) => {
                        metrics.observe_stage("store", store_started.elapsed());
                        info!(decision = ?decision, score = grade.score, "graded");
                        // The certification effect is idempotent per decision,
                        // so reaching this line twice is harmless; if the process
                        // dies before it, the sweep finds the grade without an
                        // effect and applies it.
                        if let Some(program) = &self.settings.program {
                            if let Err(e) = crate::certify::apply_decision(
                                repo.as_ref(),
                                program,
                                submission_id,
                                Utc::now(),
                            )
                            .await
                            {
                                warn!(error = %e, "certification effect deferred to the sweep");
                            }
                        }
                        JobOutcome::Graded {
                            submission_id,
                            decision,
                        }
                    }
                    Err(DbError::Fenced { .. }) => {
                        warn!("a newer attempt owns the job; this grade was discarded");
                        fenced()
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Some(Err(AttemptError::Permanent { reason, detail })) => {
                metrics.backend_error("recording", "permanent");
                let written = settle(&lost, "failing the submission", || {
                    repo.fail_permanent(job.job_id, job.attempt, &reason, &detail, Utc::now())
                })
                .instrument(info_span!("store"))
                .await;
                match written {
                    Ok(()) => {
                        info!(%reason, %detail, "submission failed");
                        JobOutcome::Failed {
                            submission_id,
                            reason,
                        }
                    }
                    Err(DbError::Fenced { .. }) => fenced(),
                    Err(e) => return Err(e.into()),
                }
            }
            Some(Err(AttemptError::Transient { backend, message })) => {
                metrics.backend_error(backend, "transient");
                // Not idempotent: if a lost reply hid a committed write, the
                // repeat is fenced, which is the right outcome for this attempt.
                let written = settle(&lost, "scheduling a retry", || {
                    repo.fail_transient(job.job_id, job.attempt, &message, Utc::now())
                })
                .instrument(info_span!("store"))
                .await;
                match written {
                    Ok(FailOutcome::Retrying { run_at }) => {
                        warn!(error = %message, %run_at, "attempt failed; will retry");
                        JobOutcome::Retrying {
                            submission_id,
                            run_at,
                        }
                    }
                    Ok(FailOutcome::Dead { reason }) => {
                        warn!(%reason, "out of attempts");
                        JobOutcome::Dead {
                            submission_id,
                            reason,
                        }
                    }
                    Err(DbError::Fenced { .. }) => fenced(),
                    Err(e) => return Err(e.into()),
                }
            }
        };
        metrics.observe_stage("total", started.elapsed());
        Ok(outcome)
    }

    /// Fetches the recording and runs the pipeline; no queue writes here.
    async fn attempt(&self, job: &ClaimedJob) -> Result<NewGrade, AttemptError> {
        let metrics = &self.parts.metrics;
        let submission = self
            .parts
            .repo
            .get_submission(job.submission_id)
            .await?
            .ok_or_else(|| AttemptError::Permanent {
                reason: "the submission no longer exists".into(),
                detail: format!("submission {} not found", job.submission_id),
            })?
            .submission;
        let rubric = self
            .parts
            .rubrics
            .get(&submission.rubric_id)
            .ok_or_else(|| {
                let reason = format!(
                    "the rubric {:?} is not installed on the grading server; ask your enablement team",
                    submission.rubric_id
                );
                AttemptError::Permanent {
                    detail: reason.clone(),
                    reason,
                }
            })?;
        // The grade will name this version; the version must name these bytes.
        match crate::rubric::history::record(self.parts.repo.as_ref(), rubric, Utc::now()).await {
            Ok(()) => {}
            Err(crate::rubric::history::HistoryError::Db(e)) => return Err(e.into()),
            // Another copy of the file graded under this version before:
            // this worker's copy is stale or edited. Another worker may hold
            // the right one; the operator must redeploy either way.
            Err(e) => return Err(AttemptError::transient("rubric", e)),
        }
        let key =
            ObjectKey::parse(&submission.object_key).map_err(|e| AttemptError::Permanent {
                reason: "the uploaded recording cannot be found; please upload it again".into(),
                detail: format!("stored object key is invalid: {e}"),
            })?;

        let fetch_started = Instant::now();
        let scratch = tempfile::Builder::new()
            .prefix("pitchgrade-job-")
            .tempdir_in(&self.settings.scratch_dir)
            .map_err(|e| {
                AttemptError::transient("scratch", format!("cannot make a scratch folder: {e}"))
            })?;
        let path = scratch.path().join("recording");
        let fetched = self
            .parts
            .objects
            .get_to_file(&key, &path, self.pipeline.limits.max_bytes)
            .instrument(info_span!("fetch", key = %key))
            .await;
        match fetched {
            Ok(bytes) => info!(bytes, "recording fetched"),
            Err(ObjectError::NotFound(_)) => {
                return Err(AttemptError::Permanent {
                    reason: "the uploaded recording is missing; please upload it again".into(),
                    detail: format!("object {key} not found"),
                })
            }
            Err(e @ ObjectError::TooLarge { .. }) => {
                return Err(AttemptError::Permanent {
                    reason: "the stored recording is larger than the upload limit; \
                             upload a shorter recording"
                        .into(),
                    detail: e.to_string(),
                })
            }
            Err(e) => return Err(e.into()),
        }
        metrics.observe_stage("fetch", fetch_started.elapsed());

        let run = match self.pipeline.grade_file(&path, rubric).await {
            Ok(run) => run,
            // Only the recording's own faults are final. A transcription error
            // is never the rep's: even a "permanent" one (a rejected API key, a
            // malformed answer) is the operator's to fix, so the job retries
            // with backoff instead of failing the rep's submission at once.
            Err(PipelineError::Audio(e)) if e.is_permanent() => {
                return Err(AttemptError::Permanent {
                    reason: e.to_string(),
                    detail: e.detail(),
                })
            }
            Err(e @ PipelineError::Transcription(_)) => {
                let backend = self.pipeline.transcriber.name().to_string();
                metrics.backend_error(&backend, "transcription");
                return Err(AttemptError::transient("transcription", e));
            }
            Err(e) => return Err(AttemptError::transient("pipeline", e)),
        };
        drop(scratch);
        metrics.observe_stage("decode", run.timings.decode_and_features);
        metrics.observe_stage("transcription", run.timings.transcription);
        metrics.observe_stage("scoring", run.timings.scoring);
        let judge_failures = run
            .grade
            .criteria
            .iter()
            .filter(|c| {
                matches!(
                    c.unscored,
                    Some(Unscored::JudgeFailed | Unscored::JudgeDisagreement)
                )
            })
            .count();
        for _ in 0..judge_failures {
            metrics.backend_error(self.pipeline.judge.name(), "judge_unscored");
        }
        info!(
            decode_s = run.timings.decode_and_features.as_secs_f64(),
            transcription_s = run.timings.transcription.as_secs_f64(),
            scoring_s = run.timings.scoring.as_secs_f64(),
            "pipeline finished"
        );

        // The stored grade carries what a reviewer needs to check it: the words
        // with their times and the audio figures, beside the grade itself.
        let (decision, score) = (run.grade.decision, run.grade.score);
        let stored = StoredGrade::from_run(run)
            .to_json()
            .map_err(|e| AttemptError::transient("pipeline", e))?;
        Ok(NewGrade {
            decision,
            score,
            grade: stored,
        })
    }
}

/// Repeats a queue write while the database is unreachable and the lease is
/// still ours; anything else (success, fenced, bad data) returns at once.
async fn settle<T, F, Fut>(
    lost: &CancellationToken,
    what: &'static str,
    mut write: F,
) -> Result<T, DbError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, DbError>>,
{
    let mut pause = Duration::from_millis(200);
    loop {
        match write().await {
            Err(e) if e.is_transient() && !lost.is_cancelled() => {
                warn!(error = %e, retry_in = ?pause, "{what} failed; retrying while the lease holds");
                tokio::select! {
                    _ = lost.cancelled() => return Err(e),
                    _ = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}

/// Renews the lease every `heartbeat_every` until aborted. Cancels `lost` when
/// the job is fenced (a newer attempt owns it) or when renewals kept failing
/// until the lease must have run out: from then on our result could only be
/// discarded, so the caller stops grading.
async fn heartbeat(
    repo: Arc<dyn crate::store::Repo>,
    job: ClaimedJob,
    settings: WorkerSettings,
    lost: CancellationToken,
) {
    let mut held_until = job.lease_expires_at;
    loop {
        tokio::time::sleep(settings.heartbeat_every).await;
        let now = Utc::now();
        match repo
            .heartbeat(job.job_id, job.attempt, settings.lease, now)
            .await
        {
            Ok(until) => held_until = until,
            Err(DbError::Fenced { .. }) => {
                lost.cancel();
                return;
            }
            Err(e) => {
                warn!(error = %e, "heartbeat failed");
                // The call itself may have waited out a pool timeout.
                if Utc::now() >= held_until {
                    lost.cancel();
                    return;
                }
            }
        }
    }
}
