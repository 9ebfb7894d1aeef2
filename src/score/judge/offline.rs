//! The offline judge, the default: deterministic and meaning-based.
//!
//! Every sentence window of the transcript and every anchor (the criterion's
//! description and example phrasings) is embedded with all-MiniLM-L6-v2
//! (or all-mpnet-base-v2, if configured); a criterion is met when some
//! window means nearly the same as some anchor.
//! Meaning, not keywords: a paraphrase lands close to its anchor, and a
//! window must also read as a claim (clause structure, not a list of terms),
//! so reciting the buzzwords of a talking point earns nothing. Sentences that
//! address the grader are removed before anything is compared.
//!
//! Embeddings of anchors are cached for the judge's lifetime (a rubric is
//! judged many times); the last transcript's windows are cached too, because
//! the [`Judge`] trait asks one criterion at a time.

mod anchors;
/// The packed BERT forward, a crate of its own (built optimised in every profile).
pub use pitchgrade_minilm as bert;
pub mod embedder;
pub mod windows;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use self::embedder::{cosine, Embedder, Engine, Pooled};
use self::windows::{Window, Windows};
use super::{Evidence, Judge, JudgeError, JudgedKind, Judgement, Question};
use crate::rubric::Rubric;
use crate::score::untrusted::mm_ss;
use crate::transcribe::Transcript;

const NAME: &str = "offline";
/// The default embedding model, named in grades when its folder has no name.
const MODEL: &str = "all-MiniLM-L6-v2";

/// Similarity at which a window makes the claim of an anchor.
pub const MET: f32 = 0.55;
/// Similarity at which a window makes part of the claim, or makes it loosely.
pub const PARTIAL: f32 = 0.48;
/// Similarity at which a sentence plays an objection part (acknowledge, check back)
/// or a tone; these anchors are generic, so the bar is one level.
pub const PART: f32 = 0.50;
/// Similarity at which a sentence counts towards a tone (consultative or hard sell);
/// tone anchors are the most generic of all, and a sentence counts for the
/// closer of the two, so a lower bar is safe.
pub const TONE: f32 = 0.40;
/// How far below a bar the closest evidence may fall for the verdict to be
/// unsure rather than confident. The same speech in another container, or
/// with a pause that moves a sentence break, moves a window's similarity by
/// a few hundredths; a verdict that close to its bar is the machine's doubt,
/// and doubt goes to a reviewer, never to a fail.
pub const NEAR: f32 = 0.05;
/// How much further below the partial bar a proposal for a named day or
/// date may land and still make a proposal point (see `talking_point`).
pub const DATED_PROPOSAL_SLACK: f32 = 0.08;
/// Fewest words a window needs to make a talking point in full. A short
/// sentence that names the product ("Tillerly is a finance tool") lands close
/// to every anchor that names it too, yet claims nothing: it earns partial
/// credit at most.
const MIN_MET_WORDS: usize = 8;
/// Sentences around the answer to an objection searched for its other parts.
const OBJECTION_REACH: usize = 3;
/// A window counts for the talking point it is closest to: one that is
/// closer to another point of the rubric by more than this is that point's
/// evidence, not this one's. A sentence on reconciliation that mentions "your
/// bank reconciliation" is somewhat close to a next step that names one, but
/// closer to the reconciliation point. The small margin lets a window about
/// equally close to two points (a peer's result is both proof and the
/// faster-close claim) count for both, and keeps float noise from deciding.
const RIVAL_MARGIN: f32 = 0.02;
/// The similarity bars for the rubric's own anchors (its descriptions and
/// examples): [`MET`] and [`PARTIAL`], moved together by the rubric's
/// `[judge_bars] shift` when `pitchgrade rubric calibrate` fitted one.
///
/// Why a per-rubric shift and nothing finer: how close a good sentence lands
/// to an anchor depends on how the anchors were written (long descriptions,
/// a product's own jargon, examples in another register), which differs from
/// rubric to rubric, and one number fitted on thirty labelled pitches is
/// still well determined where a bar per criterion would fit noise. The
/// generic anchors (acknowledging, checking back, tone) are the judge's own,
/// the same for every rubric, so their bars never move.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bars {
    pub met: f32,
    pub partial: f32,
}

impl Default for Bars {
    fn default() -> Self {
        Self::shifted(0.0)
    }
}

impl Bars {
    /// The bars a rubric's grades use: the global ones, shifted when the
    /// rubric carries a fitted shift.
    pub fn of(rubric: &Rubric) -> Self {
        Self::shifted(rubric.judge_bars.as_ref().map_or(0.0, |b| b.shift))
    }

    pub fn shifted(shift: f32) -> Self {
        // On the same 3-decimal grid as the similarities they are compared
        // with, so 0.55 - 0.03 is 0.52 exactly and not 0.52000004.
        let grid = |x: f32| (x * 1000.0).round() / 1000.0;
        Self {
            met: grid(MET + shift),
            partial: grid(PARTIAL + shift),
        }
    }
}

/// How much closer to an objection's answer than to a talking point a window
/// must be to count as the objection's evidence and not the point's.
const OBJECTION_RIVAL_MARGIN: f32 = 0.08;
/// Words that open a closed (yes/no) question.
const CLOSED_QUESTION: &[&str] = &[
    "is", "isnt", "does", "doesnt", "do", "dont", "would", "wouldnt", "could", "can", "will",
    "are", "did", "should", "shall", "has", "have", "was", "am",
];

pub struct OfflineJudge {
    inner: Arc<Inner>,
    /// The embedding model as grades name it: its folder's name
    /// (`all-MiniLM-L6-v2`, `all-mpnet-base-v2`).
    model: String,
}

struct Inner {
    embedder: Embedder,
    anchors: Mutex<HashMap<String, Arc<Vec<f32>>>>,
    last: Mutex<Option<([u8; 32], Arc<Embedded>)>>,
}

/// A transcript's windows with one embedding per window.
struct Embedded {
    windows: Windows,
    vectors: Vec<Vec<f32>>,
}

/// The closest window to a set of anchors.
#[derive(Debug, Clone, Copy)]
struct Best {
    window: usize,
    similarity: f32,
}

impl OfflineJudge {
    /// Loads the embedding model from `model_dir` (the all-MiniLM-L6-v2 folder
    /// holding `config.json`, `tokenizer.json`, `model.safetensors`).
    pub fn load(model_dir: &Path) -> Result<Self, JudgeError> {
        Self::load_with(model_dir, Engine::default())
    }

    /// As [`OfflineJudge::load`], embedding on `engine` (benchmarks compare them).
    pub fn load_with(model_dir: &Path, engine: Engine) -> Result<Self, JudgeError> {
        let embedder = Embedder::load_with(model_dir, engine).map_err(|e| JudgeError::Setup {
            judge: NAME.into(),
            message: format!("loading {}: {e}", model_dir.display()),
        })?;
        let model = model_dir
            .file_name()
            .map_or_else(|| MODEL.to_string(), |n| n.to_string_lossy().into_owned());
        Ok(Self {
            model,
            inner: Arc::new(Inner {
                embedder,
                anchors: Mutex::new(HashMap::new()),
                last: Mutex::new(None),
            }),
        })
    }

    /// Judges on the calling thread. The async [`Judge::judge`] runs this on
    /// a blocking thread so the model never stalls the runtime.
    pub fn judge_blocking(
        &self,
        question: &Question,
        transcript: &Transcript,
    ) -> Result<Judgement, JudgeError> {
        self.inner.judge(Bars::default(), question, &[], transcript)
    }

    /// As [`OfflineJudge::judge_blocking`], knowing the rubric's other
    /// criteria: a window that makes another point far better does not
    /// count for this one (see [`RIVAL_MARGIN`]).
    pub fn judge_blocking_in(
        &self,
        rubric: &Rubric,
        question: &Question,
        transcript: &Transcript,
    ) -> Result<Judgement, JudgeError> {
        self.inner.judge(
            Bars::of(rubric),
            question,
            &rivals(rubric, question),
            transcript,
        )
    }
}

/// The rubric's other talking points and objections: what a window could be
/// evidence of instead. An objection outranks a point only by the wider
/// [`OBJECTION_RIVAL_MARGIN`]: an answer to a migration worry ("we connect
/// to your ERP") may well make the integration point too, but an answer
/// about false alarms is not the downtime claim because both mention alerts.
fn rivals(rubric: &Rubric, question: &Question) -> Vec<Question> {
    rubric
        .criteria()
        .iter()
        .filter(|spec| spec.id != question.criterion_id)
        .filter_map(|spec| crate::score::grade::question_for(rubric, spec))
        .filter(|q| q.kind != JudgedKind::Tone)
        .collect()
}

#[async_trait::async_trait]
impl Judge for OfflineJudge {
    fn name(&self) -> &str {
        NAME
    }

    fn model(&self) -> &str {
        &self.model
    }

    async fn judge(
        &self,
        rubric: &Rubric,
        question: &Question,
        transcript: &Transcript,
    ) -> Result<Judgement, JudgeError> {
        let inner = Arc::clone(&self.inner);
        let rivals = rivals(rubric, question);
        let bars = Bars::of(rubric);
        let (question, transcript) = (question.clone(), transcript.clone());
        tokio::task::spawn_blocking(move || inner.judge(bars, &question, &rivals, &transcript))
            .await
            .map_err(|e| JudgeError::Setup {
                judge: NAME.into(),
                message: format!("judge thread failed: {e}"),
            })?
    }
}

impl Inner {
    fn judge(
        &self,
        bars: Bars,
        q: &Question,
        rivals: &[Question],
        transcript: &Transcript,
    ) -> Result<Judgement, JudgeError> {
        if q.description.trim().is_empty() && q.examples.iter().all(|e| e.trim().is_empty()) {
            return Err(setup(format!(
                "criterion {} has no description or examples to compare with",
                q.criterion_id
            )));
        }
        let embedded = self.embedded(transcript)?;
        let mut own: Vec<&str> = vec![q.description.as_str()];
        own.extend(q.examples.iter().map(String::as_str));
        own.retain(|s| !s.trim().is_empty());
        let verdict = match q.kind {
            JudgedKind::TalkingPoint => {
                self.talking_point(bars, q, rivals, transcript, &embedded, &own)?
            }
            JudgedKind::Objection => self.objection(bars, q, transcript, &embedded, &own)?,
            JudgedKind::Tone => self.tone(q, transcript, &embedded, &own)?,
        };
        Ok(verdict)
    }

    fn talking_point(
        &self,
        bars: Bars,
        q: &Question,
        rivals: &[Question],
        t: &Transcript,
        e: &Embedded,
        own: &[&str],
    ) -> Result<Judgement, JudgeError> {
        let anchors = self.anchor_vectors(own)?;
        let mut rival_anchors = Vec::with_capacity(rivals.len());
        for r in rivals {
            let mut texts: Vec<&str> = vec![r.description.as_str()];
            texts.extend(r.examples.iter().map(String::as_str));
            texts.retain(|s| !s.trim().is_empty());
            let margin = if r.kind == JudgedKind::Objection {
                OBJECTION_RIVAL_MARGIN
            } else {
                RIVAL_MARGIN
            };
            rival_anchors.push((self.anchor_vectors(&texts)?, margin));
        }
        let outranked = |i: usize| {
            let mine = e.max_similarity(i, &anchors);
            rival_anchors
                .iter()
                .filter(|(r, _)| !r.is_empty())
                .any(|(r, margin)| e.max_similarity(i, r) > mine + margin)
        };
        // When every example phrasing of the point states a figure (days,
        // a percentage, a date), the point is a concrete claim: a window
        // without any figure ("makes the close easier") gets close in meaning
        // but only makes it loosely.
        let wants_figure =
            !q.examples.is_empty() && q.examples.iter().all(|x| windows::states_figure(x));
        // The figure must be in a sentence that is itself about the point: in
        // "…so you catch problems earlier and have less downtime. The sensors
        // run five years on a battery." the five years make nothing concrete.
        let concrete = |w: &Window| {
            !wants_figure
                || w.sentences.clone().any(|k| {
                    e.windows.sentences[k].figure
                        && e.max_similarity(e.windows.single[k], &anchors) >= bars.partial - NEAR
                })
        };
        let long_enough = |w: &Window| {
            let words: usize = e.windows.sentences[w.sentences.clone()]
                .iter()
                .map(|s| s.words.len())
                .sum();
            words >= MIN_MET_WORDS
        };
        let candidate = |w: &Window, i: usize| e.may_claim(w) && !outranked(i);
        // Full credit goes to the closest window that *can* earn it, not only
        // to the closest window overall: a short clause ("so nobody ticks and
        // ties spreadsheets") may be nearest in meaning while the sentence
        // pair around it makes the whole claim. Choosing the nearest first
        // and then refusing it for its length made the verdict hang on where
        // the recogniser happened to put a full stop, so the same speech in
        // two containers could score differently.
        let met = e
            .best(&anchors, |w, i| {
                candidate(w, i) && long_enough(w) && concrete(w)
            })
            .filter(|b| b.similarity >= bars.met);
        // When the point is a proposal (most of its examples put a course of
        // action to the buyer), a window that proposes something with a time
        // has the point's shape: its topic need only be near, not the same
        // words, for a next step phrased in other words (another kind of
        // meeting, a week rather than a day) to count.
        let wants_proposal = !q.examples.is_empty()
            && 2 * q.examples.iter().filter(|x| windows::proposes(x)).count() >= q.examples.len();
        let met = met.or_else(|| {
            wants_proposal
                .then(|| {
                    e.best(&anchors, |w, i| {
                        candidate(w, i) && e.windows.proposes_with_time(w)
                    })
                })
                .flatten()
                .filter(|b| b.similarity >= bars.partial)
        });
        // A proposal for a named day or date ("Could I visit on Thursday the
        // fourteenth", "a video call this Friday at 11") is the point's shape
        // at its most concrete, so its topic may be further still from the
        // examples: a rep who proposes a different kind of next step, in
        // words none of the examples use, has still proposed one.
        let met = met.or_else(|| {
            wants_proposal
                .then(|| {
                    e.best(&anchors, |w, i| {
                        candidate(w, i) && e.windows.has_dated_proposal(w)
                    })
                })
                .flatten()
                .filter(|b| b.similarity >= bars.partial - DATED_PROPOSAL_SLACK)
        });
        let best = e.best(&anchors, candidate);
        let (best, level, credit) = match (met, best) {
            (Some(m), _) => (Some(m), "met", 1.0),
            (None, Some(b)) if b.similarity >= bars.partial => (Some(b), "partial", 0.5),
            (None, b) => (b, "missed", 0.0),
        };
        let closest_full = e
            .best(&anchors, |w, i| {
                candidate(w, i) && long_enough(w) && concrete(w)
            })
            .map(|b| b.similarity);
        let unsure = match (level, best) {
            ("missed", Some(b)) if b.similarity >= bars.partial - NEAR => Some(near_miss(
                e.evidence(t, b.window).map(|ev| ev.start),
                b.similarity,
                bars.partial,
            )),
            ("partial", Some(b)) => closest_full
                .filter(|s| *s >= bars.met - NEAR)
                .map(|s| near_miss(e.evidence(t, b.window).map(|ev| ev.start), s, bars.met)),
            _ => None,
        };
        // Missed only because the closest passage is terse, not because
        // nothing is near: "Proof: Acme Foods, yogurt packaging, five
        // lines." reads like a list of terms, as keyword stuffing does, yet a
        // brisk rep says it so. The filter cannot tell the two apart; a
        // person can, so the doubt goes to one.
        let unsure = unsure.or_else(|| {
            (level == "missed")
                .then(|| e.best_any(&anchors, |w, i| candidate(w, i) && !e.windows.is_claim(w)))
                .flatten()
                .filter(|b| b.similarity >= bars.partial)
                .map(|b| {
                    let place = e
                        .evidence(t, b.window)
                        .map_or_else(String::new, |ev| format!(" at {}", mm_ss(ev.start)));
                    format!(
                        "the closest passage{place} is close to the point (similarity {:.2}) but reads as a list of terms, not a sentence",
                        b.similarity
                    )
                })
        });
        let evidence = best
            .filter(|_| credit > 0.0)
            .and_then(|b| e.evidence(t, b.window));
        let rationale = match (&evidence, best) {
            (Some(ev), Some(b)) => format!(
                "At {} the rep {} the point (similarity {:.2}).",
                mm_ss(ev.start),
                if credit >= 1.0 {
                    "makes"
                } else {
                    "partly makes"
                },
                b.similarity
            ),
            _ => format!("No sentence makes this point: {}", q.description.trim()),
        };
        Ok(Judgement {
            unsure,
            ..verdict(q, level, credit, evidence.into_iter().collect(), rationale)
        })
    }

    /// Scored on its parts: the answer (a reason or evidence) is what makes the
    /// others count; acknowledging and checking back are searched near it.
    fn objection(
        &self,
        bars: Bars,
        q: &Question,
        t: &Transcript,
        e: &Embedded,
        own: &[&str],
    ) -> Result<Judgement, JudgeError> {
        let answer_anchors = self.anchor_vectors(own)?;
        let concern = q
            .raised_as
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(|c| format!("I understand your concern that {c}"));
        let single_in = |range: std::ops::Range<usize>, not: Option<usize>| {
            move |w: &Window, i: usize| {
                w.sentences.len() == 1 && range.contains(&w.sentences.start) && Some(i) != not
            }
        };
        let closest = e.best(&answer_anchors, |w, _| e.may_claim(w));
        let Some(answer) = closest.filter(|b| b.similarity >= bars.partial) else {
            let unsure = closest
                .filter(|b| b.similarity >= bars.partial - NEAR)
                .map(|b| {
                    near_miss(
                        e.evidence(t, b.window).map(|ev| ev.start),
                        b.similarity,
                        bars.partial,
                    )
                });
            return Ok(Judgement {
                unsure,
                ..verdict(
                    q,
                    "missed",
                    0.0,
                    vec![],
                    "The objection is never answered.".into(),
                )
            });
        };
        let around = e.windows.windows[answer.window].sentences.clone();
        // Acknowledging comes before or with the answer, checking back with or after it.
        let before = around.start.saturating_sub(OBJECTION_REACH)..around.end;
        let after = around.start..around.end + OBJECTION_REACH;
        let mut ack_texts: Vec<String> =
            anchors::ACKNOWLEDGE.iter().map(|s| s.to_string()).collect();
        ack_texts.extend(concern.clone());
        let ack_refs: Vec<&str> = ack_texts.iter().map(String::as_str).collect();
        let ack_anchors = self.anchor_vectors(&ack_refs)?;
        let check_anchors = self.anchor_vectors(anchors::CHECK_BACK)?;
        // Acknowledging and checking back are social moves, not claims: short
        // ("I hear you.") or clipped ("On price, I understand, the
        // subscription is more…") sentences play them, so the buzzword-list
        // filter that guards talking points does not apply.
        let mut ack = e.best_any(&ack_anchors, single_in(before.clone(), None));
        let mut check = e.best_any(&check_anchors, single_in(after.clone(), None));
        // One sentence plays one part: the one it is closer to.
        if let (Some(a), Some(c)) = (ack, check) {
            if a.window == c.window {
                if a.similarity >= c.similarity {
                    check = e.best_any(&check_anchors, single_in(after, Some(a.window)));
                } else {
                    ack = e.best_any(&ack_anchors, single_in(before, Some(c.window)));
                }
            }
        }
        let part = |b: Option<Best>| b.filter(|b| b.similarity >= PART);
        let (ack, mut check) = (part(ack), part(check));
        if check.is_none() {
            // A closed question straight after the answer ("Is that manageable
            // for your team?", "Would that be acceptable?") asks the buyer to
            // confirm the answer landed, which is what checking back is; its
            // wording varies too much for a few anchors to cover.
            check = e
                .windows
                .windows
                .iter()
                .enumerate()
                .find(|(_, w)| {
                    (around.end..around.end + OBJECTION_REACH).contains(&w.sentences.start)
                        && e.closed_question(w)
                })
                .map(|(window, _)| Best {
                    window,
                    similarity: PART,
                });
        }
        // A loosely matching answer with no other part in a sentence of its
        // own is a sentence on a nearby topic, not an objection handled
        // ("Tillerly is a finance tool" is loosely about price and migration).
        let apart = |b: &Option<Best>| {
            b.is_some_and(|b| {
                let s = &e.windows.windows[b.window].sentences;
                s.end <= around.start || s.start >= around.end
            })
        };
        if answer.similarity < bars.met && !apart(&ack) && !apart(&check) {
            return Ok(verdict(
                q,
                "missed",
                0.0,
                vec![],
                "No sentence answers the objection; the closest only touches on its topic.".into(),
            ));
        }
        // As for talking points: when every example answer gives a figure
        // (a payback period, a cost), the good answer is a concrete one, and
        // an answer without any figure ("it's an investment customers don't
        // regret") makes it loosely at most.
        let wants_figure =
            !q.examples.is_empty() && q.examples.iter().all(|x| windows::states_figure(x));
        let concrete = !wants_figure || e.windows.states_figure(&e.windows.windows[answer.window]);
        let answer_credit = if answer.similarity >= bars.met && concrete {
            1.0
        } else {
            0.5
        };
        // Measured and not kept (BENCHMARKS.md, "Judge validity"): full
        // credit for a full answer with only one of the other two parts, as
        // the labelling conventions have it. The acknowledgement detector is
        // too loose ("On price." reads as one) for that to agree better with
        // the labels on the development sets.
        let credit = (answer_credit
            + f64::from(u8::from(ack.is_some()))
            + f64::from(u8::from(check.is_some())))
            / 3.0;
        let level = if credit >= 1.0 { "met" } else { "partial" };
        let unsure = (answer_credit < 1.0 && answer.similarity >= bars.met - NEAR).then(|| {
            near_miss(
                e.evidence(t, answer.window).map(|ev| ev.start),
                answer.similarity,
                bars.met,
            )
        });
        let mut evidence = Vec::new();
        let mut said = Vec::new();
        for (name, b) in [
            ("acknowledges the concern", ack),
            ("answers it", Some(answer)),
            ("checks back", check),
        ] {
            if let Some(ev) = b.and_then(|b| e.evidence(t, b.window)) {
                said.push(format!("{name} at {}", mm_ss(ev.start)));
                if !evidence.contains(&ev) {
                    evidence.push(ev);
                }
            }
        }
        let mut missing = Vec::new();
        if ack.is_none() {
            missing.push("acknowledge the concern");
        }
        if answer_credit < 1.0 {
            missing.push("answer it fully with a reason or evidence");
        }
        if check.is_none() {
            missing.push("check back with the buyer");
        }
        let mut rationale = format!("The rep {}.", said.join(", "));
        if !missing.is_empty() {
            rationale.push_str(&format!(" Missing: {}.", missing.join(", ")));
        }
        Ok(Judgement {
            unsure,
            ..verdict(q, level, credit, evidence, rationale)
        })
    }

    /// Consultative (questions about the buyer's situation) versus hard sell
    /// (pressure): each sentence counts for the tone it is closer to.
    fn tone(
        &self,
        q: &Question,
        t: &Transcript,
        e: &Embedded,
        own: &[&str],
    ) -> Result<Judgement, JudgeError> {
        let mut wanted: Vec<&str> = own.to_vec();
        wanted.extend_from_slice(anchors::CONSULTATIVE);
        let wanted = self.anchor_vectors(&wanted)?;
        let pushy = self.anchor_vectors(anchors::HARD_SELL)?;
        let mut consultative: Vec<(f32, usize)> = Vec::new();
        let mut hard: Vec<(f32, usize)> = Vec::new();
        for (i, w) in e.windows.windows.iter().enumerate() {
            if w.sentences.len() != 1 {
                continue;
            }
            let c = e.max_similarity(i, &wanted);
            let h = e.max_similarity(i, &pushy);
            // A question to the buyer about their situation is the mark of consultative selling.
            let asks_buyer = e.asks(w) && e.addresses_buyer(w);
            if (c >= TONE || asks_buyer) && c > h {
                consultative.push((c, i));
            } else if h >= TONE && h > c {
                hard.push((h, i));
            }
        }
        consultative.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let (level, credit) = match (consultative.len(), hard.len()) {
            // A long pitch may have a pushy line or two; the tone is the balance.
            (c, h) if c >= 2 && h * 4 <= c => ("met", 1.0),
            (c, h) if c >= 1 && h <= c => ("partial", 0.5),
            _ => ("missed", 0.0),
        };
        let evidence: Vec<Evidence> = consultative
            .iter()
            .take(2)
            .filter_map(|&(_, i)| e.evidence(t, i))
            .collect();
        let pressure: Vec<String> = hard
            .iter()
            .filter_map(|&(_, i)| e.evidence(t, i))
            .map(|ev| mm_ss(ev.start))
            .collect();
        let mut rationale = format!("{} consultative sentence(s)", consultative.len());
        if pressure.is_empty() {
            rationale.push_str(", no hard-sell pressure.");
        } else {
            rationale.push_str(&format!(", hard-sell pressure at {}.", pressure.join(", ")));
        }
        Ok(verdict(q, level, credit, evidence, rationale))
    }

    /// Embeddings of anchor texts, computed once per text for the judge's life.
    fn anchor_vectors(&self, texts: &[&str]) -> Result<Vec<Arc<Vec<f32>>>, JudgeError> {
        let mut cache = self
            .anchors
            .lock()
            .map_err(|_| setup("anchor cache poisoned".into()))?;
        let missing: Vec<&str> = texts
            .iter()
            .copied()
            .filter(|t| !cache.contains_key(*t))
            .collect();
        if !missing.is_empty() {
            let vectors = self
                .embedder
                .embed(&missing)
                .map_err(|e| setup(format!("embedding anchors: {e}")))?;
            for (text, v) in missing.iter().zip(vectors) {
                cache.insert((*text).to_string(), Arc::new(v));
            }
        }
        Ok(texts
            .iter()
            .filter_map(|t| cache.get(*t).cloned())
            .collect())
    }

    /// The transcript's windows and embeddings, reused while the same
    /// transcript is asked about criterion after criterion.
    fn embedded(&self, transcript: &Transcript) -> Result<Arc<Embedded>, JudgeError> {
        let key = transcript_key(transcript);
        let mut last = self
            .last
            .lock()
            .map_err(|_| setup("transcript cache poisoned".into()))?;
        if let Some((k, e)) = last.as_ref() {
            if *k == key {
                return Ok(Arc::clone(e));
            }
        }
        let windows = Windows::new(transcript);
        let texts: Vec<&str> = windows.sentences.iter().map(|s| s.text.as_str()).collect();
        let pooled = self
            .embedder
            .pool(&texts)
            .map_err(|e| setup(format!("embedding transcript: {e}")))?;
        let vectors = windows
            .windows
            .iter()
            .map(|w| {
                Pooled::merge(&pooled[w.sentences.clone()])
                    .map(|p| p.embedding())
                    .unwrap_or_default()
            })
            .collect();
        let embedded = Arc::new(Embedded { windows, vectors });
        *last = Some((key, Arc::clone(&embedded)));
        Ok(embedded)
    }
}

impl Embedded {
    /// Best claim window under `keep`; ties go to the earliest window so the
    /// answer never depends on iteration details.
    fn best(
        &self,
        anchors: &[Arc<Vec<f32>>],
        keep: impl Fn(&Window, usize) -> bool,
    ) -> Option<Best> {
        self.best_any(anchors, |w, i| self.windows.is_claim(w) && keep(w, i))
    }

    /// As [`Embedded::best`], over every window `keep` accepts, claim or not.
    fn best_any(
        &self,
        anchors: &[Arc<Vec<f32>>],
        keep: impl Fn(&Window, usize) -> bool,
    ) -> Option<Best> {
        let mut best: Option<Best> = None;
        for (i, w) in self.windows.windows.iter().enumerate() {
            if !keep(w, i) {
                continue;
            }
            let similarity = self.max_similarity(i, anchors);
            if best.is_none_or(|b| similarity > b.similarity) {
                best = Some(Best {
                    window: i,
                    similarity,
                });
            }
        }
        best
    }

    /// Highest similarity of a window to any anchor, rounded to 3 decimals so
    /// float noise cannot move a verdict across a threshold between runs.
    fn max_similarity(&self, window: usize, anchors: &[Arc<Vec<f32>>]) -> f32 {
        let v = &self.vectors[window];
        let s = anchors
            .iter()
            .map(|a| cosine(v, a))
            .fold(f32::MIN, f32::max);
        (s * 1000.0).round() / 1000.0
    }

    /// Whether a window can make a talking point or answer an objection.
    /// Not when a sentence of it asks an open question: it can show a
    /// consultative tone, but a discovery question followed by the buyer's
    /// situation ("How many days does your close take? … about nine days")
    /// reads like a claim about days while the rep has claimed nothing. A
    /// closed question can propose ("As a next step, can we book ninety
    /// minutes next Tuesday?"), so it may. Nor when a sentence restates what
    /// the buyer said ("From what you told me, it is about nine days"):
    /// that is listening, not a claim of the rep's.
    fn may_claim(&self, w: &Window) -> bool {
        self.windows.sentences[w.sentences.clone()]
            .iter()
            .all(|s| !s.open_question && !s.reports_buyer)
    }

    /// A window with a question in it.
    fn asks(&self, w: &Window) -> bool {
        self.windows.sentences[w.sentences.clone()]
            .iter()
            .any(|s| s.text.trim_end().ends_with('?'))
    }

    /// A single sentence that is a closed (yes/no) question: "Is that
    /// manageable for your team?", "Would that be acceptable?".
    fn closed_question(&self, w: &Window) -> bool {
        w.sentences.len() == 1
            && self.asks(w)
            && self.windows.sentences[w.sentences.start]
                .text
                .split_whitespace()
                .next()
                .map(|first| crate::score::evidence::normalise(first).join(""))
                .is_some_and(|first| CLOSED_QUESTION.contains(&first.as_str()))
    }

    fn addresses_buyer(&self, w: &Window) -> bool {
        self.windows.sentences[w.sentences.clone()].iter().any(|s| {
            crate::score::evidence::normalise(&s.text)
                .iter()
                .any(|t| matches!(t.as_str(), "you" | "your" | "youre" | "yours" | "youve"))
        })
    }

    fn evidence(&self, t: &Transcript, window: usize) -> Option<Evidence> {
        self.windows.evidence(t, self.windows.windows.get(window)?)
    }
}

fn verdict(
    q: &Question,
    level: &str,
    credit: f64,
    evidence: Vec<Evidence>,
    rationale: String,
) -> Judgement {
    Judgement {
        criterion_id: q.criterion_id.clone(),
        credit,
        level: level.into(),
        evidence,
        rationale,
        raw: None,
        unsure: None,
    }
}

/// The doubt of a verdict whose closest evidence fell just short of `bar`.
fn near_miss(at: Option<f64>, similarity: f32, bar: f32) -> String {
    let place = at.map_or_else(String::new, |s| format!(" at {}", mm_ss(s)));
    format!("the closest sentence{place} is a near miss (similarity {similarity:.2}, bar {bar:.2})")
}

fn setup(message: String) -> JudgeError {
    JudgeError::Setup {
        judge: NAME.into(),
        message,
    }
}

/// Identity of a transcript's words and times, for the window cache.
fn transcript_key(t: &Transcript) -> [u8; 32] {
    let mut h = Sha256::new();
    for w in &t.words {
        h.update(w.text.as_bytes());
        h.update([0]);
        h.update(w.start.to_le_bytes());
        h.update(w.end.to_le_bytes());
    }
    h.finalize().into()
}
