//! The web pages in a real browser: Debian's headless Chromium driven by
//! playwright-core (tests/browser/*.mjs) against a real server on a real port,
//! with the real database, object store, worker, Whisper model and judge.
//! Screenshots land in tests/browser/screenshots/<test>/ (the path is printed).
//!
//! `scripts/browser-setup.sh` (idempotent) installs Chromium and playwright-core;
//! the tests run it first, so `cargo test` alone is enough on a fresh machine.

mod common;
mod web;

use pitchgrade::score::decide::Verdict;
use pitchgrade::store::db::SubmissionStatus;
use pitchgrade::web::auth::{Principal, Role, StaticTokens};
use pitchgrade::web::NoProgram;
use std::sync::Arc;

use web::{run_script, speech_file, TestServer};

/// What a rep says: the rubric's own example phrasings, so the judge has
/// something to find and the result has evidence to click.
const PITCH: &str = "Hi Dana, thanks for your time. Our customers close the books in four days \
instead of nine. Ledgerly matches your bank transactions to the ledger automatically and only \
shows your team the exceptions. It plugs into NetSuite, so you keep your ERP. Every entry records \
who prepared it and who approved it, so your auditors can see it themselves. Could we set up a \
working session with your own data next Tuesday?";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rep_uploads_and_records_a_pitch_and_reads_the_grade() {
    let rep_token = "rep-token-alice-0123456789";
    let auth = StaticTokens::new().with(
        rep_token,
        Principal {
            id: "alice".into(),
            role: Role::Rep,
        },
    );
    let server = TestServer::start(Arc::new(auth), Arc::new(NoProgram)).await;
    let wd = common::Workdir::new();
    let wav = speech_file(wd.dir.path(), "pitch", PITCH);
    // Uploaded as OGG/Opus, the way a phone app might send it.
    let ogg = wd.ffmpeg(&wav, &["-c:a", "libopus", "-b:a", "32k"], "pitch.ogg");
    // Chromium's fake microphone plays this file in a loop.
    let mic = wav.clone();

    let seen = run_script(
        "rep_upload",
        &[
            ("BASE_URL", server.base.clone()),
            ("TOKEN", rep_token.into()),
            ("RUBRIC", "ledgerly-sales-pitch".into()),
            ("AUDIO_FILE", ogg.display().to_string()),
            ("MIC_WAV", mic.display().to_string()),
            ("RECORD_SECONDS", "10".into()),
        ],
    )
    .await;

    // Sign-in: the token lives in an HttpOnly, SameSite=Strict cookie.
    assert!(
        seen["badTokenError"].as_str().unwrap().contains("unknown"),
        "{seen}"
    );
    assert!(
        seen["homeUrl"].as_str().unwrap().ends_with("/rep"),
        "{seen}"
    );
    assert_eq!(seen["cookie"]["httpOnly"], true);
    assert_eq!(seen["cookie"]["sameSite"], "Strict");
    assert_eq!(seen["cookieVisibleToScript"], false);

    // The scenario is on screen; every control is labelled and reachable.
    assert!(
        seen["buyer"].as_str().unwrap().contains("Dana Whitfield"),
        "{seen}"
    );
    assert_eq!(seen["objections"].as_array().unwrap().len(), 2);
    assert_eq!(seen["unlabelledOnRecordPage"], serde_json::json!([]));
    assert_eq!(seen["unlabelledOnResult"], serde_json::json!([]));
    let stops: Vec<&str> = seen["tabStops"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for control in ["rec-start", "recording", "upload-submit"] {
        assert!(
            stops.contains(&control),
            "{control} not reached by Tab: {stops:?}"
        );
    }
    assert_eq!(seen["progressShown"], true);

    // The result page shows exactly the stored grade.
    let id = uuid_at_end(seen["resultUrl"].as_str().unwrap());
    let view = server.parts.repo.get_submission(id).await.unwrap().unwrap();
    assert_eq!(view.submission.rep_id, "alice");
    assert_eq!(view.submission.content_type, "audio/ogg");
    let stored = view.grade.expect("graded");
    let grade = pitchgrade::web::view::parse_grade(&stored.grade).unwrap();
    let label = match grade.decision {
        pitchgrade::score::Decision::Pass => "Pass",
        pitchgrade::score::Decision::Fail => "Not yet",
        pitchgrade::score::Decision::Borderline => "Sent to a reviewer",
    };
    assert_eq!(seen["decisionLabel"], label);
    assert_eq!(seen["score"], format!("{:.1}", grade.score));
    assert_eq!(seen["criteriaRows"], grade.criteria.len());
    let verdicts: Vec<String> = grade
        .criteria
        .iter()
        .map(|c| pitchgrade::web::view::verdict_code(c.verdict).to_string())
        .collect();
    assert_eq!(seen["verdicts"], serde_json::json!(verdicts));
    let tips = grade
        .criteria
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Missed | Verdict::Partial) && c.coaching.is_some())
        .count();
    assert_eq!(seen["tips"], tips, "one tip per missed criterion");
    let evidence: usize = grade.criteria.iter().map(|c| c.evidence.len()).sum();
    assert!(
        evidence > 0,
        "the pitch states the value prop; expected evidence: {grade:?}"
    );
    assert_eq!(seen["evidenceButtons"], evidence);
    let target = seen["seekTarget"].as_f64().unwrap();
    let at = seen["playerTimeAfterClick"].as_f64().unwrap();
    assert!(
        target > 0.5,
        "first evidence is not at the very start: {target}"
    );
    assert!(
        (at - target).abs() < 3.0,
        "player at {at}, evidence at {target}"
    );

    // Recorded in the browser: WebM/Opus from MediaRecorder, graded like a file.
    assert!(
        seen["recordFormat"]
            .as_str()
            .unwrap()
            .contains("audio/webm"),
        "{seen}"
    );
    let recorded = uuid_at_end(seen["recordedUrl"].as_str().unwrap());
    let rec = server
        .parts
        .repo
        .get_submission(recorded)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.submission.content_type, "audio/webm");
    assert!(
        matches!(
            rec.submission.status,
            SubmissionStatus::Graded | SubmissionStatus::NeedsReview
        ),
        "the recording was graded: {:?} {:?}",
        rec.submission.status,
        rec.submission.failure_reason
    );
    assert_eq!(seen["listedPitches"], 2);
    server.stop().await;
}

fn uuid_at_end(url: &str) -> uuid::Uuid {
    url.rsplit('/').next().unwrap().parse().unwrap()
}
