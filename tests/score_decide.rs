//! The decision is code: every reason that sends a grade to review, and the
//! plain pass/fail cases around the bar.

use pitchgrade::rubric::PassRule;
use pitchgrade::score::decide::{
    decide, CriterionOutcome, Decision, ReasonCode, Signals, Unscored, Verdict,
};

fn rule() -> PassRule {
    PassRule {
        score: 70.0,
        borderline: 5.0,
        required: vec!["value".into()],
        min_transcript_confidence: None,
    }
}

/// Two criteria: "value" (required, weight 40) and "other" (weight 60).
fn outcomes(value: Option<f64>, other: Option<f64>) -> Vec<CriterionOutcome<'static>> {
    let make = |id, weight, credit: Option<f64>, required| CriterionOutcome {
        id,
        weight,
        credit,
        verdict: match credit {
            None => Verdict::Unscored,
            Some(c) if c >= 1.0 => Verdict::Met,
            Some(c) if c > 0.0 => Verdict::Partial,
            Some(_) => Verdict::Missed,
        },
        unscored: credit.is_none().then_some(Unscored::JudgeFailed),
        required,
        unsure: None,
    };
    vec![
        make("value", 40.0, value, true),
        make("other", 60.0, other, false),
    ]
}

fn codes(o: &pitchgrade::score::decide::CriterionOutcomes) -> Vec<ReasonCode> {
    o.reasons.iter().map(|r| r.code).collect()
}

#[test]
fn clear_pass_and_clear_fail() {
    let pass = decide(
        &rule(),
        &outcomes(Some(1.0), Some(0.8)),
        &Signals::default(),
    );
    assert_eq!(pass.score, 88.0);
    assert_eq!(pass.decision, Decision::Pass);
    assert_eq!(codes(&pass), vec![ReasonCode::AboveBar]);

    let fail = decide(
        &rule(),
        &outcomes(Some(1.0), Some(0.25)),
        &Signals::default(),
    );
    assert_eq!(fail.score, 55.0);
    assert_eq!(fail.decision, Decision::Fail);
    assert_eq!(codes(&fail), vec![ReasonCode::BelowBar]);
}

#[test]
fn band_edges_are_half_open() {
    // score = 40 + 60 * other; bar 70 ± 5 → review in [65, 75).
    let at = |other: f64| {
        decide(
            &rule(),
            &outcomes(Some(1.0), Some(other)),
            &Signals::default(),
        )
    };
    assert_eq!(at(25.0 / 60.0).decision, Decision::Borderline); // 65.0
    assert_eq!(at(24.0 / 60.0).decision, Decision::Fail); // 64.0
    assert_eq!(at(34.0 / 60.0).decision, Decision::Borderline); // 74.0
    assert_eq!(at(35.0 / 60.0).decision, Decision::Pass); // 75.0
    assert!(codes(&at(0.5)).contains(&ReasonCode::InsideBand));
}

#[test]
fn a_missed_required_criterion_fails_even_with_a_high_score() {
    let rule = PassRule {
        score: 50.0,
        ..rule()
    };
    let o = decide(&rule, &outcomes(Some(0.0), Some(1.0)), &Signals::default());
    assert_eq!(o.score, 60.0);
    assert_eq!(o.decision, Decision::Fail);
    assert!(codes(&o).contains(&ReasonCode::RequiredMissed));
}

#[test]
fn a_partly_met_required_criterion_goes_to_review() {
    let o = decide(
        &rule(),
        &outcomes(Some(0.5), Some(1.0)),
        &Signals::default(),
    );
    assert_eq!(o.score, 80.0);
    assert_eq!(o.decision, Decision::Borderline);
    assert!(codes(&o).contains(&ReasonCode::RequiredPartial));
}

#[test]
fn an_unscored_criterion_is_never_zero_and_never_a_pass() {
    let o = decide(&rule(), &outcomes(Some(1.0), None), &Signals::default());
    // Left out of the score, not counted as 0 (which would read 40).
    assert_eq!(o.score, 100.0);
    assert_eq!(o.decision, Decision::Borderline);
    assert!(codes(&o).contains(&ReasonCode::JudgeFailed));

    let o = decide(&rule(), &outcomes(None, Some(1.0)), &Signals::default());
    assert_eq!(o.decision, Decision::Borderline);
    assert!(codes(&o).contains(&ReasonCode::RequiredUnscored));

    let o = decide(&rule(), &outcomes(None, None), &Signals::default());
    assert_eq!(o.decision, Decision::Borderline);
    assert!(codes(&o).contains(&ReasonCode::NothingScored));
}

#[test]
fn judge_disagreement_goes_to_review() {
    let mut c = outcomes(Some(1.0), None);
    c[1].unscored = Some(Unscored::JudgeDisagreement);
    let o = decide(&rule(), &c, &Signals::default());
    assert_eq!(o.decision, Decision::Borderline);
    assert!(codes(&o).contains(&ReasonCode::JudgeDisagreement));
    assert!(!codes(&o).contains(&ReasonCode::JudgeFailed));
}

#[test]
fn criteria_that_need_audio_are_left_out_without_review() {
    let mut c = outcomes(Some(1.0), None);
    c[1].unscored = Some(Unscored::NeedsAudio);
    let o = decide(&rule(), &c, &Signals::default());
    assert_eq!(o.decision, Decision::Pass);
    assert_eq!(o.score, 100.0);
}

#[test]
fn low_transcript_confidence_goes_to_review() {
    let signals = Signals {
        transcript_confidence: Some(0.41),
        ..Signals::default()
    };
    let o = decide(&rule(), &outcomes(Some(1.0), Some(1.0)), &signals);
    assert_eq!(o.decision, Decision::Borderline);
    assert!(codes(&o).contains(&ReasonCode::LowTranscriptConfidence));

    let lenient = PassRule {
        min_transcript_confidence: Some(0.4),
        ..rule()
    };
    assert_eq!(
        decide(&lenient, &outcomes(Some(1.0), Some(1.0)), &signals).decision,
        Decision::Pass
    );
}

#[test]
fn injection_goes_to_review_even_when_failing() {
    let signals = Signals {
        injection_flagged: true,
        ..Signals::default()
    };
    for (value, other) in [(Some(1.0), Some(1.0)), (Some(0.0), Some(0.0))] {
        let o = decide(&rule(), &outcomes(value, other), &signals);
        assert_eq!(o.decision, Decision::Borderline);
        assert!(codes(&o).contains(&ReasonCode::InjectionFlagged));
    }
}

/// The machine's doubt moves a grade to review, never to fail (and never to pass).
#[test]
fn an_unsure_miss_of_a_required_criterion_goes_to_review_not_to_fail() {
    let mut c = outcomes(Some(0.0), Some(1.0));
    c[0].unsure = Some("the closest sentence is just below the bar");
    let o = decide(&rule(), &c, &Signals::default());
    assert_eq!(o.decision, Decision::Borderline);
    assert!(codes(&o).contains(&ReasonCode::UnsureRequired));
    assert!(!codes(&o).contains(&ReasonCode::RequiredMissed));
    // The same miss, confident: fail.
    c[0].unsure = None;
    assert_eq!(
        decide(&rule(), &c, &Signals::default()).decision,
        Decision::Fail
    );
}

#[test]
fn a_low_score_goes_to_review_only_when_unsure_criteria_could_lift_it() {
    // value met (40), other missed (60): 40, far below the bar 70.
    let mut c = outcomes(Some(1.0), Some(0.0));
    assert_eq!(
        decide(&rule(), &c, &Signals::default()).decision,
        Decision::Fail
    );
    c[1].unsure = Some("a word of the rubric's vocabulary may have been misheard");
    let o = decide(&rule(), &c, &Signals::default());
    assert_eq!(o.decision, Decision::Borderline);
    assert!(codes(&o).contains(&ReasonCode::UnsureScore));
    // Doubt never raises the score itself.
    assert_eq!(o.score, 40.0);
    // Doubt about a criterion that cannot lift the score to the band changes nothing.
    let mut c = outcomes(Some(0.5), Some(0.0));
    c[0].required = false;
    c[0].unsure = Some("near miss");
    assert_eq!(
        decide(&rule(), &c, &Signals::default()).decision,
        Decision::Fail
    );
}

#[test]
fn doubt_never_turns_a_fail_into_a_pass_or_a_pass_into_anything_else() {
    let mut c = outcomes(Some(1.0), Some(1.0));
    c[1].unsure = Some("near miss");
    assert_eq!(
        decide(&rule(), &c, &Signals::default()).decision,
        Decision::Pass
    );
    let mut c = outcomes(Some(1.0), Some(0.0));
    c[1].unsure = Some("near miss");
    assert_ne!(
        decide(&rule(), &c, &Signals::default()).decision,
        Decision::Pass
    );
}

/// A score over part of the rubric says so: "100" of one scored criterion is
/// not 100 of the rubric.
#[test]
fn the_reason_says_how_many_points_could_be_scored() {
    let c = outcomes(Some(1.0), None);
    let o = decide(&rule(), &c, &Signals::default());
    assert_eq!(o.decision, Decision::Borderline);
    let bar = o
        .reasons
        .iter()
        .find(|r| r.code == ReasonCode::AboveBar)
        .expect("a bar reason");
    assert!(bar.message.contains("40 of 100 points"), "{}", bar.message);
    let all = decide(
        &rule(),
        &outcomes(Some(1.0), Some(1.0)),
        &Signals::default(),
    );
    assert!(all
        .reasons
        .iter()
        .all(|r| !r.message.contains("points that could be scored")));
}

/// A recording heard unclearly turns a would-be fail into a review, for a
/// missed required point and for a low score alike, and leaves pass and
/// review alone: mishearing hides points, it does not invent them.
#[test]
fn an_unclear_recording_sends_a_fail_to_review_and_leaves_a_pass() {
    let unclear = Signals {
        unclear_recording: Some("the recording was heard unclearly: 22% of its words…".into()),
        ..Signals::default()
    };
    let required_missed = decide(&rule(), &outcomes(Some(0.0), Some(1.0)), &unclear);
    assert_eq!(required_missed.decision, Decision::Borderline);
    assert!(codes(&required_missed).contains(&ReasonCode::RequiredMissed));
    assert!(codes(&required_missed).contains(&ReasonCode::UnclearRecording));
    let why = &required_missed
        .reasons
        .iter()
        .find(|r| r.code == ReasonCode::UnclearRecording)
        .expect("reason")
        .message;
    assert!(why.contains("22% of its words"), "{why}");

    let low_score = decide(&rule(), &outcomes(Some(1.0), Some(0.25)), &unclear);
    assert_eq!(low_score.decision, Decision::Borderline);
    assert!(codes(&low_score).contains(&ReasonCode::UnclearRecording));

    let pass = decide(&rule(), &outcomes(Some(1.0), Some(0.8)), &unclear);
    assert_eq!(pass.decision, Decision::Pass);
    assert!(!codes(&pass).contains(&ReasonCode::UnclearRecording));

    // The same fail from a clear recording stands.
    let clear = decide(
        &rule(),
        &outcomes(Some(0.0), Some(1.0)),
        &Signals::default(),
    );
    assert_eq!(clear.decision, Decision::Fail);
}
