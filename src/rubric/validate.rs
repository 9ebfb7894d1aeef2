//! Rules a rubric must follow beyond its syntax and types.
//!
//! Each problem names the field it is about as a path, so lint can point at
//! the exact line and column in the file the enablement team edits.

use std::collections::BTreeSet;

use super::criteria::RESERVED_IDS;
use super::model::Rubric;

/// One step of a path into the rubric document: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(&'static str),
    Index(usize),
}

/// A field path plus what is wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub path: Vec<Seg>,
    pub message: String,
}

/// Weights above this are almost certainly a typo (an extra zero); weights are
/// relative, so nothing needs them that large.
pub const MAX_WEIGHT: f64 = 1000.0;

/// Largest fitted move of the judge's similarity bars (`[judge_bars] shift`).
pub const MAX_JUDGE_SHIFT: f32 = 0.10;

use Seg::{Index, Key};

pub fn validate(r: &Rubric) -> Vec<Finding> {
    let mut v = Validator { out: Vec::new() };
    v.rubric(r);
    v.out
}

struct Validator {
    out: Vec<Finding>,
}

impl Validator {
    fn add(&mut self, path: Vec<Seg>, message: impl Into<String>) {
        self.out.push(Finding {
            path,
            message: message.into(),
        });
    }

    fn non_empty(&mut self, path: Vec<Seg>, text: &str, what: &str) {
        if text.trim().is_empty() {
            self.add(path, format!("{what} is empty"));
        }
    }

    fn weight(&mut self, path: Vec<Seg>, w: f64) {
        if !w.is_finite() || w <= 0.0 {
            self.add(path, format!("weight must be positive, got {w}"));
        } else if w > MAX_WEIGHT {
            self.add(
                path,
                format!("weight {w} is absurd (max {MAX_WEIGHT}); weights are relative points"),
            );
        }
    }

    fn examples(&mut self, base: Vec<Seg>, examples: &[String]) {
        for (i, e) in examples.iter().enumerate() {
            let mut p = base.clone();
            p.extend([Key("examples"), Index(i)]);
            self.non_empty(p, e, "example");
        }
    }

    fn rubric(&mut self, r: &Rubric) {
        if let Some(bars) = &r.judge_bars {
            // Beyond a tenth the global bars were wrong for this rubric in a
            // way a shift cannot honestly mend: met would mean "on the topic".
            if !bars.shift.is_finite() || bars.shift.abs() > MAX_JUDGE_SHIFT + 1e-6 {
                self.add(
                    vec![Key("judge_bars"), Key("shift")],
                    format!(
                        "shift must be between -{MAX_JUDGE_SHIFT} and {MAX_JUDGE_SHIFT}, got {}",
                        bars.shift
                    ),
                );
            }
        }
        let id_ok = !r.id.is_empty()
            && r.id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !id_ok {
            self.add(
                vec![Key("id")],
                format!("id {:?} must be lowercase letters, digits and dashes", r.id),
            );
        }
        if r.version == 0 {
            self.add(vec![Key("version")], "version must be 1 or more");
        }
        self.non_empty(
            vec![Key("scenario"), Key("buyer")],
            &r.scenario.buyer,
            "scenario.buyer",
        );

        let mut seen = BTreeSet::new();
        for (i, tp) in r.talking_points.iter().enumerate() {
            let base = vec![Key("talking_point"), Index(i)];
            self.criterion_id(&base, &tp.id, &mut seen);
            self.weight([base.clone(), vec![Key("weight")]].concat(), tp.weight);
            self.non_empty(
                [base.clone(), vec![Key("description")]].concat(),
                &tp.description,
                "description",
            );
            self.non_empty(
                [base.clone(), vec![Key("coaching")]].concat(),
                &tp.coaching,
                "coaching",
            );
            self.examples(base, &tp.examples);
        }
        for (i, ob) in r.objections.iter().enumerate() {
            let base = vec![Key("objection"), Index(i)];
            self.criterion_id(&base, &ob.id, &mut seen);
            self.weight([base.clone(), vec![Key("weight")]].concat(), ob.weight);
            self.non_empty(
                [base.clone(), vec![Key("raised_as")]].concat(),
                &ob.raised_as,
                "raised_as",
            );
            self.non_empty(
                [base.clone(), vec![Key("good_response")]].concat(),
                &ob.good_response,
                "good_response",
            );
            self.non_empty(
                [base.clone(), vec![Key("coaching")]].concat(),
                &ob.coaching,
                "coaching",
            );
            self.examples(base.clone(), &ob.examples);
            if !r.scenario.objections.contains(&ob.id) {
                self.add(
                    [base, vec![Key("id")]].concat(),
                    format!(
                        "objection {:?} is not in scenario.objections, so the buyer never raises it",
                        ob.id
                    ),
                );
            }
        }
        for (i, id) in r.scenario.objections.iter().enumerate() {
            if !r.objections.iter().any(|o| &o.id == id) {
                self.add(
                    vec![Key("scenario"), Key("objections"), Index(i)],
                    format!("scenario objection {id:?} has no [[objection]] with that id"),
                );
            }
        }
        if let Some(tone) = &r.tone {
            self.weight(vec![Key("tone"), Key("weight")], tone.weight);
            self.non_empty(
                vec![Key("tone"), Key("description")],
                &tone.description,
                "description",
            );
            self.non_empty(
                vec![Key("tone"), Key("coaching")],
                &tone.coaching,
                "coaching",
            );
            self.examples(vec![Key("tone")], &tone.examples);
        }
        if let Some(t) = &r.timing {
            self.weight(vec![Key("timing"), Key("weight")], t.weight);
            let target = vec![Key("timing"), Key("target_seconds")];
            let limit = vec![Key("timing"), Key("limit_seconds")];
            self.range(target.clone(), t.target_seconds, "target_seconds");
            self.range(limit.clone(), t.limit_seconds, "limit_seconds");
            if t.target_seconds[0] < t.limit_seconds[0] || t.target_seconds[1] > t.limit_seconds[1]
            {
                self.add(
                    target,
                    format!(
                        "target {:?} lies outside the hard limits {:?}",
                        t.target_seconds, t.limit_seconds
                    ),
                );
            }
        }
        if let Some(d) = &r.delivery {
            self.delivery(d);
        }
        self.pass(r);
    }

    fn criterion_id(&mut self, base: &[Seg], id: &str, seen: &mut BTreeSet<String>) {
        let path = [base.to_vec(), vec![Key("id")]].concat();
        if id.trim().is_empty() {
            self.add(path, "id is empty");
        } else if RESERVED_IDS.contains(&id) {
            self.add(
                path,
                format!("id {id:?} is reserved for a built-in criterion"),
            );
        } else if !seen.insert(id.to_string()) {
            self.add(path, format!("duplicate criterion id {id:?}"));
        }
    }

    fn range(&mut self, path: Vec<Seg>, [lo, hi]: [f64; 2], what: &str) {
        if !lo.is_finite() || !hi.is_finite() || lo < 0.0 {
            self.add(
                path,
                format!("{what} must be finite and not negative, got [{lo}, {hi}]"),
            );
        } else if lo >= hi {
            self.add(
                path,
                format!("{what} is impossible: min {lo} is not below max {hi}"),
            );
        }
    }

    fn delivery(&mut self, d: &super::model::Delivery) {
        let base = |k| vec![Key("delivery"), Key(k)];
        self.weight(base("weight"), d.weight);
        self.range(
            base("words_per_minute"),
            d.words_per_minute,
            "words_per_minute",
        );
        if let Some(lim) = d.words_per_minute_limits {
            self.range(
                base("words_per_minute_limits"),
                lim,
                "words_per_minute_limits",
            );
            if d.words_per_minute[0] < lim[0] || d.words_per_minute[1] > lim[1] {
                self.add(
                    base("words_per_minute"),
                    format!(
                        "band {:?} lies outside the hard limits {lim:?}",
                        d.words_per_minute
                    ),
                );
            }
        }
        if !(d.max_filler_ratio > 0.0 && d.max_filler_ratio < 1.0) {
            self.add(
                base("max_filler_ratio"),
                format!(
                    "max_filler_ratio must be between 0 and 1, got {}",
                    d.max_filler_ratio
                ),
            );
        }
        if let Some(lim) = d.filler_ratio_limit {
            if !(lim > d.max_filler_ratio && lim <= 1.0) {
                self.add(
                    base("filler_ratio_limit"),
                    format!("filler_ratio_limit must be above max_filler_ratio and at most 1, got {lim}"),
                );
            }
        }
        if !(d.max_pause_seconds.is_finite() && d.max_pause_seconds > 0.0) {
            self.add(
                base("max_pause_seconds"),
                format!(
                    "max_pause_seconds must be positive, got {}",
                    d.max_pause_seconds
                ),
            );
        }
        if let Some(lim) = d.pause_limit_seconds {
            if !(lim.is_finite() && lim > d.max_pause_seconds) {
                self.add(
                    base("pause_limit_seconds"),
                    format!("pause_limit_seconds must be above max_pause_seconds, got {lim}"),
                );
            }
        }
        match (
            d.min_pitch_variation_semitones,
            d.pitch_variation_floor_semitones,
        ) {
            (Some(min), floor) => {
                if !(min.is_finite() && min > 0.0 && min <= 24.0) {
                    self.add(
                        base("min_pitch_variation_semitones"),
                        format!("min_pitch_variation_semitones must be in (0, 24], got {min}"),
                    );
                }
                if let Some(f) = floor {
                    if !(f >= 0.0 && f < min) {
                        self.add(
                            base("pitch_variation_floor_semitones"),
                            format!(
                                "pitch_variation_floor_semitones must be in [0, {min}), got {f}"
                            ),
                        );
                    }
                }
            }
            (None, Some(_)) => self.add(
                base("pitch_variation_floor_semitones"),
                "pitch_variation_floor_semitones needs min_pitch_variation_semitones",
            ),
            (None, None) => {}
        }
    }

    fn pass(&mut self, r: &Rubric) {
        let p = &r.pass;
        if !(p.score > 0.0 && p.score <= 100.0) {
            self.add(
                vec![Key("pass"), Key("score")],
                format!("pass score must be in (0, 100], got {}", p.score),
            );
        }
        if !(p.borderline >= 0.0 && p.borderline < 50.0) {
            self.add(
                vec![Key("pass"), Key("borderline")],
                format!("borderline band must be in [0, 50), got {}", p.borderline),
            );
        }
        if let Some(c) = p.min_transcript_confidence {
            if !(0.0..=1.0).contains(&c) {
                self.add(
                    vec![Key("pass"), Key("min_transcript_confidence")],
                    format!("min_transcript_confidence must be in [0, 1], got {c}"),
                );
            }
        }
        let criteria = r.criteria();
        if criteria.is_empty() {
            self.add(vec![Key("id")], "the rubric has no criteria to grade");
        }
        let ids: Vec<&str> = criteria.iter().map(|c| c.id.as_str()).collect();
        for (i, req) in p.required.iter().enumerate() {
            if !ids.contains(&req.as_str()) {
                self.add(
                    vec![Key("pass"), Key("required"), Index(i)],
                    format!(
                        "required criterion {req:?} does not exist (known: {})",
                        ids.join(", ")
                    ),
                );
            }
        }
    }
}
