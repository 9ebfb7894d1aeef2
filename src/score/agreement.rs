//! How far the grader agrees with careful humans on a labelled set.
//!
//! Raw accuracy hides a judge that says "met" to everything on a set where most
//! points are met, so every criterion also gets Cohen's κ (agreement beyond what
//! the two raters' base rates give by chance). The decision is compared twice:
//! as the grade decided it, and as the *label rule* derives it from the judge's
//! per-criterion verdicts. The second isolates the judge from the decision
//! code's extra caution (a review for low confidence is not a judging error).

use std::collections::BTreeMap;

use serde::Serialize;

use super::decide::{decide, CriterionOutcome, Decision, Signals, Verdict};
use crate::rubric::{PassRule, Rubric};

/// Cohen's κ of two raters over the same items. `None` when it is undefined:
/// no items, or both raters used one and the same category for every item
/// (chance agreement is then 1 and κ is 0/0).
pub fn cohen_kappa(pairs: &[(Verdict, Verdict)]) -> Option<f64> {
    let n = pairs.len();
    if n == 0 {
        return None;
    }
    let cats = [
        Verdict::Met,
        Verdict::Partial,
        Verdict::Missed,
        Verdict::Unscored,
    ];
    let observed = pairs.iter().filter(|(a, b)| a == b).count() as f64 / n as f64;
    let chance: f64 = cats
        .iter()
        .map(|c| {
            let a = pairs.iter().filter(|(x, _)| x == c).count() as f64 / n as f64;
            let b = pairs.iter().filter(|(_, y)| y == c).count() as f64 / n as f64;
            a * b
        })
        .sum();
    if (1.0 - chance).abs() < 1e-12 {
        return None;
    }
    Some((observed - chance) / (1.0 - chance))
}

/// The decision the labelling conventions derive from per-criterion verdicts
/// (`rubrics/tests/README.md`, "The label rule"): the rubric's weights over the
/// given criteria, met 1 / partial ½ / missed 0, a pitch addressing the grader
/// to review, then the rubric's pass rule. It is [`decide`] on those inputs, so
/// labels and grades can never be derived by two different rules.
pub fn label_rule(
    rubric: &Rubric,
    verdicts: &BTreeMap<String, Verdict>,
    injection: bool,
) -> Decision {
    let specs = rubric.criteria();
    let outcomes: Vec<CriterionOutcome<'_>> = specs
        .iter()
        .filter_map(|spec| {
            let verdict = *verdicts.get(&spec.id)?;
            let credit = match verdict {
                Verdict::Met => Some(1.0),
                Verdict::Partial => Some(0.5),
                Verdict::Missed => Some(0.0),
                Verdict::Unscored => None,
            };
            Some(CriterionOutcome {
                id: spec.id.as_str(),
                weight: spec.weight,
                credit,
                verdict,
                unscored: None,
                required: rubric.pass.required.contains(&spec.id),
                unsure: None,
            })
        })
        .collect();
    let rule = PassRule {
        // The label rule has no transcript; confidence plays no part in it.
        min_transcript_confidence: Some(0.0),
        ..rubric.pass.clone()
    };
    let signals = Signals {
        transcript_confidence: None,
        injection_flagged: injection,
        unclear_recording: None,
    };
    decide(&rule, &outcomes, &signals).decision
}

/// Agreement on one criterion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriterionAgreement {
    pub id: String,
    pub labelled: usize,
    pub agreed: usize,
    pub accuracy: f64,
    /// `None` when undefined (see [`cohen_kappa`]).
    pub kappa: Option<f64>,
}

/// Rows are the label's decision, columns the grade's, both in
/// [`DECISIONS`] order.
pub type Confusion = [[usize; 3]; 3];

pub const DECISIONS: [Decision; 3] = [Decision::Pass, Decision::Borderline, Decision::Fail];

pub fn decision_index(d: Decision) -> usize {
    match d {
        Decision::Pass => 0,
        Decision::Borderline => 1,
        Decision::Fail => 2,
    }
}

/// The figures a labelled set is judged by.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub cases: usize,
    /// The grade's own decision equals the label.
    pub decision_agreement: f64,
    /// The label rule applied to the judge's verdicts equals the label.
    pub label_rule_agreement: f64,
    /// Labelled fail or borderline, graded pass: a rep certified who should not be.
    pub false_passes: usize,
    /// Labelled pass, graded fail outright: a good rep who loses an attempt.
    pub false_fails: usize,
    /// Share of all cases the grade sends to a reviewer.
    pub review_rate: f64,
    pub confusion: Confusion,
    /// Cases tagged `paraphrase` and labelled pass: how many the grade passes, of how many.
    pub paraphrase_passes: (usize, usize),
    pub criteria: Vec<CriterionAgreement>,
    pub kappa_worst: Option<f64>,
    pub kappa_median: Option<f64>,
}

/// One labelled case as the summary needs it.
pub struct Scored<'a> {
    pub label: Decision,
    pub graded: Decision,
    pub label_rule: Decision,
    pub paraphrase: bool,
    /// `(criterion id, label, judge's verdict)`.
    pub verdicts: Vec<(&'a str, Verdict, Verdict)>,
}

pub fn summarise(cases: &[Scored<'_>]) -> Summary {
    let n = cases.len();
    let share = |k: usize| if n == 0 { 0.0 } else { k as f64 / n as f64 };
    let mut confusion = [[0usize; 3]; 3];
    for c in cases {
        confusion[decision_index(c.label)][decision_index(c.graded)] += 1;
    }
    let mut per: Vec<(&str, Vec<(Verdict, Verdict)>)> = Vec::new();
    for c in cases {
        for &(id, want, got) in &c.verdicts {
            match per.iter_mut().find(|(i, _)| *i == id) {
                Some((_, pairs)) => pairs.push((want, got)),
                None => per.push((id, vec![(want, got)])),
            }
        }
    }
    let criteria: Vec<CriterionAgreement> = per
        .into_iter()
        .map(|(id, pairs)| {
            let agreed = pairs.iter().filter(|(a, b)| a == b).count();
            CriterionAgreement {
                id: id.to_string(),
                labelled: pairs.len(),
                agreed,
                accuracy: agreed as f64 / pairs.len().max(1) as f64,
                kappa: cohen_kappa(&pairs),
            }
        })
        .collect();
    let mut kappas: Vec<f64> = criteria.iter().filter_map(|c| c.kappa).collect();
    kappas.sort_by(f64::total_cmp);
    let kappa_median = match kappas.len() {
        0 => None,
        k if k % 2 == 1 => Some(kappas[k / 2]),
        k => Some((kappas[k / 2 - 1] + kappas[k / 2]) / 2.0),
    };
    let paraphrase: Vec<&Scored<'_>> = cases
        .iter()
        .filter(|c| c.paraphrase && c.label == Decision::Pass)
        .collect();
    Summary {
        cases: n,
        decision_agreement: share(cases.iter().filter(|c| c.label == c.graded).count()),
        label_rule_agreement: share(cases.iter().filter(|c| c.label == c.label_rule).count()),
        false_passes: cases
            .iter()
            .filter(|c| c.label != Decision::Pass && c.graded == Decision::Pass)
            .count(),
        false_fails: cases
            .iter()
            .filter(|c| c.label == Decision::Pass && c.graded == Decision::Fail)
            .count(),
        review_rate: share(
            cases
                .iter()
                .filter(|c| c.graded == Decision::Borderline)
                .count(),
        ),
        confusion,
        paraphrase_passes: (
            paraphrase
                .iter()
                .filter(|c| c.graded == Decision::Pass)
                .count(),
            paraphrase.len(),
        ),
        kappa_worst: kappas.first().copied(),
        kappa_median,
        criteria,
    }
}

/// Bars a labelled set must meet: the rubric's `[agreement]` table overlaid
/// with `rubric test` flags.
pub use crate::rubric::model::AgreementBars as Thresholds;

impl Thresholds {
    pub fn is_empty(&self) -> bool {
        *self == Thresholds::default()
    }

    /// `self` with every bar `over` sets replaced by `over`'s.
    pub fn overlaid(&self, over: &Thresholds) -> Thresholds {
        Thresholds {
            min_decision_agreement: over.min_decision_agreement.or(self.min_decision_agreement),
            min_label_rule_agreement: over
                .min_label_rule_agreement
                .or(self.min_label_rule_agreement),
            min_kappa: over.min_kappa.or(self.min_kappa),
            min_median_kappa: over.min_median_kappa.or(self.min_median_kappa),
            max_false_passes: over.max_false_passes.or(self.max_false_passes),
            max_false_fails: over.max_false_fails.or(self.max_false_fails),
            max_review_rate: over.max_review_rate.or(self.max_review_rate),
        }
    }

    /// One sentence per bar the summary does not meet.
    pub fn failures(&self, s: &Summary) -> Vec<String> {
        let mut out = Vec::new();
        let pct = |x: f64| format!("{:.0}%", 100.0 * x);
        if let Some(min) = self.min_decision_agreement {
            if s.decision_agreement < min {
                out.push(format!(
                    "decision agreement {} is below {}",
                    pct(s.decision_agreement),
                    pct(min)
                ));
            }
        }
        if let Some(min) = self.min_label_rule_agreement {
            if s.label_rule_agreement < min {
                out.push(format!(
                    "label-rule decision agreement {} is below {}",
                    pct(s.label_rule_agreement),
                    pct(min)
                ));
            }
        }
        if let Some(min) = self.min_kappa {
            match s.kappa_worst {
                Some(k) if k < min => {
                    let worst = s
                        .criteria
                        .iter()
                        .filter(|c| c.kappa.is_some_and(|x| x <= k))
                        .map(|c| c.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ");
                    out.push(format!("worst κ {k:.2} ({worst}) is below {min:.2}"));
                }
                _ => {}
            }
        }
        if let Some(min) = self.min_median_kappa {
            if let Some(k) = s.kappa_median.filter(|k| *k < min) {
                out.push(format!("median κ {k:.2} is below {min:.2}"));
            }
        }
        if let Some(max) = self.max_false_passes {
            if s.false_passes > max {
                out.push(format!(
                    "{} false pass(es), at most {max} allowed",
                    s.false_passes
                ));
            }
        }
        if let Some(max) = self.max_false_fails {
            if s.false_fails > max {
                out.push(format!(
                    "{} false fail(s), at most {max} allowed",
                    s.false_fails
                ));
            }
        }
        if let Some(max) = self.max_review_rate {
            if s.review_rate > max {
                out.push(format!(
                    "review rate {} is above {}",
                    pct(s.review_rate),
                    pct(max)
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Verdict::*;

    #[test]
    fn kappa_is_one_for_perfect_agreement_and_zero_at_chance() {
        let perfect = [(Met, Met), (Missed, Missed), (Partial, Partial)];
        assert_eq!(cohen_kappa(&perfect), Some(1.0));
        // Rater B says met to everything: 50% raw agreement, nothing beyond chance.
        let lazy = [(Met, Met), (Missed, Met), (Met, Met), (Missed, Met)];
        let k = cohen_kappa(&lazy).expect("defined");
        assert!(k.abs() < 1e-9, "{k}");
    }

    #[test]
    fn kappa_is_undefined_when_both_raters_use_one_category() {
        assert_eq!(cohen_kappa(&[(Met, Met), (Met, Met)]), None);
        assert_eq!(cohen_kappa(&[]), None);
    }

    #[test]
    fn kappa_matches_a_worked_example() {
        // 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no: po 0.7, pe 0.5, κ 0.4.
        let mut pairs = vec![(Met, Met); 20];
        pairs.extend(vec![(Met, Missed); 5]);
        pairs.extend(vec![(Missed, Met); 10]);
        pairs.extend(vec![(Missed, Missed); 15]);
        let k = cohen_kappa(&pairs).expect("defined");
        assert!((k - 0.4).abs() < 1e-9, "{k}");
    }

    fn scored(label: Decision, graded: Decision) -> Scored<'static> {
        Scored {
            label,
            graded,
            label_rule: graded,
            paraphrase: false,
            verdicts: vec![],
        }
    }

    #[test]
    fn false_passes_and_false_fails_are_counted_apart_from_reviews() {
        use Decision::*;
        let cases = [
            scored(Pass, Pass),
            scored(Pass, Fail),
            scored(Pass, Borderline),
            scored(Fail, Pass),
            scored(Borderline, Pass),
            scored(Fail, Fail),
        ];
        let s = summarise(&cases);
        assert_eq!(s.false_fails, 1);
        assert_eq!(s.false_passes, 2);
        assert!((s.review_rate - 1.0 / 6.0).abs() < 1e-9);
        assert!((s.decision_agreement - 2.0 / 6.0).abs() < 1e-9);
        assert_eq!(s.confusion[0], [1, 1, 1]);
        assert_eq!(s.confusion[2], [1, 0, 1]);
    }

    #[test]
    fn thresholds_name_each_bar_missed_and_flags_win_over_the_rubric() {
        use Decision::*;
        let s = summarise(&[scored(Pass, Fail), scored(Fail, Fail)]);
        let rubric = Thresholds {
            max_false_fails: Some(1),
            min_decision_agreement: Some(0.9),
            ..Default::default()
        };
        let flags = Thresholds {
            max_false_fails: Some(0),
            ..Default::default()
        };
        let t = rubric.overlaid(&flags);
        let f = t.failures(&s);
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f.iter().any(|m| m.contains("false fail")));
        assert!(rubric
            .failures(&s)
            .iter()
            .all(|m| !m.contains("false fail")));
    }
}
