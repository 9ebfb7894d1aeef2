//! Sentence embeddings with all-MiniLM-L6-v2 (BERT) on the CPU via candle.
//!
//! Mean pooling over real tokens, then L2 normalisation, as the
//! sentence-transformers model was trained: a dot product of two outputs is
//! their cosine similarity.
//!
//! Two forward passes compute the same embeddings: [`Engine::Packed`]
//! ([`super::bert::MiniLm`], texts packed without padding, optionally with
//! 8-bit weights), which the judge uses, and [`Engine::Candle`] (candle's own
//! `BertModel` on padded batches), kept as the reference the packed pass is
//! tested against and benchmarked beside.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{Tokenizer, TruncationParams};

use super::bert::MiniLm;
pub use super::bert::Precision;

/// Tokens per forward pass. Texts are packed without padding, so a pass's
/// cost is linear in its tokens; the budget only bounds memory (the widest
/// activation is 1,536 floats a token) for very long transcripts, and is
/// large enough that a 5-minute pitch (~1,100 tokens) is one pass.
const TOKENS_PER_PASS: usize = 4096;
/// Texts per padded batch on the reference engine.
const BATCH: usize = 32;
/// The model's training length; longer texts are truncated.
const MAX_TOKENS: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Load { path: String, message: String },
    #[error("tokenizing: {0}")]
    Tokenize(String),
    #[error("model: {0}")]
    Model(#[from] candle_core::Error),
}

/// A pooled text: the sum of its token vectors and how many tokens there were.
/// Sums of several texts pool into the embedding of their union (see
/// [`Pooled::merge`]), which lets windows of sentences be embedded without
/// running the model again.
#[derive(Debug, Clone, PartialEq)]
pub struct Pooled {
    pub sum: Vec<f32>,
    pub tokens: usize,
}

impl Pooled {
    /// L2-normalised mean: the sentence embedding.
    pub fn embedding(&self) -> Vec<f32> {
        normalise(&self.sum)
    }

    /// Mean pooling over all tokens of several texts.
    pub fn merge<'a>(parts: impl IntoIterator<Item = &'a Pooled>) -> Option<Pooled> {
        let mut iter = parts.into_iter();
        let first = iter.next()?.clone();
        Some(iter.fold(first, |mut acc, p| {
            for (a, b) in acc.sum.iter_mut().zip(&p.sum) {
                *a += b;
            }
            acc.tokens += p.tokens;
            acc
        }))
    }
}

/// Which forward pass computes the embeddings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Packed tokens, linear layers at the given precision.
    Packed(Precision),
    /// candle's `BertModel` on length-sorted padded batches (the reference).
    Candle,
}

impl Default for Engine {
    fn default() -> Self {
        Self::Packed(Precision::default())
    }
}

impl std::str::FromStr for Engine {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "candle" => Ok(Self::Candle),
            other => other.parse().map(Self::Packed),
        }
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Candle => "candle",
            Self::Packed(Precision::F32) => "f32",
            Self::Packed(Precision::Q8) => "q8",
        })
    }
}

enum Model {
    Packed(MiniLm),
    Candle(BertModel),
}

pub struct Embedder {
    model: Model,
    tokenizer: Tokenizer,
    device: Device,
    engine: Engine,
}

impl Embedder {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from
    /// `dir`, on the default engine.
    pub fn load(dir: &Path) -> Result<Self, EmbedError> {
        Self::load_with(dir, Engine::default())
    }

    /// As [`Embedder::load`], on `engine`.
    pub fn load_with(dir: &Path, engine: Engine) -> Result<Self, EmbedError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| EmbedError::Read {
                path: path.display().to_string(),
                source,
            })
        };
        let load_err = |name: &str, message: String| EmbedError::Load {
            path: dir.join(name).display().to_string(),
            message,
        };
        let config: Config = serde_json::from_slice(&read("config.json")?)
            .map_err(|e| load_err("config.json", e.to_string()))?;
        let mut tokenizer = Tokenizer::from_bytes(read("tokenizer.json")?)
            .map_err(|e| load_err("tokenizer.json", e.to_string()))?;
        // The file pads every text to 128 tokens; batching pads only as far as needed.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(|e| load_err("tokenizer.json", e.to_string()))?;
        let device = Device::Cpu;
        let vb =
            VarBuilder::from_buffered_safetensors(read("model.safetensors")?, DType::F32, &device)
                .map_err(|e| load_err("model.safetensors", e.to_string()))?;
        let model = match engine {
            Engine::Packed(precision) => MiniLm::load(vb, &config, precision).map(Model::Packed),
            Engine::Candle => BertModel::load(vb, &config).map(Model::Candle),
        }
        .map_err(|e| load_err("model.safetensors", e.to_string()))?;
        Ok(Self {
            model,
            tokenizer,
            device,
            engine,
        })
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Normalised embeddings, in input order.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(self.pool(texts)?.iter().map(Pooled::embedding).collect())
    }

    /// Pooled token sums, in input order.
    pub fn pool(&self, texts: &[&str]) -> Result<Vec<Pooled>, EmbedError> {
        let mut encoded = Vec::with_capacity(texts.len());
        for text in texts {
            let enc = self
                .tokenizer
                .encode(*text, true)
                .map_err(|e| EmbedError::Tokenize(e.to_string()))?;
            encoded.push(enc.get_ids().to_vec());
        }
        match &self.model {
            Model::Packed(model) => {
                let mut out = Vec::with_capacity(texts.len());
                let mut start = 0;
                while start < encoded.len() {
                    // At least one text per pass, however long (it is truncated to MAX_TOKENS).
                    let mut end = start + 1;
                    let mut tokens = encoded[start].len();
                    while end < encoded.len() && tokens + encoded[end].len() <= TOKENS_PER_PASS {
                        tokens += encoded[end].len();
                        end += 1;
                    }
                    let pass: Vec<&[u32]> = encoded[start..end].iter().map(Vec::as_slice).collect();
                    out.extend(model.pool(&pass)?);
                    start = end;
                }
                Ok(out)
            }
            Model::Candle(model) => {
                // Length order keeps each batch's padding small; the sort is stable so
                // the result does not depend on anything but the input.
                let mut order: Vec<usize> = (0..texts.len()).collect();
                order.sort_by_key(|&i| encoded[i].len());
                let mut out: Vec<Option<Pooled>> = vec![None; texts.len()];
                for chunk in order.chunks(BATCH) {
                    let batch: Vec<&[u32]> = chunk.iter().map(|&i| encoded[i].as_slice()).collect();
                    for (&i, pooled) in chunk.iter().zip(self.padded(model, &batch)?) {
                        out[i] = Some(pooled);
                    }
                }
                Ok(out.into_iter().flatten().collect())
            }
        }
    }

    fn padded(&self, model: &BertModel, batch: &[&[u32]]) -> Result<Vec<Pooled>, EmbedError> {
        let width = batch.iter().map(|ids| ids.len()).max().unwrap_or(0).max(1);
        let mut ids = Vec::with_capacity(batch.len() * width);
        let mut mask = Vec::with_capacity(batch.len() * width);
        for seq in batch {
            ids.extend_from_slice(seq);
            ids.extend(std::iter::repeat_n(0u32, width - seq.len()));
            mask.extend(std::iter::repeat_n(1u32, seq.len()));
            mask.extend(std::iter::repeat_n(0u32, width - seq.len()));
        }
        let shape = (batch.len(), width);
        let ids = Tensor::from_vec(ids, shape, &self.device)?;
        let mask = Tensor::from_vec(mask, shape, &self.device)?;
        let types = ids.zeros_like()?;
        let hidden = model.forward(&ids, &types, Some(&mask))?;
        let mask_f = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let sums = hidden.broadcast_mul(&mask_f)?.sum(1)?.to_vec2::<f32>()?;
        Ok(sums
            .into_iter()
            .zip(batch)
            .map(|(sum, seq)| Pooled {
                sum,
                tokens: seq.len(),
            })
            .collect())
    }
}

/// Cosine similarity of two normalised vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn normalise(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter().map(|x| x / norm).collect()
    } else {
        v.to_vec()
    }
}
