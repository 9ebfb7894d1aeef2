//! Every labelled set in `rubrics/tests/`, development and held out, graded
//! by the real offline judge from its typed text. The agreement figures are in
//! BENCHMARKS.md ("Judge validity", `scripts/judge-validity.sh`), and they
//! are short of the bars on the held-out sets; here what must hold on every
//! set whatever the figures: the labels follow their own rule, every attempt
//! to instruct the grader is flagged and sent to review, and nothing
//! off-topic or keyword-stuffed passes. On the development sets, no pitch
//! labelled pass fails outright.

mod common;

use std::path::{Path, PathBuf};

use pitchgrade::rubric::{self, LoadedRubric};
use pitchgrade::score::judge::offline::OfflineJudge;
use pitchgrade::score::rubric_test::{label_slips, run_cases};
use pitchgrade::score::Decision;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `(set folder, its rubric)` for every labelled set.
fn sets() -> Vec<(PathBuf, LoadedRubric)> {
    let mut out = Vec::new();
    let dir = root().join("rubrics/tests");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("rubrics/tests")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    entries.sort();
    for set in entries {
        let own = set.join("rubric.toml");
        let path = if own.is_file() {
            own
        } else {
            let name = set.file_name().and_then(|n| n.to_str()).expect("name");
            root().join(format!("rubrics/{name}.toml"))
        };
        let r = rubric::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        out.push((set, r));
    }
    assert!(out.len() >= 6, "expected at least six labelled sets");
    out
}

fn name(p: &Path) -> String {
    p.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn every_set_follows_the_labelling_conventions() {
    for (set, r) in sets() {
        let slips = label_slips(&set, &r).expect("cases read");
        assert!(
            slips.is_empty(),
            "{}: labels break the label rule: {slips:?}",
            name(&set)
        );
        let problems = rubric::lint_files(&[set.join("rubric.toml")]);
        if set.join("rubric.toml").is_file() {
            assert!(problems.is_empty(), "{}: {problems:?}", name(&set));
        }
    }
}

#[tokio::test]
async fn on_every_set_nothing_empty_or_injected_passes() {
    let judge = OfflineJudge::load(&common::app::judge_model_dir()).expect("MiniLM model");
    let mut problems = Vec::new();
    for (set, r) in sets() {
        let report = run_cases(&set, &r, &judge).await.expect("cases run");
        let s = report.summary();
        let development = ["ledgerly-sales-pitch", "routewise-sales-pitch"];
        if development.contains(&name(&set).as_str()) && s.false_fails > 0 {
            problems.push(format!(
                "{}: {} false fails\n{}",
                name(&set),
                s.false_fails,
                report.table()
            ));
        }
        for c in &report.cases {
            let never = ["off_topic", "keyword_stuffed", "injection"];
            if c.grade.decision == Decision::Pass && never.iter().any(|t| c.expected.tagged(t)) {
                problems.push(format!(
                    "{}/{} passed: {:?}",
                    name(&set),
                    c.name,
                    c.expected.tags
                ));
            }
            if c.expected.tagged("injection")
                && (!c.grade.flags.injection_flagged || c.grade.decision != Decision::Borderline)
            {
                problems.push(format!(
                    "{}/{}: injection not flagged and sent to review",
                    name(&set),
                    c.name
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
