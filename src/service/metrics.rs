//! What an operator scrapes at `/metrics` (Prometheus text format).
//!
//! Three questions drive the set: is work piling up (queue depth by state),
//! where does a job's time go (seconds per pipeline stage), and which outside
//! dependency is failing (errors by backend and kind). Both the API and the
//! workers of one process record into the same registry.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::store::db::QueueDepth;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabel {
    stage: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabel {
    backend: String,
    kind: &'static str,
}

fn stage_histogram() -> Histogram {
    // 10 ms to ~11 minutes: a fetch from local disk up to a long transcription.
    Histogram::new(exponential_buckets(0.01, 2.0, 17))
}

pub struct Metrics {
    registry: Mutex<Registry>,
    queue_depth: Family<StateLabel, Gauge>,
    stage_seconds: Family<StageLabel, Histogram, fn() -> Histogram>,
    jobs_finished: Family<OutcomeLabel, Counter>,
    backend_errors: Family<BackendLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("pitchgrade");
        let queue_depth = Family::<StateLabel, Gauge>::default();
        let stage_seconds =
            Family::<StageLabel, Histogram, fn() -> Histogram>::new_with_constructor(
                stage_histogram,
            );
        let jobs_finished = Family::<OutcomeLabel, Counter>::default();
        let backend_errors = Family::<BackendLabel, Counter>::default();
        registry.register(
            "queue_jobs",
            "Jobs in the queue by state, as of the last sample",
            queue_depth.clone(),
        );
        registry.register(
            "job_stage_seconds",
            "Wall time of each job stage (fetch, decode, transcription, scoring, store, total)",
            stage_seconds.clone(),
        );
        registry.register(
            "jobs_finished",
            "Jobs finished by outcome (graded, needs_review, failed, retrying, dead, fenced)",
            jobs_finished.clone(),
        );
        registry.register(
            "backend_errors",
            "Errors from transcription and judge backends and storage, by backend and kind",
            backend_errors.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            queue_depth,
            stage_seconds,
            jobs_finished,
            backend_errors,
        }
    }

    pub fn set_queue_depth(&self, depth: &QueueDepth) {
        for (state, n) in [
            ("available", depth.available),
            ("running", depth.running),
            ("retryable", depth.retryable),
            ("completed", depth.completed),
            ("dead", depth.dead),
        ] {
            self.queue_depth
                .get_or_create(&StateLabel { state })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    pub fn observe_stage(&self, stage: &'static str, took: Duration) {
        self.stage_seconds
            .get_or_create(&StageLabel { stage })
            .observe(took.as_secs_f64());
    }

    pub fn job_finished(&self, outcome: &'static str) {
        self.jobs_finished
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    pub fn backend_error(&self, backend: &str, kind: &'static str) {
        self.backend_errors
            .get_or_create(&BackendLabel {
                backend: backend.to_string(),
                kind,
            })
            .inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let registry = match self.registry.lock() {
            Ok(r) => r,
            // A panic elsewhere while holding the lock leaves the registry intact.
            Err(poisoned) => poisoned.into_inner(),
        };
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_what_was_recorded() {
        let m = Metrics::new();
        m.set_queue_depth(&QueueDepth {
            available: 3,
            ..QueueDepth::default()
        });
        m.observe_stage("transcription", Duration::from_millis(1500));
        m.job_finished("graded");
        m.backend_error("openai", "http_5xx");
        let text = m.render();
        assert!(
            text.contains("pitchgrade_queue_jobs{state=\"available\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("pitchgrade_job_stage_seconds_count{stage=\"transcription\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("pitchgrade_jobs_finished_total{outcome=\"graded\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "pitchgrade_backend_errors_total{backend=\"openai\",kind=\"http_5xx\"} 1"
            ),
            "{text}"
        );
    }
}
