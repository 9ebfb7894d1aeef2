//! `pitchgrade rubric test`: a rubric change is tested like code.
//!
//! A case is `NAME.txt` (the pitch as typed) plus `NAME.expect.toml` with the
//! decision and per-criterion verdicts a human gave it (conventions:
//! `rubrics/tests/README.md`). Every case is graded, from the text or from a
//! recording of it, and the report says how far the grader agrees with the
//! labels ([`super::agreement`]), not only where it does not.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::agreement::{self, label_rule, Scored, Summary, Thresholds};
use super::decide::{Decision, Verdict};
use super::grade::{grade, Grade};
use super::judge::Judge;
use super::transcript_input::{load_transcript, TranscriptInputError};
use crate::rubric::parse::read_limited;
use crate::rubric::{LoadedRubric, RubricError};

/// What a human expects of one case. Criteria not listed are not checked.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    pub decision: Decision,
    #[serde(default)]
    pub criteria: BTreeMap<String, Verdict>,
    /// What the case is about, for whoever reads the folder.
    #[serde(default)]
    pub note: String,
    /// What kind of pitch it is (`strong`, `paraphrase`, `injection`, …).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Why each criterion got its label, one line each.
    #[serde(default)]
    pub reasons: BTreeMap<String, String>,
}

impl Expectation {
    pub fn tagged(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }
}

/// Grades one case. The typed grader reads the text; `rubric test
/// --audio-dir` grades a recording of it through the whole pipeline.
#[async_trait::async_trait]
pub trait CaseGrader: Send + Sync {
    /// The rubric is an argument, not the grader's own: `rubric calibrate`
    /// grades each case against several fitted variants of one rubric.
    async fn grade_case(
        &self,
        rubric: &LoadedRubric,
        name: &str,
        text: &Path,
    ) -> Result<Grade, CaseError>;
}

/// Grades the typed text: no audio, so audio-only criteria are unscored.
pub struct TypedGrader<'a> {
    pub judge: &'a dyn Judge,
}

#[async_trait::async_trait]
impl CaseGrader for TypedGrader<'_> {
    async fn grade_case(
        &self,
        rubric: &LoadedRubric,
        _name: &str,
        text: &Path,
    ) -> Result<Grade, CaseError> {
        let transcript = load_transcript(text)?;
        Ok(grade(rubric, &transcript, None, self.judge).await)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    #[error("{path}: cannot list cases: {source}")]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}: no cases (NAME.txt with NAME.expect.toml)")]
    NoCases(PathBuf),
    #[error("{path}: has no {expect}")]
    MissingExpectation { path: PathBuf, expect: String },
    /// `at` is ":line:col" when the problem has a position in the file.
    #[error("{path}{at}: {message}")]
    BadExpectation {
        path: PathBuf,
        at: String,
        message: String,
    },
    #[error(transparent)]
    Read(#[from] RubricError),
    #[error(transparent)]
    Transcript(#[from] TranscriptInputError),
    #[error("case {case}: {message}")]
    Grading { case: String, message: String },
}

/// One graded case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub name: String,
    pub expected: Expectation,
    pub grade: Grade,
    /// Human-readable disagreements; empty when the case passed.
    pub mismatches: Vec<String>,
    /// The label rule applied to the judge's verdicts on the labelled criteria.
    pub label_rule_decision: Decision,
    /// Set when the labels themselves break the label rule: the decision the
    /// rule gives for them. A slip in the set, not in the grader.
    pub inconsistent_label: Option<Decision>,
}

/// Agreement of the judge with the labels for one criterion (or the decision).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Agreement {
    pub agreed: usize,
    pub labelled: usize,
}

#[derive(Debug, Clone)]
pub struct SuiteReport {
    pub cases: Vec<CaseResult>,
}

impl SuiteReport {
    pub fn all_passed(&self) -> bool {
        self.cases.iter().all(|c| c.mismatches.is_empty())
    }

    /// κ, decision agreement, false passes and fails, review rate, confusion.
    pub fn summary(&self) -> Summary {
        let scored: Vec<Scored<'_>> = self
            .cases
            .iter()
            .map(|c| Scored {
                label: c.expected.decision,
                graded: c.grade.decision,
                label_rule: c.label_rule_decision,
                paraphrase: c.expected.tagged("paraphrase"),
                verdicts: c
                    .grade
                    .criteria
                    .iter()
                    .filter_map(|g| {
                        let want = c.expected.criteria.get(&g.id)?;
                        Some((g.id.as_str(), *want, g.verdict))
                    })
                    .collect(),
            })
            .collect();
        agreement::summarise(&scored)
    }

    /// The report as data, for `rubric test --json` and the validity bench.
    pub fn to_json(&self, thresholds: &Thresholds) -> serde_json::Value {
        let summary = self.summary();
        let cases: Vec<CaseJson<'_>> = self
            .cases
            .iter()
            .map(|c| CaseJson {
                name: &c.name,
                tags: &c.expected.tags,
                expected: c.expected.decision,
                decision: c.grade.decision,
                label_rule_decision: c.label_rule_decision,
                score: c.grade.score,
                judged_points: c
                    .grade
                    .criteria
                    .iter()
                    .filter(|g| !g.kind.is_measured())
                    .filter_map(|g| g.score)
                    .sum(),
                expected_criteria: &c.expected.criteria,
                criteria: c
                    .grade
                    .criteria
                    .iter()
                    .map(|g| (g.id.as_str(), g.verdict))
                    .collect(),
                reasons: c.grade.reasons.iter().map(|r| r.message.as_str()).collect(),
                mismatches: &c.mismatches,
                inconsistent_label: c.inconsistent_label,
            })
            .collect();
        serde_json::json!({
            "cases": cases,
            "summary": summary,
            "thresholds": thresholds,
            "failures": thresholds.failures(&summary),
        })
    }

    /// Per criterion id (in rubric order of first appearance) and for the decision.
    pub fn agreement(&self) -> (Vec<(String, Agreement)>, Agreement) {
        let mut per: Vec<(String, Agreement)> = Vec::new();
        let mut decision = Agreement::default();
        for case in &self.cases {
            decision.labelled += 1;
            decision.agreed += usize::from(case.grade.decision == case.expected.decision);
            for c in &case.grade.criteria {
                let Some(want) = case.expected.criteria.get(&c.id) else {
                    continue;
                };
                let idx = match per.iter().position(|(id, _)| id == &c.id) {
                    Some(i) => i,
                    None => {
                        per.push((c.id.clone(), Agreement::default()));
                        per.len() - 1
                    }
                };
                per[idx].1.labelled += 1;
                per[idx].1.agreed += usize::from(*want == c.verdict);
            }
        }
        (per, decision)
    }

    /// The table `pitchgrade rubric test` prints.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let width = self
            .cases
            .iter()
            .map(|c| c.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let _ = writeln!(
            out,
            "{:<width$}  {:<10}  {:<10}  {:>5}  Result",
            "Case", "Expected", "Got", "Score"
        );
        for c in &self.cases {
            let result = if c.mismatches.is_empty() {
                "ok".to_string()
            } else {
                format!("MISMATCH: {}", c.mismatches.join("; "))
            };
            let _ = writeln!(
                out,
                "{:<width$}  {:<10}  {:<10}  {:>5.1}  {result}",
                c.name,
                decision_name(c.expected.decision),
                decision_name(c.grade.decision),
                c.grade.score
            );
        }
        let (per, decision) = self.agreement();
        let s = self.summary();
        let _ = writeln!(out, "\nAgreement with labels:");
        let _ = writeln!(out, "  {:<28} {}", "decision", fraction(decision));
        let _ = writeln!(
            out,
            "  {:<28} {:.0}%",
            "decision by the label rule",
            100.0 * s.label_rule_agreement
        );
        let _ = writeln!(
            out,
            "  {:<28} {}  (labelled fail or review, graded pass)",
            "false passes", s.false_passes
        );
        let _ = writeln!(
            out,
            "  {:<28} {}  (labelled pass, graded fail)",
            "false fails", s.false_fails
        );
        let _ = writeln!(
            out,
            "  {:<28} {:.0}%",
            "sent to review",
            100.0 * s.review_rate
        );
        if s.paraphrase_passes.1 > 0 {
            let _ = writeln!(
                out,
                "  {:<28} {}/{}",
                "paraphrases passed", s.paraphrase_passes.0, s.paraphrase_passes.1
            );
        }
        let _ = writeln!(
            out,
            "  {:<28} worst {}, median {}",
            "Cohen's kappa",
            kappa(s.kappa_worst),
            kappa(s.kappa_median)
        );
        let _ = writeln!(
            out,
            "\n  {:<28} {:>9}  {:>5}",
            "criterion", "agreement", "kappa"
        );
        for (id, a) in per {
            let k = s.criteria.iter().find(|c| c.id == id).and_then(|c| c.kappa);
            let _ = writeln!(out, "  {id:<28} {:>9}  {:>5}", fraction(a), kappa(k));
        }
        let _ = writeln!(out, "\n  Decisions (rows: label, columns: grade)");
        let _ = writeln!(
            out,
            "  {:<12} {:>5} {:>10} {:>5}",
            "", "pass", "borderline", "fail"
        );
        for (i, d) in agreement::DECISIONS.iter().enumerate() {
            let row = s.confusion[i];
            let _ = writeln!(
                out,
                "  {:<12} {:>5} {:>10} {:>5}",
                decision_name(*d),
                row[0],
                row[1],
                row[2]
            );
        }
        for c in &self.cases {
            if let Some(rule) = c.inconsistent_label {
                let _ = writeln!(
                    out,
                    "  warning: {}: labelled {} but the label rule gives {} for its criterion labels",
                    c.name,
                    decision_name(c.expected.decision),
                    decision_name(rule)
                );
            }
        }
        let failed = self
            .cases
            .iter()
            .filter(|c| !c.mismatches.is_empty())
            .count();
        let _ = writeln!(
            out,
            "\n{} cases, {failed} with mismatches",
            self.cases.len()
        );
        out
    }
}

#[derive(Serialize)]
struct CaseJson<'a> {
    name: &'a str,
    tags: &'a [String],
    expected: Decision,
    decision: Decision,
    label_rule_decision: Decision,
    score: f64,
    /// Points earned on judged criteria (talking points, objections, tone).
    judged_points: f64,
    expected_criteria: &'a BTreeMap<String, Verdict>,
    criteria: BTreeMap<&'a str, Verdict>,
    reasons: Vec<&'a str>,
    mismatches: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    inconsistent_label: Option<Decision>,
}

fn kappa(k: Option<f64>) -> String {
    k.map_or_else(|| "–".into(), |k| format!("{k:.2}"))
}

fn fraction(a: Agreement) -> String {
    if a.labelled == 0 {
        return "–".into();
    }
    format!(
        "{}/{} ({:.0}%)",
        a.agreed,
        a.labelled,
        100.0 * a.agreed as f64 / a.labelled as f64
    )
}

pub fn decision_name(d: Decision) -> &'static str {
    match d {
        Decision::Pass => "pass",
        Decision::Fail => "fail",
        Decision::Borderline => "borderline",
    }
}

/// Finds the cases in `dir` (sorted by name, so output order is stable).
pub fn find_cases(dir: &Path) -> Result<Vec<(String, PathBuf, PathBuf)>, CaseError> {
    let entries = std::fs::read_dir(dir).map_err(|source| CaseError::Dir {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut cases = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|source| CaseError::Dir {
                path: dir.to_path_buf(),
                source,
            })?
            .path();
        if path.extension().and_then(|e| e.to_str()) != Some("txt") {
            continue;
        }
        let Some(name) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        let expect = dir.join(format!("{name}.expect.toml"));
        if !expect.is_file() {
            return Err(CaseError::MissingExpectation {
                path,
                expect: expect.display().to_string(),
            });
        }
        cases.push((name, path, expect));
    }
    if cases.is_empty() {
        return Err(CaseError::NoCases(dir.to_path_buf()));
    }
    cases.sort();
    Ok(cases)
}

/// Grades every case in `dir` (typed) with `judge` and compares with the labels.
pub async fn run_cases(
    dir: &Path,
    rubric: &LoadedRubric,
    judge: &dyn Judge,
) -> Result<SuiteReport, CaseError> {
    run_cases_with(dir, rubric, &TypedGrader { judge }).await
}

/// As [`run_cases`], each case graded by `grader`.
pub async fn run_cases_with(
    dir: &Path,
    rubric: &LoadedRubric,
    grader: &dyn CaseGrader,
) -> Result<SuiteReport, CaseError> {
    let mut results = Vec::new();
    for (name, pitch, expected) in labelled_cases(dir, rubric)? {
        let grade = grader.grade_case(rubric, &name, &pitch).await?;
        results.push(check_case(rubric, name, expected, grade));
    }
    Ok(SuiteReport { cases: results })
}

/// Every case of `dir` with its labels read and checked against the rubric's criteria.
pub fn labelled_cases(
    dir: &Path,
    rubric: &LoadedRubric,
) -> Result<Vec<(String, PathBuf, Expectation)>, CaseError> {
    let known: Vec<String> = rubric.rubric.criteria().into_iter().map(|c| c.id).collect();
    find_cases(dir)?
        .into_iter()
        .map(|(name, pitch, expect_path)| {
            Ok((name, pitch, read_expectation(&expect_path, &known)?))
        })
        .collect()
}

/// One graded case against its labels: the disagreements and the label rule's decision.
pub fn check_case(
    rubric: &LoadedRubric,
    name: String,
    expected: Expectation,
    grade: Grade,
) -> CaseResult {
    let judged: BTreeMap<String, Verdict> = grade
        .criteria
        .iter()
        .filter(|g| expected.criteria.contains_key(&g.id))
        .map(|g| (g.id.clone(), g.verdict))
        .collect();
    let label_rule_decision = label_rule(&rubric.rubric, &judged, grade.flags.injection_flagged);
    let by_labels = label_rule(
        &rubric.rubric,
        &expected.criteria,
        expected.tagged("injection"),
    );
    let inconsistent_label = (by_labels != expected.decision).then_some(by_labels);
    let mut mismatches = Vec::new();
    if grade.decision != expected.decision {
        mismatches.push(format!(
            "decision {} (expected {})",
            decision_name(grade.decision),
            decision_name(expected.decision)
        ));
    }
    for c in &grade.criteria {
        if let Some(want) = expected.criteria.get(&c.id) {
            if *want != c.verdict {
                mismatches
                    .push(format!("{} {:?} (expected {:?})", c.id, c.verdict, want).to_lowercase());
            }
        }
    }
    CaseResult {
        name,
        expected,
        grade,
        mismatches,
        label_rule_decision,
        inconsistent_label,
    }
}

/// Every case of `dir` whose labelled decision breaks the label rule for its
/// own criterion labels, with the decision the rule gives. Needs no judge:
/// it checks the set, not the grader.
pub fn label_slips(
    dir: &Path,
    rubric: &LoadedRubric,
) -> Result<Vec<(String, Decision, Decision)>, CaseError> {
    let known: Vec<String> = rubric.rubric.criteria().into_iter().map(|c| c.id).collect();
    let mut slips = Vec::new();
    for (name, _, expect_path) in find_cases(dir)? {
        let e = read_expectation(&expect_path, &known)?;
        let rule = label_rule(&rubric.rubric, &e.criteria, e.tagged("injection"));
        if rule != e.decision {
            slips.push((name, e.decision, rule));
        }
    }
    Ok(slips)
}

fn read_expectation(path: &Path, known: &[String]) -> Result<Expectation, CaseError> {
    let bad = |at: String, message: String| CaseError::BadExpectation {
        path: path.to_path_buf(),
        at,
        message,
    };
    let bytes = read_limited(path)?;
    let text =
        std::str::from_utf8(&bytes).map_err(|_| bad(String::new(), "not UTF-8 text".into()))?;
    let expected: Expectation = toml::from_str(text).map_err(|e| {
        let (line, col) = crate::rubric::lint::line_col(text, e.span().map_or(0, |s| s.start));
        bad(format!(":{line}:{col}"), e.message().trim().to_string())
    })?;
    if let Some(unknown) = expected.criteria.keys().find(|id| !known.contains(id)) {
        return Err(bad(
            String::new(),
            format!("criterion {unknown:?} is not in the rubric"),
        ));
    }
    Ok(expected)
}
