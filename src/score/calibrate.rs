//! `pitchgrade rubric calibrate`: fits the offline judge's similarity bars to
//! one rubric from that rubric's own labelled pitches, and says honestly how
//! well the fit holds on pitches it was not fitted on.
//!
//! Why per rubric: how close a good rep's sentence lands to an anchor depends
//! on how the enablement team wrote the anchors (long descriptions, a
//! product's jargon, examples in another register). Global bars tuned on a
//! few products were too strict on products they had never seen, and good
//! reps failed. The judge itself stays global (it names no product, rubric or
//! criterion); what moves is one number stored in the rubric's own file, so
//! it is versioned, hashed into every grade and reviewed like any rubric edit.
//!
//! Why one number: thirty-odd labelled pitches determine one shift well and
//! a bar per criterion badly. The report shows the in-sample figure beside
//! the cross-validated one, so an overfitted fit cannot pass for a result.

use std::path::Path;

use serde::Serialize;

use super::agreement::Summary;
use super::rubric_test::{
    check_case, labelled_cases, CaseError, CaseGrader, CaseResult, SuiteReport,
};
use crate::rubric::{JudgeBars, LoadedRubric};

/// The shifts tried, in hundredths: −0.10 to +0.06. Beyond a tenth down,
/// "met" would mean "on the topic"; upward moves past +0.06 only ever made
/// the judge stricter than careful people on the sets measured.
pub const GRID: std::ops::RangeInclusive<i32> = -10..=6;

/// Folds of the cross-validation: each case is judged by a shift fitted on
/// the other four fifths of the set.
pub const DEFAULT_FOLDS: usize = 5;

/// The fit and how it holds.
#[derive(Debug, Clone, Serialize)]
pub struct Calibration {
    pub rubric: String,
    pub version: u32,
    pub cases: usize,
    pub folds: usize,
    /// The shift the rubric carries now (0 when it has none).
    pub shift_as_written: f32,
    /// The shift fitted on every case: what `--write` stores.
    pub shift_fitted: f32,
    /// The shift each fold's fit chose, in fold order.
    pub fold_shifts: Vec<f32>,
    /// Figures with the rubric as written.
    pub as_written: Summary,
    /// Figures with the fitted shift on the very cases it was fitted on (optimistic).
    pub in_sample: Summary,
    /// Figures when each case is graded with a shift fitted without it: the estimate to trust.
    pub cross_validated: Summary,
    /// The objective per shift over all cases, for the curious.
    pub curve: Vec<(f32, f64)>,
    /// Each case as graded with its fold's shift: the cases behind
    /// `cross_validated`, in `rubric test --json`'s shape.
    #[serde(skip)]
    pub cross_validated_cases: SuiteReport,
}

impl Calibration {
    /// Whether the fitted shift is worth writing: it must do better than the
    /// file as written on pitches it was not fitted on. A fit that only ties
    /// is not worth a new version (every grade after it names the version).
    pub fn holds(&self) -> bool {
        objective(&self.cross_validated) > objective(&self.as_written) + 1e-9
    }
}

fn shift_of(hundredths: i32) -> f32 {
    hundredths as f32 / 100.0
}

/// The rubric with its bars moved by `shift` (0 removes the table).
pub fn with_shift(rubric: &LoadedRubric, shift: f32) -> LoadedRubric {
    let mut r = rubric.clone();
    r.rubric.judge_bars = (shift != 0.0).then_some(JudgeBars { shift });
    r
}

/// What a fit maximises, per case: the decision agreeing with the label
/// counts 1 and the share of criteria agreeing counts 1 more (decisions are
/// coarse; criteria carry most of the signal on a small set). A false pass
/// costs 3 (a rep certified who should not be) and a false fail 2 (a good
/// rep loses an attempt): a fit must never buy agreement with either.
pub fn objective(s: &Summary) -> f64 {
    let n = s.cases as f64;
    let criteria: (usize, usize) = s
        .criteria
        .iter()
        .fold((0, 0), |(a, l), c| (a + c.agreed, l + c.labelled));
    let criterion_share = if criteria.1 == 0 {
        0.0
    } else {
        criteria.0 as f64 / criteria.1 as f64
    };
    n * s.decision_agreement + n * criterion_share
        - 3.0 * s.false_passes as f64
        - 2.0 * s.false_fails as f64
}

/// Grades every case of `dir` at every shift of [`GRID`], then fits and
/// cross-validates. Cases are graded case by case across the shifts, so the
/// judge embeds each transcript once.
pub async fn calibrate(
    dir: &Path,
    rubric: &LoadedRubric,
    grader: &dyn CaseGrader,
    folds: usize,
) -> Result<Calibration, CaseError> {
    let shifts: Vec<f32> = GRID.map(shift_of).collect();
    let variants: Vec<LoadedRubric> = shifts.iter().map(|s| with_shift(rubric, *s)).collect();
    let written = rubric.rubric.judge_bars.map_or(0.0, |b| b.shift);
    let mut as_written = Vec::new();
    // table[case][shift]
    let mut table: Vec<Vec<CaseResult>> = Vec::new();
    for (name, pitch, expected) in labelled_cases(dir, rubric)? {
        let mut row = Vec::with_capacity(variants.len());
        for v in &variants {
            let grade = grader.grade_case(v, &name, &pitch).await?;
            row.push(check_case(v, name.clone(), expected.clone(), grade));
        }
        let grade = grader.grade_case(rubric, &name, &pitch).await?;
        as_written.push(check_case(rubric, name, expected, grade));
        table.push(row);
    }
    let folds = folds.clamp(2, table.len().max(2));
    let all: Vec<usize> = (0..table.len()).collect();
    let best_on = |cases: &[usize]| -> usize {
        let mut best: Option<(usize, f64)> = None;
        for (k, s) in shifts.iter().enumerate() {
            let o = objective(&summary_at(&table, cases, |_| k));
            // Ties go to the smaller move: the bars as the judge has them
            // unless the labels say otherwise.
            let better = match best {
                None => true,
                Some((b, bo)) => {
                    o > bo + 1e-9 || ((o - bo).abs() <= 1e-9 && s.abs() < shifts[b].abs())
                }
            };
            if better {
                best = Some((k, o));
            }
        }
        best.map_or(0, |(k, _)| k)
    };
    let fitted = best_on(&all);
    // Case i is in fold i % folds; each fold is graded at the shift fitted
    // on the other folds.
    let fold_pick: Vec<usize> = (0..folds)
        .map(|f| {
            let train: Vec<usize> = all.iter().copied().filter(|i| i % folds != f).collect();
            best_on(&train)
        })
        .collect();
    let cv_cases = SuiteReport {
        cases: all
            .iter()
            .map(|&i| table[i][fold_pick[i % folds]].clone())
            .collect(),
    };
    let cross_validated = cv_cases.summary();
    let curve = shifts
        .iter()
        .enumerate()
        .map(|(k, s)| (*s, objective(&summary_at(&table, &all, |_| k))))
        .collect();
    Ok(Calibration {
        rubric: rubric.rubric.id.clone(),
        version: rubric.rubric.version,
        cases: table.len(),
        folds,
        shift_as_written: written,
        shift_fitted: shifts[fitted],
        fold_shifts: fold_pick.iter().map(|k| shifts[*k]).collect(),
        as_written: SuiteReport { cases: as_written }.summary(),
        in_sample: summary_at(&table, &all, |_| fitted),
        cross_validated,
        curve,
        cross_validated_cases: cv_cases,
    })
}

/// The summary of `cases`, each graded at the shift `pick` gives it.
fn summary_at(
    table: &[Vec<CaseResult>],
    cases: &[usize],
    pick: impl Fn(usize) -> usize,
) -> Summary {
    SuiteReport {
        cases: cases.iter().map(|&i| table[i][pick(i)].clone()).collect(),
    }
    .summary()
}

/// The rubric file's text with the fitted shift written in and `version`
/// bumped: a change that can change a grade is a new version. Comments and
/// layout are kept; an earlier `[judge_bars]` table (and the note above it)
/// is replaced.
pub fn write_shift(text: &str, c: &Calibration, day: &str) -> Result<String, String> {
    let mut out: Vec<String> = Vec::new();
    let mut bumped = false;
    let mut in_header = true;
    let mut skipping = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            in_header = false;
            skipping = trimmed.starts_with("[judge_bars]");
            if skipping {
                while out.last().is_some_and(|l| l.starts_with(NOTE)) {
                    out.pop();
                }
                continue;
            }
        }
        if skipping {
            continue;
        }
        if in_header && !bumped {
            if let Some(rest) = trimmed.strip_prefix("version") {
                let value = rest.trim_start().strip_prefix('=').map(str::trim);
                if let Some(v) = value.and_then(|v| v.split('#').next()).map(str::trim) {
                    let n: u32 = v
                        .parse()
                        .map_err(|_| format!("cannot read version {v:?} to bump it"))?;
                    out.push(format!("version = {}", n + 1));
                    bumped = true;
                    continue;
                }
            }
        }
        out.push(line.to_string());
    }
    if !bumped {
        return Err("no top-level `version = N` line to bump".into());
    }
    while out.last().is_some_and(|l| l.trim().is_empty()) {
        out.pop();
    }
    let pct = |x: f64| format!("{:.0}%", 100.0 * x);
    out.push(String::new());
    out.push(format!(
        "{NOTE} on {} labelled pitches, {day}: decision agreement {} cross-validated ({} as written, {} in sample)",
        c.cases,
        pct(c.cross_validated.decision_agreement),
        pct(c.as_written.decision_agreement),
        pct(c.in_sample.decision_agreement),
    ));
    out.push("[judge_bars]".into());
    out.push(format!("shift = {:.2}", c.shift_fitted));
    let mut text = out.join("\n");
    text.push('\n');
    Ok(text)
}

const NOTE: &str = "# Fitted by `pitchgrade rubric calibrate`";

/// The report `rubric calibrate` prints.
pub fn to_text(c: &Calibration) -> String {
    let mut out = format!(
        "Calibration of {} v{} on {} labelled pitches ({}-fold cross-validation)\n\n",
        c.rubric, c.version, c.cases, c.folds
    );
    out.push_str(&format!(
        "{:<34} {:>6} {:>9} {:>10} {:>6} {:>6} {:>7} {:>13}\n",
        "", "shift", "decision", "label rule", "false", "false", "review", "kappa worst"
    ));
    out.push_str(&format!(
        "{:<34} {:>6} {:>9} {:>10} {:>6} {:>6} {:>7} {:>13}\n",
        "", "", "agrees", "agrees", "passes", "fails", "rate", "/ median"
    ));
    let fold_note = c
        .fold_shifts
        .iter()
        .map(|s| format!("{s:+.2}"))
        .collect::<Vec<_>>()
        .join(" ");
    for (label, shift, s) in [
        (
            "as written".to_string(),
            format!("{:+.2}", c.shift_as_written),
            &c.as_written,
        ),
        (
            "fitted, on the cases it fitted".to_string(),
            format!("{:+.2}", c.shift_fitted),
            &c.in_sample,
        ),
        (
            "cross-validated (trust this)".to_string(),
            "folds".to_string(),
            &c.cross_validated,
        ),
    ] {
        let k = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{x:.2}"));
        out.push_str(&format!(
            "{:<34} {:>6} {:>8.0}% {:>9.0}% {:>6} {:>6} {:>6.0}% {:>13}\n",
            label,
            shift,
            100.0 * s.decision_agreement,
            100.0 * s.label_rule_agreement,
            s.false_passes,
            s.false_fails,
            100.0 * s.review_rate,
            format!("{} / {}", k(s.kappa_worst), k(s.kappa_median)),
        ));
    }
    out.push_str(&format!("\nshift chosen by each fold: {fold_note}\n"));
    if c.holds() {
        out.push_str(&format!(
            "The fitted shift {:+.2} holds on pitches it was not fitted on; `--write` stores it and bumps the version.\n",
            c.shift_fitted
        ));
    } else {
        out.push_str(
            "The fit does no better than the file as written on pitches it was not fitted on: keep the rubric as written (label more pitches, or rewrite the anchors).\n",
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(cases: usize, agreed: f64, fp: usize, ff: usize) -> Summary {
        SuiteReport { cases: vec![] }.summary_with(cases, agreed, fp, ff)
    }

    impl SuiteReport {
        fn summary_with(&self, cases: usize, agreed: f64, fp: usize, ff: usize) -> Summary {
            let mut s = self.summary();
            s.cases = cases;
            s.decision_agreement = agreed;
            s.false_passes = fp;
            s.false_fails = ff;
            s
        }
    }

    fn calibration(shift: f32) -> Calibration {
        let s = summary(10, 0.8, 0, 0);
        Calibration {
            rubric: "r".into(),
            version: 3,
            cases: 10,
            folds: 5,
            shift_as_written: 0.0,
            shift_fitted: shift,
            fold_shifts: vec![shift; 5],
            as_written: summary(10, 0.6, 0, 2),
            in_sample: s.clone(),
            cross_validated: s,
            curve: vec![],
            cross_validated_cases: SuiteReport { cases: vec![] },
        }
    }

    #[test]
    fn a_false_pass_costs_more_than_the_agreement_it_buys() {
        // One more agreeing decision bought with one more false pass is a loss.
        assert!(objective(&summary(10, 0.8, 0, 0)) > objective(&summary(10, 0.9, 1, 0)));
        assert!(objective(&summary(10, 0.8, 0, 0)) > objective(&summary(10, 0.9, 0, 1)));
        assert!(objective(&summary(10, 0.9, 0, 0)) > objective(&summary(10, 0.8, 0, 0)));
    }

    #[test]
    fn writing_bumps_the_version_and_replaces_an_earlier_fit() {
        let text = "# keep me\nid = \"r\"\nversion = 3 # bump\n\n[pass]\nscore = 70\n";
        let once = write_shift(text, &calibration(-0.03), "2026-12-02").expect("writes");
        assert!(once.contains("version = 4\n"), "{once}");
        assert!(once.contains("# keep me\n"));
        assert!(once.ends_with("[judge_bars]\nshift = -0.03\n"), "{once}");
        assert!(
            once.contains("80% cross-validated (60% as written"),
            "{once}"
        );
        let twice = write_shift(&once, &calibration(-0.05), "2026-12-03").expect("writes");
        assert!(twice.contains("version = 5\n"));
        assert_eq!(twice.matches("[judge_bars]").count(), 1, "{twice}");
        assert_eq!(twice.matches(NOTE).count(), 1, "{twice}");
        assert!(twice.ends_with("shift = -0.05\n"));
        // A table after the fit is kept.
        let later = format!("{once}\n[timing]\nweight = 5\n");
        let again = write_shift(&later, &calibration(-0.02), "2026-12-03").expect("writes");
        assert!(again.contains("[timing]\nweight = 5"), "{again}");
        assert_eq!(again.matches("[judge_bars]").count(), 1);
    }

    #[test]
    fn a_file_without_a_version_is_not_rewritten() {
        assert!(write_shift("id = \"r\"\n[pass]\nversion = 2\n", &calibration(0.01), "d").is_err());
    }

    #[test]
    fn a_fit_that_does_worse_held_back_does_not_hold() {
        let mut c = calibration(-0.04);
        assert!(c.holds());
        c.cross_validated = summary(10, 0.5, 1, 2);
        assert!(!c.holds());
    }
}
