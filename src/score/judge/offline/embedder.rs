//! Sentence embeddings with all-MiniLM-L6-v2 (BERT, the default) or
//! all-mpnet-base-v2 (MPNet, larger and slower) on the CPU via candle.
//!
//! Mean pooling over real tokens, then L2 normalisation, as the
//! sentence-transformers model was trained: a dot product of two outputs is
//! their cosine similarity.
//!
//! Two forward passes compute the same embeddings: [`Engine::Packed`]
//! ([`pitchgrade_minilm::MiniLm`], texts packed without padding, with f32 or
//! 8-bit linear layers), which the judge uses, and [`Engine::Candle`]
//! (candle's own `BertModel` on padded batches), kept as the reference the
//! packed pass is tested against and benchmarked beside.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{Tokenizer, TruncationParams};

pub use pitchgrade_minilm::int8::Kernel;
use pitchgrade_minilm::MiniLm;
pub use pitchgrade_minilm::{Pooled, Precision};

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

/// Which forward pass computes the embeddings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Packed tokens, linear layers at the given precision.
    Packed(Precision),
    /// candle's `BertModel` on length-sorted padded batches (the reference).
    Candle,
}

impl Default for Engine {
    /// Packed int8: within the accuracy tests of the reference
    /// (`tests/judge_embedder.rs`, the labelled rubric set) and several times
    /// faster than f32 on one core.
    fn default() -> Self {
        Self::Packed(Precision::Int8)
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
        match self {
            Self::Candle => f.write_str("candle"),
            Self::Packed(precision) => precision.fmt(f),
        }
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
        let config = model_config(&read("config.json")?)
            .map_err(|e| load_err("config.json", e.to_string()))?;
        if engine == Engine::Candle && config.model_type.as_deref() == Some("mpnet") {
            return Err(load_err(
                "config.json",
                "the candle reference engine runs BERT models only; MPNet runs on the packed engine"
                    .into(),
            ));
        }
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
        let calibration = match engine {
            Engine::Packed(Precision::Int8) => {
                let mut ids = Vec::new();
                for text in pitchgrade_minilm::CALIBRATION_TEXT {
                    let enc = tokenizer
                        .encode(*text, true)
                        .map_err(|e| EmbedError::Tokenize(e.to_string()))?;
                    ids.push(enc.get_ids().to_vec());
                }
                ids
            }
            _ => Vec::new(),
        };
        let calibration: Vec<&[u32]> = calibration.iter().map(Vec::as_slice).collect();
        let model = match engine {
            Engine::Packed(precision) => {
                MiniLm::load(vb, &config, precision, &calibration).map(Model::Packed)
            }
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

    /// The int8 kernel in use (`None` unless the engine is int8).
    pub fn int8_kernel(&self) -> Option<Kernel> {
        match &self.model {
            Model::Packed(model) => model.int8_kernel(),
            Model::Candle(_) => None,
        }
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

/// A BERT or MPNet `config.json` as candle's BERT config. MPNet's has no
/// `type_vocab_size` (it has no segment embedding): one type is assumed, and
/// the packed forward never reads it for MPNet.
fn model_config(bytes: &[u8]) -> Result<Config, serde_json::Error> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes)?;
    if let Some(fields) = value.as_object_mut() {
        fields
            .entry("type_vocab_size")
            .or_insert(serde_json::Value::from(1));
    }
    serde_json::from_value(value)
}

/// Cosine similarity of two normalised vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_mpnet_config_reads_as_one_without_segments() {
        let mpnet = br#"{"model_type": "mpnet", "vocab_size": 30527, "hidden_size": 768,
            "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
            "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "max_position_embeddings": 514,
            "initializer_range": 0.02, "layer_norm_eps": 1e-05, "pad_token_id": 1}"#;
        let config = model_config(mpnet).expect("MPNet config");
        assert_eq!(config.type_vocab_size, 1);
        assert_eq!(config.model_type.as_deref(), Some("mpnet"));
        // A BERT config keeps its own segment count.
        let bert = String::from_utf8_lossy(mpnet)
            .replace("\"mpnet\"", "\"bert\"")
            .replace(
                "\"pad_token_id\": 1",
                "\"pad_token_id\": 0, \"type_vocab_size\": 2",
            );
        assert_eq!(
            model_config(bert.as_bytes()).expect("BERT").type_vocab_size,
            2
        );
        assert!(model_config(b"[1, 2]").is_err());
    }
}
