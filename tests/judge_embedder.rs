//! The packed MiniLM forward (and its 8-bit variants) against candle's own
//! `BertModel`, the reference: the judge's thresholds were tuned on the
//! reference embeddings, so a faster forward must give the same ones.

use std::path::PathBuf;

use pitchgrade::score::judge::offline::embedder::{cosine, Embedder, Engine, Precision};

fn model_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let local = root.join("models/all-MiniLM-L6-v2");
    if local.join("model.safetensors").exists() {
        local
    } else {
        root.join("../shared/models/all-MiniLM-L6-v2")
    }
}

/// Sentences of very different lengths, so packing (no padding) and the
/// reference's padded batches differ as much as they can.
const SAMPLES: &[&str] = &[
    "Ok.",
    "Hi Dana, thanks for making the time.",
    "Ledgerly lets your team close the books in about two days instead of six.",
    "Before I show you anything, how many days does your close take today, and where does most of that time go?",
    "This isn't a migration: there is no data to move, we connect to NetSuite, our team does the setup in about six weeks, and you run Ledgerly alongside your current close for one month before switching.",
    "AI, automation, synergy, real-time, cloud-native.",
    "Is that manageable for your team?",
    "Could we put thirty minutes in the calendar next Tuesday with your controller to scope it?",
    "Did you catch the game on Sunday?",
];

fn embed(engine: Engine) -> Vec<Vec<f32>> {
    let e = Embedder::load_with(&model_dir(), engine).expect("MiniLM model");
    assert_eq!(e.engine(), engine);
    e.embed(SAMPLES).expect("embedded")
}

#[test]
fn packed_f32_matches_the_reference() {
    let reference = embed(Engine::Candle);
    let packed = embed(Engine::Packed(Precision::F32));
    for ((r, p), text) in reference.iter().zip(&packed).zip(SAMPLES) {
        let c = cosine(r, p);
        assert!(c > 0.9999, "{c} for {text:?}");
    }
}

#[test]
fn q8_embeddings_stay_close_to_the_reference() {
    let reference = embed(Engine::Candle);
    let q8 = embed(Engine::Packed(Precision::Q8));
    for ((r, q), text) in reference.iter().zip(&q8).zip(SAMPLES) {
        let c = cosine(r, q);
        assert!(c > 0.99, "{c} for {text:?}");
    }
    // Similarities between texts, which is what the judge compares to its
    // thresholds, move by little too.
    let mut worst = 0.0f32;
    for i in 0..SAMPLES.len() {
        for j in i + 1..SAMPLES.len() {
            let d = (cosine(&reference[i], &reference[j]) - cosine(&q8[i], &q8[j])).abs();
            worst = worst.max(d);
        }
    }
    assert!(worst < 0.02, "a pairwise similarity moved by {worst}");
}

#[test]
fn int8_embeddings_stay_close_to_the_reference() {
    let reference = embed(Engine::Candle);
    let int8 = embed(Engine::Packed(Precision::Int8));
    let mut lowest = 1.0f32;
    for ((r, q), text) in reference.iter().zip(&int8).zip(SAMPLES) {
        let c = cosine(r, q);
        lowest = lowest.min(c);
        assert!(c > 0.99, "{c} for {text:?}");
    }
    let mut worst = 0.0f32;
    for i in 0..SAMPLES.len() {
        for j in i + 1..SAMPLES.len() {
            let d = (cosine(&reference[i], &reference[j]) - cosine(&int8[i], &int8[j])).abs();
            worst = worst.max(d);
        }
    }
    eprintln!("int8: lowest cosine with the reference {lowest}, worst pairwise shift {worst}");
    assert!(worst < 0.02, "a pairwise similarity moved by {worst}");
}

#[test]
fn packing_keeps_sentences_apart() {
    // A sentence embedded alone and embedded among others gives the same
    // vector: no attention leaks across packed sentences.
    let e = Embedder::load_with(&model_dir(), Engine::Packed(Precision::F32)).expect("model");
    let together = e.embed(SAMPLES).expect("embedded");
    for (i, text) in SAMPLES.iter().enumerate() {
        let alone = e.embed(&[*text]).expect("embedded");
        let c = cosine(&alone[0], &together[i]);
        assert!(c > 0.99999, "{c} for {text:?}");
    }
}

#[test]
fn a_judge_names_the_model_folder_it_loaded() {
    // Grades say which encoder judged them; with a second encoder on offer
    // (all-mpnet-base-v2) that is the folder the operator pointed to.
    use pitchgrade::score::judge::offline::OfflineJudge;
    use pitchgrade::score::judge::Judge;
    let tmp = tempfile::tempdir().expect("tempdir");
    let renamed = tmp.path().join("my-encoder");
    std::os::unix::fs::symlink(model_dir().canonicalize().expect("model folder"), &renamed)
        .expect("symlink");
    let judge = OfflineJudge::load(&renamed).expect("judge loads");
    assert_eq!(judge.model(), "my-encoder");
    let default = OfflineJudge::load(&model_dir()).expect("judge loads");
    assert_eq!(default.model(), "all-MiniLM-L6-v2");
}
