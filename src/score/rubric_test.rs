//! `pitchgrade rubric test`: a rubric change is tested like code.
//!
//! A case is `NAME.txt` (the pitch as typed) plus `NAME.expect.toml` with the
//! decision and per-criterion verdicts a human gave it. Every case is graded
//! with the chosen judge; any disagreement with the labels is a failure.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde::Deserialize;

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
}

/// One graded case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub name: String,
    pub expected: Expectation,
    pub grade: Grade,
    /// Human-readable disagreements; empty when the case passed.
    pub mismatches: Vec<String>,
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
        let _ = writeln!(out, "\nAgreement with labels:");
        let _ = writeln!(out, "  {:<28} {}", "decision", fraction(decision));
        for (id, a) in per {
            let _ = writeln!(out, "  {id:<28} {}", fraction(a));
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

/// Grades every case in `dir` with `judge` and compares with the labels.
pub async fn run_cases(
    dir: &Path,
    rubric: &LoadedRubric,
    judge: &dyn Judge,
) -> Result<SuiteReport, CaseError> {
    let known: Vec<String> = rubric.rubric.criteria().into_iter().map(|c| c.id).collect();
    let mut results = Vec::new();
    for (name, pitch, expect_path) in find_cases(dir)? {
        let expected = read_expectation(&expect_path, &known)?;
        let transcript = load_transcript(&pitch)?;
        let grade = grade(rubric, &transcript, None, judge).await;
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
                    mismatches.push(
                        format!("{} {:?} (expected {:?})", c.id, c.verdict, want).to_lowercase(),
                    );
                }
            }
        }
        results.push(CaseResult {
            name,
            expected,
            grade,
            mismatches,
        });
    }
    Ok(SuiteReport { cases: results })
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
