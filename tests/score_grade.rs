//! The grade: judged criteria through a `Judge`, measured criteria in code,
//! the decision, and a deterministic JSON contract.

use std::path::Path;

mod common;

use common::ScriptedJudge;
use pitchgrade::rubric::{self, LoadedRubric};
use pitchgrade::score::decide::{ReasonCode, Unscored};
use pitchgrade::score::transcript_input::from_text;
use pitchgrade::score::{grade, report, Decision, DeliveryInput, Verdict};
use pitchgrade::transcribe::Transcript;

fn sales_rubric() -> LoadedRubric {
    rubric::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rubrics/ledgerly-sales-pitch.toml"))
        .expect("rubric loads")
}

fn pitch() -> Transcript {
    from_text("Hi Dana. We get your close from nine days to four. Can we meet Tuesday?")
}

/// Delivery inside every band of the sales rubric.
fn good_delivery() -> DeliveryInput {
    DeliveryInput {
        duration_seconds: 240.0,
        // 15 words in 6 s of speech: 150 wpm.
        speech_seconds: 6.0,
        pauses: vec![(10.0, 12.5)],
        pitch_variation_semitones: Some(5.0),
    }
}

fn judge() -> ScriptedJudge {
    ScriptedJudge {
        credits: vec![],
        failing: vec![],
    }
}

#[tokio::test]
async fn everything_met_passes_with_full_score_and_records_provenance() {
    let r = sales_rubric();
    let g = grade(&r, &pitch(), Some(&good_delivery()), &judge()).await;
    assert_eq!(g.decision, Decision::Pass, "{}", g.to_json());
    assert_eq!(g.score, 100.0);
    assert!(g
        .criteria
        .iter()
        .all(|c| c.verdict == Verdict::Met && c.coaching.is_none()));
    assert_eq!(g.rubric.id, "ledgerly-sales-pitch");
    assert_eq!(g.rubric.sha256, r.sha256);
    assert_eq!(
        (g.backends.judge.as_str(), g.backends.transcriber.as_str()),
        ("scripted", "text")
    );
    assert!(g
        .criteria
        .iter()
        .any(|c| c.id == "value_prop" && c.required));
}

#[tokio::test]
async fn a_judge_failure_leaves_the_criterion_unscored_keeps_raw_and_sends_to_review() {
    let j = ScriptedJudge {
        credits: vec![],
        failing: vec!["customer_proof"],
    };
    let g = grade(&sales_rubric(), &pitch(), Some(&good_delivery()), &j).await;
    let c = g
        .criteria
        .iter()
        .find(|c| c.id == "customer_proof")
        .expect("criterion");
    assert_eq!(c.verdict, Verdict::Unscored);
    assert_eq!(c.score, None);
    assert_eq!(c.unscored, Some(Unscored::JudgeFailed));
    assert_eq!(c.judge_raw.as_deref(), Some("{\"level\": \"me"));
    assert_eq!(g.decision, Decision::Borderline);
    assert_eq!(g.score, 100.0, "unscored is left out, not counted as zero");
    assert!(g.reasons.iter().any(|r| r.code == ReasonCode::JudgeFailed));
    assert!(g.to_json().contains("\"score\": null"));
}

#[tokio::test]
async fn missed_criteria_cost_their_weight_and_carry_the_rubric_coaching() {
    let j = ScriptedJudge {
        credits: vec![("customer_proof", 0.0), ("price", 0.5)],
        failing: vec![],
    };
    let r = sales_rubric();
    let g = grade(&r, &pitch(), Some(&good_delivery()), &j).await;
    let proof = g
        .criteria
        .iter()
        .find(|c| c.id == "customer_proof")
        .expect("proof");
    assert_eq!((proof.verdict, proof.score), (Verdict::Missed, Some(0.0)));
    let tip = proof.coaching.as_deref().expect("coaching");
    assert!(tip.contains("comparable customer"), "{tip}");
    let price = g.criteria.iter().find(|c| c.id == "price").expect("price");
    assert_eq!((price.verdict, price.score), (Verdict::Partial, Some(5.0)));
    // 115 points in all, 15 lost.
    assert_eq!(g.score, 87.0);
    assert_eq!(g.decision, Decision::Pass);
    let text = report::render(&g);
    assert!(
        text.contains("customer_proof") && text.contains("comparable customer"),
        "{text}"
    );
}

#[tokio::test]
async fn measured_criteria_get_partial_credit_from_the_audio() {
    let delivery = DeliveryInput {
        // Timing target 3:00–5:00, hard limit 7:00: 6:00 is half way → half credit.
        duration_seconds: 360.0,
        // 15 words / 5 s = 180 wpm; band 125–170, zero at 220 → 0.8 credit.
        speech_seconds: 5.0,
        // Longest pause 6 s; max 4, zero at 8 → half credit.
        pauses: vec![(1.0, 2.0), (20.0, 26.0)],
        // 2 semitones; full at 3, zero at 1.5 → 1/3 credit.
        pitch_variation_semitones: Some(2.0),
    };
    let g = grade(&sales_rubric(), &pitch(), Some(&delivery), &judge()).await;
    let get = |id: &str| g.criteria.iter().find(|c| c.id == id).expect(id).clone();
    assert_eq!(get("timing").score, Some(2.5));
    assert_eq!(get("pace").score, Some(2.0));
    assert_eq!(get("longest_pause").score, Some(1.25));
    assert_eq!(get("pitch_variation").score, Some(0.83));
    assert_eq!(get("pace").measured.expect("measured").value, 180.0);
    assert!(get("timing").coaching.expect("tip").contains("6:00"));
    assert!(get("longest_pause").coaching.expect("tip").contains("0:20"));
    assert_eq!(get("fillers").verdict, Verdict::Met);
}

#[tokio::test]
async fn without_audio_the_audio_criteria_are_unscored_and_reported_so() {
    let g = grade(&sales_rubric(), &pitch(), None, &judge()).await;
    for id in ["timing", "pace", "longest_pause", "pitch_variation"] {
        let c = g.criteria.iter().find(|c| c.id == id).expect(id);
        assert_eq!(c.unscored, Some(Unscored::NeedsAudio), "{id}");
        assert_eq!(c.score, None);
    }
    assert!(g.flags.audio_criteria_unscored && g.flags.synthetic_word_times);
    assert_eq!(g.decision, Decision::Pass);
    assert!(report::render(&g).contains("audio-only criteria are unscored"));
}

#[tokio::test]
async fn fillers_come_from_the_transcript_and_say_when_they_are_a_lower_bound() {
    let mut t = from_text("Um so uh we um close faster uh and um you save uh time.");
    t.filler_count_is_lower_bound = true;
    let g = grade(&sales_rubric(), &t, None, &judge()).await;
    let f = g
        .criteria
        .iter()
        .find(|c| c.id == "fillers")
        .expect("fillers");
    assert_eq!(f.verdict, Verdict::Missed);
    assert!(f.rationale.contains("lower bound"), "{}", f.rationale);
    assert!(g.flags.filler_count_is_lower_bound);
}

#[tokio::test]
async fn same_input_twice_gives_byte_identical_json() {
    let r = sales_rubric();
    let j = ScriptedJudge {
        credits: vec![("price", 1.0 / 3.0)],
        failing: vec!["tone"],
    };
    let a = grade(&r, &pitch(), Some(&good_delivery()), &j)
        .await
        .to_json();
    let b = grade(&r, &pitch(), Some(&good_delivery()), &j)
        .await
        .to_json();
    assert_eq!(a, b);
    // Floats are rounded: no long binary fractions leak into the contract.
    assert!(a.contains("\"start\": 0.33"), "{a}");
    assert!(!a.contains("0.3333"), "{a}");
    let v: serde_json::Value = serde_json::from_str(&a).expect("json");
    for key in [
        "decision", "score", "reasons", "criteria", "rubric", "backends", "flags",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
}

/// The pitch as a recogniser heard it: the same words, with `unsure` of
/// them (from the first) heard at confidence 0.2 and the rest at 0.95.
fn heard(unsure: usize) -> Transcript {
    let mut t = pitch();
    t.backend = "local".into();
    t.model = "ggml-tiny.en.bin".into();
    for (i, w) in t.words.iter_mut().enumerate() {
        w.confidence = Some(if i < unsure { 0.2 } else { 0.95 });
    }
    t
}

#[tokio::test]
async fn a_fail_from_a_recording_heard_unclearly_goes_to_review_and_says_where_to_listen() {
    // The required value proposition reads as missed: a fail from a clear recording.
    let j = ScriptedJudge {
        credits: vec![("value_prop", 0.0)],
        failing: vec![],
    };
    let r = sales_rubric();
    let clear = grade(&r, &heard(1), Some(&good_delivery()), &j).await;
    assert_eq!(clear.decision, Decision::Fail, "{}", clear.to_json());
    let clarity = clear
        .flags
        .clarity
        .as_ref()
        .expect("a heard transcript has a clarity");
    assert!(!clarity.is_unclear());

    // 4 of 15 words unsure: the same miss may be the recogniser's, so a person listens.
    let unclear = grade(&r, &heard(4), Some(&good_delivery()), &j).await;
    assert_eq!(
        unclear.decision,
        Decision::Borderline,
        "{}",
        unclear.to_json()
    );
    let why = unclear
        .reasons
        .iter()
        .find(|r| r.code == ReasonCode::UnclearRecording)
        .expect("the reason is given");
    assert!(why.message.contains("27% of its words"), "{}", why.message);
    assert!(unclear.to_json().contains("\"unsure_word_share\": 0.267"));

    // A pass from the same unclear recording stands, and typed text has no clarity.
    let pass = grade(&r, &heard(4), Some(&good_delivery()), &judge()).await;
    assert_eq!(pass.decision, Decision::Pass);
    let typed = grade(&r, &pitch(), Some(&good_delivery()), &j).await;
    assert_eq!(typed.decision, Decision::Fail);
    assert_eq!(typed.flags.clarity, None);
}
