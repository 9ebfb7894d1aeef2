//! Offline judge speed on a 5-minute (~750-word) pitch, all criteria of a
//! realistic rubric, on one core. Prints a table; the bar is < 200 ms.
//!
//! `RAYON_NUM_THREADS=1 taskset -c 0 cargo run --release --bin bench-judge -- [RUNS] [MODEL_DIR] [ENGINE]`
//!
//! ENGINE is `f32`, `q8` or `int8` (the packed forward at that precision) or
//! `candle` (candle's padded `BertModel`, the reference); default: the
//! judge's own. For `int8`, `PITCHGRADE_INT8_KERNEL=avx512vnni|avx2|scalar`
//! forces a kernel (default: the fastest this CPU has).

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use pitchgrade::score::judge::offline::embedder::{Engine, Precision};
use pitchgrade::score::judge::offline::OfflineJudge;
use pitchgrade::score::judge::{JudgedKind, Question};
use pitchgrade::transcribe::{Capabilities, Transcript, Word};

const PITCH: &[&str] = &[
    "Hi Dana, thanks for making time today, I know month end keeps your team busy.",
    "Before I show anything, how many days does your close take right now?",
    "And which part of it hurts the most, the reconciliations or waiting on other teams?",
    "That matches what we hear from most manufacturers your size.",
    "Ledgerly lets your team close the books in about two days instead of six.",
    "It does that by matching bank lines and invoices automatically as they arrive, so nothing piles up at the end.",
    "It plugs straight into the NetSuite you already run, so there is nothing to rip out or replace.",
    "Every change anyone makes is logged with who and when, which your auditors will appreciate.",
    "One customer, a packaging maker with four hundred staff, paid back the licence in five months.",
    "I understand the price looks higher than the spreadsheet tools you use today.",
    "The way to look at it is the overtime your team works every month end, which mostly goes away.",
    "Does that way of looking at the cost make sense for you?",
    "You mentioned switching would be disruptive, and that is a fair worry.",
    "We run the first close in parallel with your current process, so nothing is at risk while you try it.",
    "Our onboarding team does the mapping for you, usually in under two weeks.",
    "Would a parallel run like that work for your team?",
    "What would you need to see in a pilot to feel confident?",
    "I would suggest we set up a two week pilot on last month's data.",
    "Could we put thirty minutes in the calendar next Tuesday with your controller to scope it?",
    "Thanks again, I really appreciate you walking me through how your team works.",
];

fn transcript(shift: f64) -> Transcript {
    let mut words = Vec::new();
    let mut t = shift;
    'outer: loop {
        for sentence in PITCH {
            for w in sentence.split_whitespace() {
                // 150 words per minute: 0.4 s per word.
                words.push(Word {
                    text: w.to_string(),
                    start: t,
                    end: t + 0.32,
                    confidence: Some(0.93),
                    is_filler: false,
                });
                t += 0.4;
            }
            if words.len() >= 750 {
                break 'outer;
            }
        }
    }
    Transcript {
        text: words
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        words,
        segments: vec![],
        dropped: vec![],
        backend: "text".into(),
        model: "bench".into(),
        capabilities: Capabilities {
            word_times: true,
            keeps_fillers: false,
        },
        filler_count_is_lower_bound: true,
        duration_seconds: Some(t),
    }
}

fn q(
    id: &str,
    kind: JudgedKind,
    description: &str,
    raised_as: Option<&str>,
    examples: &[&str],
) -> Question {
    Question {
        criterion_id: id.into(),
        kind,
        description: description.into(),
        raised_as: raised_as.map(Into::into),
        examples: examples.iter().map(|s| s.to_string()).collect(),
    }
}

fn questions() -> Vec<Question> {
    use JudgedKind::*;
    vec![
        q(
            "value_prop",
            TalkingPoint,
            "Ledgerly closes the month-end books three times faster",
            None,
            &[
                "close the books in two days instead of six",
                "your month-end close takes a third of the time",
            ],
        ),
        q(
            "integration",
            TalkingPoint,
            "Works with the ERP the buyer already runs, nothing to replace",
            None,
            &[
                "it plugs into the NetSuite you already have",
                "no need to rip out your ERP",
            ],
        ),
        q(
            "audit_trail",
            TalkingPoint,
            "Every change is logged for the auditors automatically",
            None,
            &["auditors can see who changed what and when"],
        ),
        q(
            "proof",
            TalkingPoint,
            "A similar customer got payback within six months",
            None,
            &["a manufacturer like you paid back the licence in five months"],
        ),
        q(
            "next_step",
            TalkingPoint,
            "Proposes a concrete next step with a date, such as a pilot",
            None,
            &["let's book thirty minutes next week to scope a pilot"],
        ),
        q(
            "price",
            Objection,
            "Reframes price on the cost of a slow close and gives evidence",
            Some("It costs more than our current tool"),
            &["the overtime your team stops working pays for the licence"],
        ),
        q(
            "switching_cost",
            Objection,
            "Lowers the risk of switching with a parallel run and onboarding help",
            Some("Switching would disrupt our close"),
            &["we run in parallel with your current process so nothing is at risk"],
        ),
        q(
            "tone",
            Tone,
            "Consultative: asks about the buyer's process and goals, no pressure",
            None,
            &["How many days does your close take today?"],
        ),
    ]
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let runs: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20)
        .max(1);
    let model_dir = args.next().map(PathBuf::from).unwrap_or_else(|| {
        let local = PathBuf::from("models/all-MiniLM-L6-v2");
        if local.join("model.safetensors").exists() {
            local
        } else {
            PathBuf::from("../shared/models/all-MiniLM-L6-v2")
        }
    });
    let engine: Engine = args
        .next()
        .map(|s| s.parse())
        .transpose()
        .map_err(anyhow::Error::msg)?
        .unwrap_or_default();
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "unset (all cores)".into());
    let load_start = Instant::now();
    let judge = OfflineJudge::load_with(&model_dir, engine)?;
    let load = load_start.elapsed();
    let questions = questions();

    let mut times: Vec<Duration> = Vec::with_capacity(runs);
    let mut cold = Duration::ZERO;
    let mut summary = String::new();
    for run in 0..=runs {
        // A new transcript each run (times shifted), so the transcript is embedded every time;
        // anchors stay cached after the first (cold) run, as in a service judging one rubric.
        let t = transcript(run as f64 * 1e-3);
        let start = Instant::now();
        let mut credits = Vec::new();
        for question in &questions {
            let v = judge.judge_blocking(question, &t)?;
            credits.push(format!("{}={}", v.criterion_id, v.level));
        }
        let took = start.elapsed();
        if run == 0 {
            cold = took;
            summary = credits.join(" ");
        } else {
            times.push(took);
        }
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let words = transcript(0.0).words.len();
    let kernel = match engine {
        Engine::Packed(Precision::Int8) => {
            format!(" (kernel {})", pitchgrade_minilm::kernel_from_env()?.name())
        }
        _ => String::new(),
    };
    println!(
        "offline judge: {words} words (~5 min), {} criteria, engine {engine}{kernel}, RAYON_NUM_THREADS={threads}",
        questions.len()
    );
    println!("verdicts: {summary}");
    println!("| measure | ms |");
    println!("|---|---|");
    println!("| model load | {:.1} |", ms(load));
    println!("| first run (anchors embedded too) | {:.1} |", ms(cold));
    println!(
        "| median of {runs} runs | {:.1} |",
        ms(times[times.len() / 2])
    );
    println!("| min | {:.1} |", ms(times[0]));
    println!("| max | {:.1} |", ms(times[times.len() - 1]));
    Ok(())
}
