//! The web pages in a real browser: Debian's headless Chromium driven by
//! playwright-core (tests/browser/*.mjs) against a real server on a real port,
//! with the real database, object store, worker, Whisper model and judge.
//! The server is wired as `pitchgrade serve` wires it (`web::app`: the API and
//! the pages on one port, sign-in with the API's token store, certification
//! from config/program.toml). Screenshots land under the target dir's
//! `tmp/browser-screenshots/<script>/` (the path is printed).
//!
//! `scripts/browser-setup.sh` (idempotent) installs Chromium and playwright-core;
//! the tests run it first, so `cargo test` alone is enough on a fresh machine.

mod common;
#[path = "common/certify.rs"]
mod seed;
mod web;

use pitchgrade::score::decide::Verdict;
use pitchgrade::service::api::auth::Role as ApiRole;
use pitchgrade::store::db::certification::{DecisionSource, NewFirm, NewRep, Outcome};
use pitchgrade::store::db::{JobKind, NewGrade, NewJob, NewSubmission, SubmissionStatus};

use web::{run_script, shipped_program, speech_file, TestServer};

/// One browser test at a time: each runs Whisper and Chromium, and two at
/// once on a small CI machine turn timeouts into flakes.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What a rep says: the rubric's own example phrasings, so the judge has
/// something to find and the result has evidence to click.
const PITCH: &str = "Hi Dana, thanks for your time. Our customers close the books in four days \
instead of nine. Ledgerly matches your bank transactions to the ledger automatically and only \
shows your team the exceptions. It plugs into NetSuite, so you keep your ERP. Every entry records \
who prepared it and who approved it, so your auditors can see it themselves. Could we set up a \
working session with your own data next Tuesday?";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rep_uploads_and_records_a_pitch_and_reads_the_grade() {
    let _one = ONE_AT_A_TIME.lock().await;
    // No program: grading without certification (and so no retake policy
    // between the upload and the recording below).
    let server = TestServer::start(None).await;
    let rep_token = server.token(ApiRole::Rep, Some("alice")).await;
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
            ("TOKEN", rep_token.clone()),
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
    let grade = pitchgrade::web::view::parse_grade(&stored.grade)
        .unwrap()
        .grade;
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
    // The list says how each went (no program here: the machine's result)
    // and the score; the result page shows what the grader heard.
    let results: Vec<&str> = seen["pitchResults"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        results
            .iter()
            .all(|r| ["Pass", "Not yet", "With a reviewer"].contains(r)),
        "{seen}"
    );
    let scores: Vec<&str> = seen["pitchScores"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(scores.iter().all(|s| s.ends_with("/ 100")), "{seen}");
    assert!(seen["transcriptWords"].as_u64().unwrap() > 20, "{seen}");
    server.stop().await;
}

/// Story (b) then (c): a borderline grade goes to a reviewer, who overrides
/// it with a reason in the browser; the rep's page and the API both show the
/// certification and rights it gave; enablement's dashboard charts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_overrides_a_borderline_grade_and_the_dashboard_charts_it() {
    let _one = ONE_AT_A_TIME.lock().await;
    let program = shipped_program();
    let server = TestServer::start(Some(program.clone())).await;
    let repo = server.parts.repo.clone();
    let now = chrono::Utc::now();
    // Alice sells for Acme (a reseller: the default scenario, no adaptive path).
    repo.upsert_firm(
        &NewFirm {
            id: "acme".into(),
            name: "Acme Partners".into(),
            segment: None,
        },
        now,
    )
    .await
    .unwrap();
    let sales = program.track("sales").expect("a sales track");
    repo.upsert_rep(
        &NewRep {
            id: "alice".into(),
            firm_id: "acme".into(),
            role: sales.role().to_string(),
            active: true,
        },
        now,
    )
    .await
    .unwrap();
    let rep_token = server.token(ApiRole::Rep, Some("alice")).await;
    let reviewer_token = server.named_token(ApiRole::Reviewer, "Rita").await;
    let enablement_token = server.token(ApiRole::Enablement, None).await;

    // The machine's grade comes from the real pipeline (Whisper's words, the
    // judge's evidence) on a server without a program, so that grading
    // certifies nothing. Whether this pitch lands inside the borderline band
    // depends on the judge of the day, so the grade is then queued for alice
    // as a borderline one through the store's queue path (claim → complete →
    // apply_decision), exactly as the worker writes a borderline grade.
    let wd = common::Workdir::new();
    let wav = speech_file(wd.dir.path(), "pitch", PITCH);
    let (machine, score) = {
        let plain = TestServer::start(None).await;
        let token = plain.token(ApiRole::Rep, Some("calibration")).await;
        let first = plain
            .submit_file(&token, "ledgerly-sales-pitch", &wav)
            .await;
        let graded = plain.graded(first).await;
        plain.stop().await;
        let g = graded.grade.expect("the pipeline graded the pitch");
        (g.grade, g.score)
    };
    let mut borderline = machine.clone();
    borderline["decision"] = serde_json::json!("borderline");
    borderline["reasons"] = serde_json::json!([{
        "code": "inside_band",
        "message": format!("score {score:.1} is close to the pass bar: the judge was unsure"),
    }]);
    let key = pitchgrade::store::ObjectKey::new_upload(now);
    server
        .parts
        .objects
        .put_file(&key, &wav, "audio/wav")
        .await
        .unwrap();
    let later = now + chrono::TimeDelta::days(1);
    let created = repo
        .create_submission_with_job(
            &NewSubmission {
                rep_id: "alice".into(),
                rubric_id: "ledgerly-sales-pitch".into(),
                object_key: key.to_string(),
                content_type: "audio/wav".into(),
                byte_size: std::fs::metadata(&wav).unwrap().len(),
                idempotency_key: None,
            },
            // Not runnable until tomorrow, so the server's own worker leaves
            // it to this test.
            &NewJob {
                kind: JobKind::Grade,
                max_attempts: 3,
                run_at: later,
            },
            now,
        )
        .await
        .unwrap();
    let id = created.submission.id;
    let job = repo
        .claim("test-seeder", std::time::Duration::from_secs(60), later)
        .await
        .unwrap()
        .expect("the seeded job");
    assert_eq!(job.submission_id, id);
    repo.complete(
        job.job_id,
        job.attempt,
        &NewGrade {
            decision: pitchgrade::score::Decision::Borderline,
            score,
            grade: borderline,
        },
        now,
    )
    .await
    .unwrap();
    pitchgrade::certify::apply_decision(repo.as_ref(), &program, id, now)
        .await
        .unwrap();
    let graded = repo.get_submission(id).await.unwrap().unwrap();
    let stored = graded.grade.clone().expect("graded");
    assert_eq!(graded.submission.status, SubmissionStatus::NeedsReview);
    let parsed = pitchgrade::web::view::parse_grade(&stored.grade)
        .unwrap()
        .grade;
    let rows = pitchgrade::web::view::grade_view(&parsed).criteria;
    // The criterion the reviewer overrides to met: one the machine did not give.
    let target = parsed
        .criteria
        .iter()
        .find(|c| matches!(c.verdict, Verdict::Missed | Verdict::Partial))
        .expect("a borderline grade has a criterion short of met");
    let label = rows
        .iter()
        .find(|r| r.id == target.id)
        .map(|r| r.label.clone())
        .unwrap();
    // Before the review, the API says alice may not sell.
    let rights = server.api_get(&rep_token, "/v1/reps/alice/rights").await;
    assert_eq!(rights["rights"], serde_json::json!([]), "{rights}");

    let seen = run_script(
        "review_override",
        &[
            ("BASE_URL", server.base.clone()),
            ("REP_TOKEN", rep_token.clone()),
            ("REVIEWER_TOKEN", reviewer_token.clone()),
            ("SUBMISSION", id.to_string()),
            ("CRITERION_LABEL", label.clone()),
        ],
    )
    .await;

    // Before: no certification, the track's rights listed but not active,
    // and no retake yet (the attempt is still with a reviewer).
    let before = &seen["before"];
    assert!(
        before["certification"]
            .as_str()
            .unwrap()
            .contains("No certification"),
        "{seen}"
    );
    let inactive = |side: &serde_json::Value, name: &str| -> Option<bool> {
        side["rights"]
            .as_array()?
            .iter()
            .find(|r| r["name"] == name)
            .map(|r| r["active"] == true)
    };
    assert_eq!(inactive(before, "selling"), Some(false), "{seen}");
    assert_eq!(inactive(before, "deal_registration"), Some(false), "{seen}");
    assert!(
        before["retake"]
            .as_str()
            .unwrap()
            .contains("still being graded or reviewed"),
        "{seen}"
    );
    assert_eq!(before["unlabelled"], serde_json::json!([]));

    // The reviewer lands on the queue: this grade, with why it is borderline.
    assert!(
        seen["landedOn"].as_str().unwrap().ends_with("/review"),
        "{seen}"
    );
    let queue = seen["queue"].as_array().unwrap();
    assert_eq!(queue.len(), 1, "{seen}");
    assert_eq!(queue[0]["href"], format!("/review/{id}"));
    assert!(!queue[0]["why"].as_array().unwrap().is_empty(), "{seen}");
    assert_eq!(seen["unlabelledQueue"], serde_json::json!([]));
    // Keyboard: "n" opened it; k pauses and plays; every control is labelled
    // and reachable with Tab.
    assert!(
        seen["openedByKey"]
            .as_str()
            .unwrap()
            .ends_with(&id.to_string()),
        "{seen}"
    );
    assert_eq!(seen["unlabelled"], serde_json::json!([]));
    assert_eq!(
        seen["criteriaOverflow"], false,
        "the scores table fits its card at 1280 px"
    );
    let stops: Vec<&str> = seen["tabStops"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let select = format!("v-{}", target.id);
    for control in [select.as_str(), "reason", "review-submit"] {
        assert!(
            stops.contains(&control),
            "{control} not reached by Tab: {stops:?}"
        );
    }
    assert!(seen["words"].as_u64().unwrap() > 20, "{seen}");
    assert_eq!(seen["pausedByKey"], true);
    assert_eq!(seen["playingByKey"], true);
    assert!(!seen["highlightedWhilePlaying"].as_str().unwrap().is_empty());
    assert_eq!(seen["evidencePressed"], "true");
    assert!(seen["evidenceWords"].as_u64().unwrap() > 0, "{seen}");
    // The reason is required: the browser did not send the form without one.
    assert_eq!(seen["blockedWithoutReason"], true);
    assert_eq!(seen["stillOnReview"], true);
    let decided = seen["decided"].as_str().unwrap();
    assert!(decided.contains("Decided: pass"), "{decided}");
    assert!(decided.contains("transcriber misheard"), "{decided}");
    assert!(
        decided.contains(&format!("{} → met", target.id)),
        "{decided}"
    );
    assert_eq!(seen["queueAfter"], 0);

    // After: certified, rights active, the reviewer's note on the rep's page,
    // which now leads with the reviewer's decision instead of "sent to a reviewer".
    let after = &seen["after"];
    assert_eq!(seen["before"]["finalDecision"], "", "{seen}");
    assert_eq!(after["finalDecision"], "Pass", "{seen}");
    let cert = after["certification"].as_str().unwrap();
    assert!(cert.contains("sales") && cert.contains("valid"), "{seen}");
    assert_eq!(inactive(after, "selling"), Some(true), "{seen}");
    assert_eq!(inactive(after, "deal_registration"), Some(true), "{seen}");
    assert!(
        after["reviewNote"]
            .as_str()
            .unwrap()
            .contains("transcriber misheard"),
        "{seen}"
    );

    // The History card: every step in order, the reviewer by name on the
    // review page; the rep reads "a reviewer" and no claim.
    let actions = |t: &serde_json::Value| -> Vec<String> {
        t.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|l| l["action"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let staff = actions(&seen["reviewerTrail"]);
    let order = [
        "submission.received",
        "grade.written",
        "review.queued",
        "review.claimed",
        "review.decided",
        "decision.recorded",
        "certification.issued",
        "rights.granted",
    ];
    let positions: Vec<Option<usize>> = order
        .iter()
        .map(|a| staff.iter().position(|s| s == a))
        .collect();
    assert!(positions.iter().all(Option::is_some), "{staff:?}");
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "in order: {staff:?}"
    );
    let staff_text = seen["reviewerTrail"].to_string();
    assert!(staff_text.contains("Rita (reviewer)"), "{staff_text}");
    assert!(
        staff_text.contains(&format!("changed {}", target.id)),
        "{staff_text}"
    );
    let rep_trail = actions(&after["trail"]);
    assert!(
        rep_trail.contains(&"review.decided".to_string()),
        "{rep_trail:?}"
    );
    assert!(
        !rep_trail.contains(&"review.claimed".to_string()),
        "{rep_trail:?}"
    );
    let rep_text = after["trail"].to_string();
    assert!(
        rep_text.contains("a reviewer") && !rep_text.contains("Rita"),
        "{rep_text}"
    );

    // The same through the repository and the API.
    let review = repo.review_for(id).await.unwrap().expect("a review");
    assert_eq!(review.decision, Some(Outcome::Pass));
    assert!(review
        .decided_by
        .as_deref()
        .unwrap()
        .starts_with("reviewer:"));
    assert!(review
        .reason
        .as_deref()
        .unwrap()
        .contains("transcriber misheard"));
    let call = review
        .criteria
        .iter()
        .find(|c| c.id == target.id)
        .expect("the criterion override is stored");
    assert_eq!(call.verdict, Verdict::Met);
    assert_eq!(call.machine_verdict, target.verdict);
    let decision = repo.decision_for(id).await.unwrap().expect("decided");
    assert_eq!(
        (decision.outcome, decision.source),
        (Outcome::Pass, DecisionSource::Review)
    );
    let status = repo
        .get_submission(id)
        .await
        .unwrap()
        .unwrap()
        .submission
        .status;
    assert_eq!(status, SubmissionStatus::Graded);
    let rights = server.api_get(&rep_token, "/v1/reps/alice/rights").await;
    let held: Vec<&str> = rights["rights"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["right"].as_str())
        .collect();
    assert!(
        held.contains(&"selling") && held.contains(&"deal_registration"),
        "{rights}"
    );

    // (c) Enablement's dashboard charts what just happened.
    let dash = run_script(
        "dashboard",
        &[
            ("BASE_URL", server.base.clone()),
            ("TOKEN", enablement_token.clone()),
            ("REPLAY_RUBRIC", "ledgerly-sales-pitch".to_string()),
        ],
    )
    .await;
    assert!(
        dash["landedOn"].as_str().unwrap().ends_with("/program"),
        "{dash}"
    );
    let charts = dash["charts"].as_array().unwrap();
    let chart = |id: &str| {
        charts
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no chart {id}: {dash}"))
    };
    assert_eq!(charts.len(), 5, "{dash}");
    for c in charts {
        let size = c["box"].as_array().unwrap();
        // Drawn at a readable size (a one-firm bar chart is one bar high).
        assert!(
            size[0].as_u64().unwrap() > 100 && size[1].as_u64().unwrap() > 20,
            "{c}"
        );
        assert!(!c["title"].as_str().unwrap().is_empty(), "{c}");
    }
    // Axis labels readable at the page's normal size (they were 5 px once).
    let smallest = dash["smallestLabelPx"].as_f64().unwrap();
    assert!(
        smallest >= 10.0,
        "the smallest chart label is {smallest:.1} px: {dash}"
    );
    for c in charts {
        let width = c["box"][0].as_u64().unwrap();
        assert!(
            width >= 400,
            "a chart drawn {width} px wide at 1400 px: {c}"
        );
    }
    // One decision this week, a pass: one point at 100%.
    assert_eq!(chart("svg-pass-rate")["points"], 1, "{dash}");
    // One review, overridden (machine leaned fail, reviewer passed) — unless
    // the machine leaned pass, when it is agreement; either way one point.
    assert_eq!(chart("svg-override")["points"], 1, "{dash}");
    let shares: Vec<&str> = chart("svg-coverage")["bars"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["share"].as_str())
        .collect();
    assert_eq!(
        shares,
        vec!["1.000"],
        "Acme: 1 of 1 active reps certified: {dash}"
    );
    let first: Vec<&str> = chart("svg-first-attempt")["bars"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["rate"].as_str())
        .collect();
    assert!(
        first.contains(&"1.000"),
        "alice passed on her first attempt: {dash}"
    );
    // Each chart with data has its numbers as a table; only "expiring in 60
    // days" has none (a fresh 12-month certification).
    assert_eq!(dash["tables"], 4, "{dash}");
    // One decided review: the agreement table counts it, and one review is
    // too few to raise an alert (nor to call the first-attempt rate too easy).
    assert!(
        dash["agreementTitle"]
            .as_str()
            .unwrap_or_default()
            .contains("last 90 days"),
        "{dash}"
    );
    let agreement = dash["agreementRows"].as_array().expect("agreement rows");
    assert_eq!(agreement.len(), 2, "all and the one rubric: {dash}");
    assert_eq!(agreement[0][0], "all", "{dash}");
    assert_eq!(agreement[0][1], "1", "{dash}");
    assert!(
        agreement[0][4]
            .as_str()
            .unwrap_or_default()
            .starts_with("too few reviews"),
        "{dash}"
    );
    assert_eq!(dash["alerts"], serde_json::json!([]), "{dash}");
    let first_classes: Vec<&str> = chart("svg-first-attempt")["bars"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["cls"].as_str())
        .collect();
    assert!(
        !first_classes.is_empty() && first_classes.iter().all(|c| *c == "bar few"),
        "{dash}"
    );
    assert_eq!(dash["unlabelled"], serde_json::json!([]));
    // The rubric page lists the version this grade used.
    assert!(dash["history"].as_u64().unwrap() >= 1, "{dash}");
    assert_eq!(dash["unlabelledRubrics"], serde_json::json!([]));
    // The replay page: prefilled with the rubric, a stricter bar replayed
    // against alice's stored grade, the diff drawn, nothing unlabelled.
    assert!(
        dash["replayLinks"].as_u64().unwrap_or_default() >= 1,
        "{dash}"
    );
    assert_eq!(dash["replayPrefilled"], true, "{dash}");
    assert!(
        dash["replayHeading"]
            .as_str()
            .unwrap_or_default()
            .contains("v99 against 1 stored grades"),
        "{dash}"
    );
    let transitions = dash["replayTransitions"].as_array().expect("transitions");
    assert_eq!(transitions.len(), 1, "one grade, one row: {dash}");
    // Her grade was stored borderline (a reviewer passed it); at a bar of 99
    // it fails, or goes to review again if the judge is unsure.
    assert_eq!(transitions[0][0], "review", "{dash}");
    assert_ne!(
        transitions[0][1], "pass",
        "a bar of 99 does not pass her: {dash}"
    );
    let moved = u64::from(transitions[0][0] != transitions[0][1]);
    assert_eq!(dash["replayChanged"], moved, "{dash}");
    assert!(
        dash["replayFirstAttempt"]
            .as_str()
            .unwrap_or_default()
            .contains("100% (1 of 1) before"),
        "{dash}"
    );
    assert!(
        dash["replayCriteria"].as_u64().unwrap_or_default() >= 5,
        "{dash}"
    );
    assert_eq!(dash["unlabelledReplay"], serde_json::json!([]), "{dash}");
    server.stop().await;
}

fn uuid_at_end(url: &str) -> uuid::Uuid {
    url.rsplit('/').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_admin_sees_their_firm_and_nothing_of_another() {
    let _one = ONE_AT_A_TIME.lock().await;
    let program = shipped_program();
    let server = TestServer::start(Some(program.clone())).await;
    let repo = server.parts.repo.as_ref();
    let now = chrono::Utc::now();
    let role = program
        .track("sales")
        .expect("a sales track")
        .role()
        .to_string();
    for (firm, name) in [("acme", "Acme Partners"), ("globex", "Globex")] {
        repo.upsert_firm(
            &NewFirm {
                id: firm.into(),
                name: name.into(),
                segment: None,
            },
            now,
        )
        .await
        .unwrap();
    }
    for (rep, firm) in [
        ("alice", "acme"),
        ("ben", "acme"),
        ("cy", "acme"),
        ("dee", "acme"),
        ("gus", "globex"),
    ] {
        repo.upsert_rep(
            &NewRep {
                id: rep.into(),
                firm_id: firm.into(),
                role: role.clone(),
                active: true,
            },
            now,
        )
        .await
        .unwrap();
    }
    let days = chrono::TimeDelta::days;
    // alice certified for the year; ben's certification runs out in about
    // 20 days; cy has not passed yet; dee never pitched; gus is Globex's.
    // Seeded through the queue path as a worker writes grades, with jobs not
    // runnable until tomorrow so the server's own worker leaves them alone.
    let tomorrow = now + days(1);
    let graded = |rep: &'static str, decision: pitchgrade::score::Decision, score: f64, at| {
        let program = program.clone();
        async move {
            let id = seed::seed_stored(
                repo,
                seed::Seeded {
                    runnable_at: tomorrow,
                    ..seed::Seeded::new(rep, seed::SALES, decision, score, at)
                },
            )
            .await;
            pitchgrade::certify::apply_decision(repo, &program, id, at)
                .await
                .unwrap();
            id
        }
    };
    use pitchgrade::score::Decision::{Fail, Pass};
    let alice = graded("alice", Pass, 88.0, now - days(10)).await;
    graded("ben", Pass, 84.0, now - days(345)).await;
    graded("cy", Fail, 52.0, now - days(3)).await;
    let gus = graded("gus", Pass, 90.0, now - days(5)).await;
    let token = server
        .firm_token(ApiRole::PartnerAdmin, None, Some("acme"))
        .await;

    let seen = run_script(
        "partner_admin",
        &[
            ("BASE_URL", server.base.clone()),
            ("TOKEN", token),
            ("OWN_SUBMISSION", alice.to_string()),
            ("OTHER_SUBMISSION", gus.to_string()),
        ],
    )
    .await;

    assert!(
        seen["landedOn"].as_str().unwrap().ends_with("/firm"),
        "{seen}"
    );
    assert_eq!(seen["heading"], "Acme Partners", "{seen}");
    assert_eq!(seen["nav"], serde_json::json!(["My firm"]), "{seen}");
    // Two of four sales reps certified (50%): silver. When ben lapses, one is
    // left and the firm falls to registered; the page says so and names him.
    assert_eq!(seen["tier"], "silver", "{seen}");
    let forecast = seen["forecast"].as_str().unwrap();
    assert!(
        forecast
            .starts_with("If this rep lapses (ben), the firm drops from silver to registered on"),
        "{forecast}"
    );
    let roster: Vec<(String, String)> = seen["roster"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expect = |id: &str, status: &str| (format!("rep-{id}"), status.to_string());
    assert_eq!(
        roster,
        vec![
            expect("alice", "certified"),
            expect("ben", "expiring"),
            expect("cy", "not-yet"),
            expect("dee", "never"),
        ],
        "Globex's gus is not on Acme's page: {seen}"
    );
    assert_eq!(seen["roster"][0]["link"], format!("/submissions/{alice}"));
    assert_eq!(seen["roster"][3]["link"], serde_json::Value::Null);
    assert!(
        seen["roster"][1]["text"]
            .as_str()
            .unwrap()
            .starts_with("Expiring in"),
        "{seen}"
    );
    let bars: Vec<&str> = seen["coverageBars"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b.as_str())
        .collect();
    assert!(bars.contains(&"0.500"), "sales coverage 2 of 4: {seen}");
    assert_eq!(seen["overflows"], false, "the page fits 1280 px: {seen}");
    assert_eq!(seen["unlabelled"], serde_json::json!([]));

    // The roster's link opens the rep's result, grade and evidence; no player.
    assert!(
        seen["resultUrl"]
            .as_str()
            .unwrap()
            .ends_with(&alice.to_string()),
        "{seen}"
    );
    assert_eq!(seen["resultHeading"], "Pitch by alice", "{seen}");
    assert!(seen["criteria"].as_u64().unwrap() > 0, "{seen}");
    assert_eq!(
        seen["players"], 0,
        "recordings are off for partner admins: {seen}"
    );

    // Another firm's page and grade read as missing; recordings, the review
    // queue and the program dashboard are not theirs.
    assert_eq!(seen["otherFirm"], 404, "{seen}");
    assert_eq!(seen["ownFirmByPath"], 200, "{seen}");
    assert_eq!(seen["otherSubmission"], 404, "{seen}");
    assert_eq!(seen["ownAudio"], 404, "{seen}");
    assert_eq!(seen["reviewQueue"], 403, "{seen}");
    assert_eq!(seen["dashboard"], 403, "{seen}");
    server.stop().await;
}
