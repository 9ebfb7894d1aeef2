//! The labelled sales-pitch set graded by the real offline judge. The full
//! agreement table is in BENCHMARKS.md; here the properties that must never
//! regress: nothing off-topic, buzzword-only or injected passes, strong passes.

use std::path::PathBuf;

use pitchgrade::rubric;
use pitchgrade::score::decide::Verdict;
use pitchgrade::score::judge::offline::OfflineJudge;
use pitchgrade::score::rubric_test::run_cases;
use pitchgrade::score::Decision;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test]
async fn the_offline_judge_on_the_labelled_sales_set() {
    let local = root().join("models/all-MiniLM-L6-v2");
    let model = if local.join("model.safetensors").exists() {
        local
    } else {
        root().join("../shared/models/all-MiniLM-L6-v2")
    };
    let judge = OfflineJudge::load(&model).expect("MiniLM model");
    let r = rubric::load(&root().join("rubrics/ledgerly-sales-pitch.toml")).expect("rubric");
    let report = run_cases(
        &root().join("rubrics/tests/ledgerly-sales-pitch"),
        &r,
        &judge,
    )
    .await
    .expect("cases run");
    assert!(report.cases.len() >= 24);
    let got = |name: &str| {
        report
            .cases
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("case {name}"))
            .grade
            .clone()
    };
    for name in [
        "buzzword_list",
        "buzzword_sentences",
        "off_topic",
        "wrong_product",
        "weak_features",
        "competitor_bashing",
    ] {
        assert_eq!(got(name).decision, Decision::Fail, "{name}");
    }
    for name in ["injection_strong", "injection_weak", "injection_role_tags"] {
        assert_ne!(got(name).decision, Decision::Pass, "{name}");
    }
    for name in ["injection_strong", "injection_weak"] {
        let g = got(name);
        assert!(
            g.flags.injection_flagged && g.decision == Decision::Borderline,
            "{name}"
        );
    }
    assert_eq!(got("strong_full").decision, Decision::Pass);
    // Injected text gains nothing: the weak pitch with an injection scores like a weak pitch.
    assert!(got("injection_weak").score < 50.0);

    let verdict = |name: &str, id: &str| {
        got(name)
            .criteria
            .iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("{name}: criterion {id}"))
            .verdict
    };
    // Regressions of the defects found on this set (BENCHMARKS.md, "Offline
    // judge agreement"), each fixed by a general rule in the judge:
    // (a) a window about reconciliation was the next step of a pitch that has
    // none (it now counts for the point it is closest to), so a pitch missing
    // a required point passed;
    assert_eq!(verdict("gap_next_step", "next_step"), Verdict::Missed);
    assert_eq!(got("gap_next_step").decision, Decision::Fail);
    // and a next step asked as a closed question still counts.
    assert_eq!(verdict("strong_full", "next_step"), Verdict::Met);
    // (b) "makes the close easier" with no figure, after restating the
    // buyer's nine days, is the faster-close claim made loosely at most;
    assert_eq!(verdict("value_prop_vague", "value_prop"), Verdict::Partial);
    assert_eq!(got("value_prop_vague").decision, Decision::Borderline);
    // (c) role tags forging the grader's turns are flagged;
    assert!(got("injection_role_tags").flags.injection_flagged);
    assert_eq!(got("injection_role_tags").decision, Decision::Borderline);
    // (d) a full objection answer (acknowledge, reason, closed check-back
    // question) is met, not partial.
    for name in ["strong_paraphrased", "gap_audit_trail", "near_bar"] {
        assert_eq!(verdict(name, "switching_cost"), Verdict::Met, "{name}");
    }
    assert_eq!(verdict("strong_paraphrased", "price"), Verdict::Met);

    let (_, decision) = report.agreement();
    let rate = decision.agreed as f64 / decision.labelled as f64;
    assert!(
        rate >= 0.9,
        "decision agreement fell to {rate:.2}:\n{}",
        report.table()
    );
}
