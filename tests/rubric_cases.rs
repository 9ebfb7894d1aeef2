//! `rubric test`: labelled cases graded and compared, mismatches reported.

mod common;

use std::path::Path;

use common::ScriptedJudge;
use pitchgrade::rubric::{self, LoadedRubric};
use pitchgrade::score::rubric_test::{find_cases, run_cases, CaseError};

fn sales_rubric() -> LoadedRubric {
    rubric::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rubrics/ledgerly-sales-pitch.toml"))
        .expect("rubric loads")
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write case file");
}

#[tokio::test]
async fn matching_labels_pass_and_a_wrong_label_is_a_mismatch() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "a_good.txt",
        "We get your close from nine days to four. Shall we meet Tuesday?",
    );
    write(
        dir.path(),
        "a_good.expect.toml",
        "decision = \"pass\"\n[criteria]\nvalue_prop = \"met\"\n",
    );
    write(
        dir.path(),
        "b_gap.txt",
        "We get your close from nine days to four.",
    );
    write(
        dir.path(),
        "b_gap.expect.toml",
        "decision = \"pass\"\n[criteria]\ncustomer_proof = \"met\"\nprice = \"partial\"\n",
    );
    let judge = ScriptedJudge {
        credits: vec![("customer_proof", 0.0), ("price", 0.5)],
        failing: vec![],
    };
    let report = run_cases(dir.path(), &sales_rubric(), &judge)
        .await
        .expect("runs");
    assert_eq!(report.cases.len(), 2);
    assert!(
        report.cases[0].mismatches.is_empty(),
        "{:?}",
        report.cases[0].mismatches
    );
    assert_eq!(
        report.cases[1].mismatches,
        vec!["customer_proof missed (expected met)".to_string()]
    );
    assert!(!report.all_passed());
    let table = report.table();
    assert!(
        table.contains("MISMATCH: customer_proof missed (expected met)"),
        "{table}"
    );
    assert!(table.contains("customer_proof"), "{table}");
    let (per, decision) = report.agreement();
    assert_eq!((decision.agreed, decision.labelled), (2, 2));
    let proof = per
        .iter()
        .find(|(id, _)| id == "customer_proof")
        .expect("agreement row")
        .1;
    assert_eq!((proof.agreed, proof.labelled), (0, 1));
}

#[tokio::test]
async fn bad_case_folders_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(matches!(find_cases(dir.path()), Err(CaseError::NoCases(_))));

    write(dir.path(), "lonely.txt", "A pitch.");
    let err = find_cases(dir.path()).expect_err("missing expectation");
    assert!(err.to_string().contains("lonely.expect.toml"), "{err}");

    write(
        dir.path(),
        "lonely.expect.toml",
        "decision = \"pass\"\n[criteria]\nvalue_prop = \"great\"\n",
    );
    let judge = ScriptedJudge {
        credits: vec![],
        failing: vec![],
    };
    let err = run_cases(dir.path(), &sales_rubric(), &judge)
        .await
        .expect_err("bad verdict");
    assert!(err.to_string().contains("lonely.expect.toml:3:14"), "{err}");

    write(
        dir.path(),
        "lonely.expect.toml",
        "decision = \"pass\"\n[criteria]\nvalue_proposition = \"met\"\n",
    );
    let err = run_cases(dir.path(), &sales_rubric(), &judge)
        .await
        .expect_err("unknown id");
    assert!(
        err.to_string()
            .contains("\"value_proposition\" is not in the rubric"),
        "{err}"
    );
}
