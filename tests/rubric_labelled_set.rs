//! The labelled sales-pitch set graded by the real offline judge. The full
//! agreement table is in BENCHMARKS.md; here the properties that must never
//! regress: nothing off-topic, buzzword-only or injected passes, strong passes.

use std::path::PathBuf;

use pitchgrade::rubric;
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

    let (_, decision) = report.agreement();
    let rate = decision.agreed as f64 / decision.labelled as f64;
    assert!(
        rate >= 0.7,
        "decision agreement fell to {rate:.2}:\n{}",
        report.table()
    );
}
