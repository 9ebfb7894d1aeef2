//! Every pipeline stage a worker runs is a `tracing` span inside the job's
//! span, which carries the submission id: one grep for a submission id finds
//! its fetch, decode, transcription, scoring and store steps in the logs.
//! Its own test binary, because it installs the process-wide subscriber.

#[path = "common/logs.rs"]
mod logs;
#[path = "common/service.rs"]
mod service;

use std::time::Duration;

use logs::Captured;
use pitchgrade::service::JobOutcome;
use service::{Db, Objects, Recordings, Rig, TranscriberDouble};
use tracing_subscriber::fmt::format::FmtSpan;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stage_is_a_span_carrying_the_submission_id() {
    let logs = Captured::default();
    tracing_subscriber::fmt()
        .with_env_filter("info,symphonia=error,symphonia_core=error")
        .with_span_events(FmtSpan::CLOSE)
        .with_ansi(false)
        .with_writer(logs.clone())
        .init();

    let rig = Rig::new(Db::Sqlite, Objects::Local).await;
    let audio = Recordings::new();
    let (m4a, duration) = audio.pitch_m4a();
    let double = TranscriberDouble::healthy(duration).await;
    let worker = rig.worker(
        double.pipeline(0, Duration::from_secs(20)),
        rig.settings("traced"),
    );
    let id = rig.enqueue(&m4a, "rep-tia", 3).await.submission.id;
    let outcome = worker.run_once("0").await.unwrap();
    assert!(
        matches!(outcome, Some(JobOutcome::Graded { .. })),
        "{outcome:?}"
    );

    const STAGES: [&str; 5] = ["fetch", "decode", "transcribe", "score", "store"];
    let closed = |mine: &[&str], stage: &str| {
        mine.iter().any(|l| {
            l.contains(" close ")
                && (l.contains(&format!(":{stage}:")) || l.contains(&format!(":{stage}{{")))
        })
    };
    let mine_of = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.contains(&format!("submission_id={id}")))
            .map(str::to_string)
            .collect()
    };
    // A span's close line is written when its last handle drops, and sqlx's
    // SQLite worker thread holds a handle to the current span (the store
    // span) until just after it has answered: the close can land a moment
    // after `run_once` returns. Wait for it, boundedly, instead of racing it.
    let mut text = String::new();
    for _ in 0..100 {
        text = logs.text();
        let mine = mine_of(&text);
        let mine: Vec<&str> = mine.iter().map(String::as_str).collect();
        if STAGES.iter().all(|s| closed(&mine, s)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mine = mine_of(&text);
    let mine: Vec<&str> = mine.iter().map(String::as_str).collect();
    for stage in STAGES {
        assert!(
            closed(&mine, stage),
            "no {stage} span under the job span:\n{}",
            mine.join("\n")
        );
    }
    assert!(
        mine.iter().any(|l| l.contains("graded")),
        "{}",
        mine.join("\n")
    );
    // Rep ids are personal data: logs name submissions, never reps, so an
    // erasure (docs/privacy.md) has nothing to chase in log files.
    assert!(
        !text.contains("rep-tia"),
        "a log line names the rep:\n{}",
        text.lines()
            .filter(|l| l.contains("rep-tia"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
