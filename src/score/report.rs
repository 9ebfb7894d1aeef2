//! The readable grade: what a rep reads first and a reviewer skims.

use std::fmt::Write;

use super::decide::{Decision, Verdict};
use super::grade::{CriterionGrade, Grade};
use super::untrusted::mm_ss;

/// Renders a grade as plain text: decision and score, why, a row per
/// criterion, the evidence each verdict rests on, and one tip per miss.
pub fn render(grade: &Grade) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_report(&mut out, grade);
    out
}

fn write_report(out: &mut String, g: &Grade) -> std::fmt::Result {
    let decision = match g.decision {
        Decision::Pass => "PASS",
        Decision::Fail => "FAIL",
        Decision::Borderline => "BORDERLINE — sent to a reviewer",
    };
    writeln!(out, "Decision: {decision}")?;
    writeln!(
        out,
        "Score:    {:.1} / 100 (pass bar {}, review band ±{})",
        g.score, g.pass_score, g.borderline_band
    )?;
    if let Some((scored, total)) = g.points_scored() {
        writeln!(
            out,
            "          only {} of {} points could be scored; the score is a share of those",
            fmt_points(scored),
            fmt_points(total)
        )?;
    }
    let short_hash = g.rubric.sha256.get(..12).unwrap_or(&g.rubric.sha256);
    writeln!(
        out,
        "Rubric:   {} v{} (sha256 {short_hash}…)",
        g.rubric.id, g.rubric.version
    )?;
    writeln!(
        out,
        "Backends: transcript {} ({}), judge {} ({})",
        g.backends.transcriber,
        g.backends.transcriber_model,
        g.backends.judge,
        g.backends.judge_model
    )?;
    writeln!(out, "\nWhy:")?;
    for r in &g.reasons {
        writeln!(out, "  - {}", r.message)?;
    }

    let width = g
        .criteria
        .iter()
        .map(|c| label(c).chars().count())
        .max()
        .unwrap_or(9)
        .max(9);
    writeln!(
        out,
        "\n{:<width$}  {:<9}  {:>13}  Detail",
        "Criterion", "Verdict", "Points"
    )?;
    for c in &g.criteria {
        let points = match c.score {
            Some(s) => format!("{s:.1} / {:.1}", c.max),
            None => format!("– / {:.1}", c.max),
        };
        let detail = match &c.measured {
            Some(m) => format!(
                "{} {} (target {})",
                fmt_value(m.value, &m.unit),
                m.unit,
                m.target
            ),
            None => c.rationale.clone(),
        };
        writeln!(
            out,
            "{:<width$}  {:<9}  {:>13}  {}",
            label(c),
            verdict_name(c.verdict),
            points,
            one_line(&detail, 90)
        )?;
    }

    let with_evidence: Vec<&CriterionGrade> = g
        .criteria
        .iter()
        .filter(|c| !c.evidence.is_empty())
        .collect();
    if !with_evidence.is_empty() {
        writeln!(out, "\nEvidence:")?;
        for c in with_evidence {
            for e in &c.evidence {
                writeln!(
                    out,
                    "  {} [{}–{}] \"{}\"",
                    c.id,
                    mm_ss(e.start),
                    mm_ss(e.end),
                    one_line(&e.quote, 120)
                )?;
            }
        }
    }

    let tips: Vec<&CriterionGrade> = g.criteria.iter().filter(|c| c.coaching.is_some()).collect();
    if !tips.is_empty() {
        writeln!(out, "\nCoaching:")?;
        for c in tips {
            if let Some(tip) = &c.coaching {
                writeln!(out, "  - {}: {}", c.id, tip)?;
            }
        }
    }

    let mut notes = Vec::new();
    if g.flags.injection_flagged {
        for e in &g.flags.injection_evidence {
            notes.push(format!(
                "text addressed to the grader at {}: \"{}\" (gains nothing; flagged for review)",
                mm_ss(e.start),
                one_line(&e.quote, 100)
            ));
        }
    }
    if g.flags.audio_criteria_unscored {
        notes.push(
            "graded from a transcript: audio-only criteria are unscored and left out of the score"
                .into(),
        );
    }
    if g.flags.synthetic_word_times {
        notes.push(
            "word times are synthetic (typed transcript, 150 wpm); evidence times are approximate"
                .into(),
        );
    }
    if g.flags.filler_count_is_lower_bound {
        notes.push("the transcriber may drop fillers: the filler count is a lower bound".into());
    }
    if !notes.is_empty() {
        writeln!(out, "\nNotes:")?;
        for n in notes {
            writeln!(out, "  - {n}")?;
        }
    }
    Ok(())
}

fn label(c: &CriterionGrade) -> String {
    if c.required {
        format!("{} (required)", c.id)
    } else {
        c.id.clone()
    }
}

fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Met => "met",
        Verdict::Partial => "partial",
        Verdict::Missed => "missed",
        Verdict::Unscored => "unscored",
    }
}

fn fmt_value(value: f64, unit: &str) -> String {
    match unit {
        "ratio" => format!("{value:.3}"),
        "words/minute" => format!("{value:.0}"),
        _ => format!("{value:.1}"),
    }
}

/// Collapses whitespace and cuts long text so each row stays one line.
fn one_line(text: &str, max_chars: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max_chars {
        flat
    } else {
        let cut: String = flat.chars().take(max_chars.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

fn fmt_points(x: f64) -> String {
    if (x - x.round()).abs() < 0.05 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}
