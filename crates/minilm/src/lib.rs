//! all-MiniLM-L6-v2's BERT forward pass, written for what pitchgrade's
//! offline judge does: embed dozens of short sentences at once on one CPU core.
//! The same forward runs all-mpnet-base-v2 (MPNet): its layers are BERT's
//! with other names, plus a learned bias on attention by relative position
//! ([`RelativeBias`]) and no segment embedding.
//!
//! candle's `BertModel` takes a padded `[batch, width]` block, so every
//! sentence pays for the longest one in its batch, and each linear layer runs
//! one small matrix multiply per sentence. Here every sentence's tokens are
//! packed into one `[tokens, hidden]` matrix instead: the linear layers (all
//! but a sliver of the work) become one large multiply each, with no padding
//! at all, and attention — the only step where sentences must stay apart —
//! runs per sentence on plain slices. Attention over a 20-token sentence is
//! cheap beside the linear layers, so doing it in a loop costs little.
//!
//! The linear layers can run with 8-bit weights: [`Precision::Q8`] (candle's
//! Q8_0 blocks, f32 activations) or [`Precision::Int8`] (int8 weights and
//! activations, exact integer dot products; see [`int8`]). The embedding
//! tables, layer norms, attention and GELU stay f32, as they are cheap and
//! sensitive.
//!
//! A crate of its own so that it is built optimised even in the dev profile,
//! where the tests that embed text run.

pub mod int8;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{Config, HiddenAct};

use int8::{Int8Linear, Kernel, QuantizedRows};

/// Arithmetic of the linear layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// The weights as published.
    #[default]
    F32,
    /// Q8_0 weights (one f16 scale per 32 weights), f32 activations.
    Q8,
    /// int8 weights (one scale per output) and int8 activations (one scale
    /// per token), exact i32 dot products, SmoothQuant-style smoothing of
    /// the input channels.
    Int8,
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "f32" => Ok(Self::F32),
            "q8" => Ok(Self::Q8),
            "int8" => Ok(Self::Int8),
            other => Err(format!("unknown precision {other:?} (f32, q8 or int8)")),
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::F32 => "f32",
            Self::Q8 => "q8",
            Self::Int8 => "int8",
        })
    }
}

/// Environment variable that picks the int8 kernel: `auto` (default: the
/// fastest this CPU has), `avx512vnni`, `avx2` or `scalar`. All give
/// bit-identical results; it exists to measure what another CPU would get.
pub const KERNEL_ENV: &str = "PITCHGRADE_INT8_KERNEL";
/// Environment variable that turns the int8 smoothing off (`off`), to
/// measure what it buys.
pub const SMOOTHING_ENV: &str = "PITCHGRADE_INT8_SMOOTHING";

/// The int8 kernel [`KERNEL_ENV`] asks for, or the fastest available.
pub fn kernel_from_env() -> candle_core::Result<Kernel> {
    let requested = std::env::var(KERNEL_ENV).unwrap_or_default();
    if requested.is_empty() || requested == "auto" {
        return Ok(Kernel::detect());
    }
    let kernel: Kernel = requested
        .parse()
        .map_err(|e: String| candle_core::Error::Msg(format!("{KERNEL_ENV}: {e}")))?;
    if !kernel.available() {
        candle_core::bail!(
            "{KERNEL_ENV}={requested}: this CPU lacks the instructions for that kernel"
        );
    }
    Ok(kernel)
}

/// Text the int8 smoothing factors are calibrated on: run through the f32
/// forward at load, it fixes each input channel's typical range. Fixed (so
/// loads are deterministic) and in the judge's domain: sales-call speech,
/// short and long sentences, questions, figures and product names.
pub const CALIBRATION_TEXT: &[&str] = &[
    "Hi, thanks for taking the call today.",
    "How long does your team's month-end close take at the moment?",
    "We help finance teams reconcile bank lines and invoices automatically, so the books close in days rather than weeks.",
    "I hear you: the price is higher than a spreadsheet, but the overtime it removes pays for it within a quarter.",
    "Our customers usually run the new process in parallel for one month before they switch over.",
    "It connects to NetSuite, SAP and QuickBooks without replacing anything you already use.",
    "Every change is logged with who made it and when, which auditors ask for.",
    "A distributor with 400 staff cut its close from eight days to three and paid back the licence in five months.",
    "Could we book thirty minutes next Tuesday at 10am with your controller to scope a pilot?",
    "Um, so, yeah, I think that's basically it, does that make sense?",
    "What would you need to see to feel confident about moving forward?",
    "Did you see the game last night?",
    "Ok.",
    "Our onboarding team maps your chart of accounts for you, usually within two weeks, and stays on call during the first close.",
];

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

/// `v` scaled to unit length (unchanged if it is all zeros).
pub fn normalise(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter().map(|x| x / norm).collect()
    } else {
        v.to_vec()
    }
}

pub struct MiniLm {
    word: Tensor,
    position: Tensor,
    /// Every text is one segment, so only the first token-type row is ever
    /// added (BERT); MPNet has none.
    token_type: Option<Tensor>,
    /// Position id of a text's first token: 0 for BERT; MPNet counts from
    /// its padding id plus one, as RoBERTa does.
    first_position: usize,
    /// MPNet's attention bias by relative position (`None` for BERT).
    relative: Option<RelativeBias>,
    embedding_norm: Norm,
    layers: Vec<Layer>,
    heads: usize,
    hidden: usize,
    max_positions: usize,
    device: Device,
    kernel: Option<Kernel>,
}

struct Layer {
    /// Query, key and value fused into one `[hidden, 3 * hidden]` multiply.
    qkv: Linear,
    attention_out: Linear,
    attention_norm: Norm,
    up: Linear,
    down: Linear,
    out_norm: Norm,
}

/// The word and position tables and the embedding layer norm, named alike
/// in BERT and MPNet checkpoints (under `embeddings`).
fn embedding_tables(
    e: &VarBuilder,
    config: &Config,
) -> candle_core::Result<(Tensor, Tensor, Norm)> {
    let hidden = config.hidden_size;
    Ok((
        e.get((config.vocab_size, hidden), "word_embeddings.weight")?,
        e.get(
            (config.max_position_embeddings, hidden),
            "position_embeddings.weight",
        )?,
        Norm::load(e.pp("LayerNorm"), hidden, config.layer_norm_eps)?,
    ))
}

/// Where a checkpoint keeps one encoder layer's tensors, under
/// `encoder.layer.{i}`: BERT and MPNet name the same parts differently.
struct LayerNames {
    query: &'static str,
    key: &'static str,
    value: &'static str,
    attention_out: &'static str,
    attention_norm: &'static str,
}

const BERT_LAYER: LayerNames = LayerNames {
    query: "attention.self.query",
    key: "attention.self.key",
    value: "attention.self.value",
    attention_out: "attention.output.dense",
    attention_norm: "attention.output.LayerNorm",
};

const MPNET_LAYER: LayerNames = LayerNames {
    query: "attention.attn.q",
    key: "attention.attn.k",
    value: "attention.attn.v",
    attention_out: "attention.attn.o",
    attention_norm: "attention.LayerNorm",
};

impl Layer {
    /// Every `encoder.layer.{i}` of a checkpoint.
    fn load_all(
        vb: &VarBuilder,
        names: &LayerNames,
        config: &Config,
        precision: Precision,
    ) -> candle_core::Result<Vec<Self>> {
        (0..config.num_hidden_layers)
            .map(|i| {
                Self::load(
                    vb.pp(format!("encoder.layer.{i}")),
                    names,
                    config,
                    precision,
                )
            })
            .collect()
    }

    fn load(
        l: VarBuilder,
        names: &LayerNames,
        config: &Config,
        precision: Precision,
    ) -> candle_core::Result<Self> {
        let (hidden, eps) = (config.hidden_size, config.layer_norm_eps);
        let part = |name: &str| -> candle_core::Result<(Tensor, Tensor)> {
            let p = l.pp(name);
            Ok((p.get((hidden, hidden), "weight")?, p.get(hidden, "bias")?))
        };
        let (qw, qb) = part(names.query)?;
        let (kw, kb) = part(names.key)?;
        let (vw, vb) = part(names.value)?;
        Ok(Self {
            qkv: Linear::new(
                Tensor::cat(&[&qw, &kw, &vw], 0)?,
                Tensor::cat(&[&qb, &kb, &vb], 0)?,
                precision,
            )?,
            attention_out: Linear::load(l.pp(names.attention_out), hidden, hidden, precision)?,
            attention_norm: Norm::load(l.pp(names.attention_norm), hidden, eps)?,
            up: Linear::load(
                l.pp("intermediate.dense"),
                hidden,
                config.intermediate_size,
                precision,
            )?,
            down: Linear::load(
                l.pp("output.dense"),
                config.intermediate_size,
                hidden,
                precision,
            )?,
            out_norm: Norm::load(l.pp("output.LayerNorm"), hidden, eps)?,
        })
    }
}

struct Norm {
    weight: Tensor,
    bias: Tensor,
    /// The same as plain vectors, for the int8 forward.
    weight_vec: Vec<f32>,
    bias_vec: Vec<f32>,
    eps: f32,
}

impl Norm {
    fn load(vb: VarBuilder, size: usize, eps: f64) -> candle_core::Result<Self> {
        let weight = vb.get(size, "weight")?;
        let bias = vb.get(size, "bias")?;
        Ok(Self {
            weight_vec: weight.to_vec1()?,
            bias_vec: bias.to_vec1()?,
            weight,
            bias,
            eps: eps as f32,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::layer_norm(x, &self.weight, &self.bias, self.eps)
    }

    /// Normalises each row of `x` into the same row of `out`.
    fn forward_rows(&self, x: &[f32], out: &mut [f32]) {
        let n = self.weight_vec.len();
        for (row, out) in x.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
            let mean = sum(row) / n as f32;
            let mut lanes = [0.0f32; 8];
            let rows8 = row.chunks_exact(8);
            let tail: f32 = rows8
                .remainder()
                .iter()
                .map(|v| (v - mean) * (v - mean))
                .sum();
            for chunk in rows8 {
                for (l, v) in lanes.iter_mut().zip(chunk) {
                    *l += (v - mean) * (v - mean);
                }
            }
            let var = (lanes.iter().sum::<f32>() + tail) / n as f32;
            let inv_std = 1.0 / (var + self.eps).sqrt();
            for (((o, v), w), b) in out
                .iter_mut()
                .zip(row)
                .zip(&self.weight_vec)
                .zip(&self.bias_vec)
            {
                *o = (v - mean) * inv_std * w + b;
            }
        }
    }
}

enum Weights {
    /// `[in, out]`, contiguous, so the multiply reads it without a transpose.
    F32(Tensor),
    Q8(QMatMul),
    Int8(Int8Linear),
}

struct Linear {
    weights: Weights,
    bias: Tensor,
    /// The bias as a plain vector, for layers whose output is post-processed in a loop.
    bias_vec: Vec<f32>,
}

impl Linear {
    /// From a PyTorch `[out, in]` weight and its `[out]` bias. Int8 layers
    /// start as f32: they are quantized by [`Linear::quantize`] once
    /// calibration has seen their inputs.
    fn new(weight: Tensor, bias: Tensor, precision: Precision) -> candle_core::Result<Self> {
        let weights = match precision {
            Precision::F32 | Precision::Int8 => Weights::F32(weight.t()?.contiguous()?),
            Precision::Q8 => Weights::Q8(QMatMul::from_qtensor(QTensor::quantize(
                &weight,
                GgmlDType::Q8_0,
            )?)?),
        };
        let bias_vec = bias.to_vec1::<f32>()?;
        Ok(Self {
            weights,
            bias,
            bias_vec,
        })
    }

    fn load(
        vb: VarBuilder,
        inputs: usize,
        outputs: usize,
        precision: Precision,
    ) -> candle_core::Result<Self> {
        Self::new(
            vb.get((outputs, inputs), "weight")?,
            vb.get(outputs, "bias")?,
            precision,
        )
    }

    /// Replaces f32 weights by int8 ones. `input_max` is each input
    /// channel's largest magnitude seen in calibration (empty: no smoothing).
    fn quantize(&mut self, input_max: &[f32], kernel: Kernel) -> candle_core::Result<()> {
        let Weights::F32(w) = &self.weights else {
            return Ok(());
        };
        let (inputs, outputs) = w.dims2()?;
        // [out, in], as the int8 layer wants it.
        let rows = w.t()?.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let smoothing = if input_max.is_empty() {
            Vec::new()
        } else {
            // SmoothQuant with alpha 0.5: s_j = sqrt(max|X_j| / max|W_j|)
            // moves half of an outlier channel's range (in log terms) from
            // the activations, which have one scale per token, to the
            // weights, which have one per output.
            let mut w_max = vec![0.0f32; inputs];
            for row in rows.chunks_exact(inputs) {
                for (m, v) in w_max.iter_mut().zip(row) {
                    *m = m.max(v.abs());
                }
            }
            input_max
                .iter()
                .zip(&w_max)
                .map(|(&x, &w)| {
                    let s = (x / w).sqrt();
                    if s.is_finite() && s > 0.0 {
                        s
                    } else {
                        1.0
                    }
                })
                .collect()
        };
        self.weights = Weights::Int8(Int8Linear::new(
            &rows,
            &self.bias_vec,
            inputs,
            outputs,
            &smoothing,
            kernel,
        ));
        Ok(())
    }

    /// `x · W`, plus the bias if `with_bias`, as a flat `[rows, out]` vector.
    fn forward_vec(&self, x: &Tensor, with_bias: bool) -> candle_core::Result<Vec<f32>> {
        match &self.weights {
            Weights::Int8(layer) => {
                let x = x.flatten_all()?.to_vec1::<f32>()?;
                Ok(layer.forward(&x, with_bias))
            }
            _ => {
                let y = self.forward_tensor(x, with_bias)?;
                y.flatten_all()?.to_vec1::<f32>()
            }
        }
    }

    fn forward_tensor(&self, x: &Tensor, with_bias: bool) -> candle_core::Result<Tensor> {
        let y = match &self.weights {
            Weights::F32(w) => x.matmul(w)?,
            Weights::Q8(q) => q.forward(x)?,
            Weights::Int8(layer) => {
                let rows = x.dim(0)?;
                let y = self.forward_vec(x, with_bias)?;
                return Tensor::from_vec(y, (rows, layer.outputs()), x.device());
            }
        };
        if with_bias {
            y.broadcast_add(&self.bias)
        } else {
            Ok(y)
        }
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.forward_tensor(x, true)
    }
}

/// Per linear layer, the largest magnitude each input channel took.
type ChannelMax = Vec<Vec<f32>>;

fn observe(
    stats: &mut Option<&mut ChannelMax>,
    index: usize,
    x: &Tensor,
) -> candle_core::Result<()> {
    let Some(stats) = stats.as_deref_mut() else {
        return Ok(());
    };
    let width = x.dim(1)?;
    let values = x.flatten_all()?.to_vec1::<f32>()?;
    if stats.len() <= index {
        stats.resize(index + 1, Vec::new());
    }
    let max = &mut stats[index];
    max.resize(width, 0.0);
    for row in values.chunks_exact(width) {
        for (m, v) in max.iter_mut().zip(row) {
            *m = m.max(v.abs());
        }
    }
    Ok(())
}

impl MiniLm {
    /// Loads the weights at `precision`. For [`Precision::Int8`],
    /// `calibration` (token ids of [`CALIBRATION_TEXT`]) runs through the
    /// f32 forward first to fix the smoothing factors; other precisions
    /// ignore it.
    pub fn load(
        vb: VarBuilder,
        config: &Config,
        precision: Precision,
        calibration: &[&[u32]],
    ) -> candle_core::Result<Self> {
        if config.hidden_act != HiddenAct::Gelu {
            candle_core::bail!(
                "hidden_act {:?}: this forward implements BERT's exact (erf) GELU only",
                config.hidden_act
            );
        }
        let hidden = config.hidden_size;
        let heads = config.num_attention_heads;
        if heads == 0 || !hidden.is_multiple_of(heads) {
            candle_core::bail!("hidden size {hidden} does not split into {heads} heads");
        }
        // sentence-transformers checkpoints have no prefix; BERT exports from
        // transformers put everything under `bert.`.
        let vb = if vb.contains_tensor("embeddings.word_embeddings.weight") {
            vb
        } else {
            vb.pp("bert")
        };
        if vb.contains_tensor(RelativeBias::TENSOR) {
            return Self::load_mpnet(vb, config, precision, calibration);
        }
        let e = vb.pp("embeddings");
        let (word, position, embedding_norm) = embedding_tables(&e, config)?;
        let token_type = e
            .get(
                (config.type_vocab_size, hidden),
                "token_type_embeddings.weight",
            )?
            .get(0)?;
        let token_type = Some(token_type);
        let layers = Layer::load_all(&vb, &BERT_LAYER, config, precision)?;
        let model = Self {
            word,
            position,
            token_type,
            first_position: 0,
            relative: None,
            embedding_norm,
            layers,
            heads,
            hidden,
            max_positions: config.max_position_embeddings,
            device: vb.device().clone(),
            kernel: None,
        };
        model.at_precision(precision, calibration)
    }

    /// MPNet (all-mpnet-base-v2): BERT's layers under other names, position
    /// ids from `pad_token_id + 1`, and one relative-position bias table
    /// shared by every layer.
    fn load_mpnet(
        vb: VarBuilder,
        config: &Config,
        precision: Precision,
        calibration: &[&[u32]],
    ) -> candle_core::Result<Self> {
        let hidden = config.hidden_size;
        let heads = config.num_attention_heads;
        let (word, position, embedding_norm) = embedding_tables(&vb.pp("embeddings"), config)?;
        let first_position = config.pad_token_id + 1;
        if first_position >= config.max_position_embeddings {
            candle_core::bail!(
                "pad_token_id {} leaves no positions of {}",
                config.pad_token_id,
                config.max_position_embeddings
            );
        }
        let table = vb.get_unchecked(RelativeBias::TENSOR)?;
        let (buckets, table_heads) = table.dims2()?;
        if table_heads != heads || buckets < 4 || !buckets.is_multiple_of(2) {
            candle_core::bail!(
                "{}: shape [{buckets}, {table_heads}] does not fit {heads} heads",
                RelativeBias::TENSOR
            );
        }
        let max_positions = config.max_position_embeddings - first_position;
        let relative = RelativeBias::new(
            &table.flatten_all()?.to_vec1()?,
            buckets,
            heads,
            max_positions,
        );
        let layers = Layer::load_all(&vb, &MPNET_LAYER, config, precision)?;
        let model = Self {
            word,
            position,
            token_type: None,
            first_position,
            relative: Some(relative),
            embedding_norm,
            layers,
            heads,
            hidden,
            max_positions,
            device: vb.device().clone(),
            kernel: None,
        };
        model.at_precision(precision, calibration)
    }

    /// Finishes a load: for [`Precision::Int8`], calibrates the smoothing
    /// on `calibration` through the f32 forward and quantizes every layer.
    fn at_precision(
        mut self,
        precision: Precision,
        calibration: &[&[u32]],
    ) -> candle_core::Result<Self> {
        if precision == Precision::Int8 {
            let kernel = kernel_from_env()?;
            let smoothing = std::env::var(SMOOTHING_ENV).map_or(true, |v| v != "off");
            let mut stats = ChannelMax::new();
            if smoothing {
                if calibration.is_empty() {
                    candle_core::bail!("int8 needs calibration text for its smoothing factors");
                }
                self.forward(calibration, Some(&mut stats))?;
            }
            let none = Vec::new();
            for (i, layer) in self.layers.iter_mut().enumerate() {
                let max = |j: usize| stats.get(4 * i + j).unwrap_or(&none);
                layer.qkv.quantize(max(0), kernel)?;
                layer.attention_out.quantize(max(1), kernel)?;
                layer.up.quantize(max(2), kernel)?;
                layer.down.quantize(max(3), kernel)?;
            }
            self.kernel = Some(kernel);
        }
        Ok(self)
    }

    /// The int8 kernel the linear layers run on (`None` unless int8).
    pub fn int8_kernel(&self) -> Option<Kernel> {
        self.kernel
    }

    /// Sum of the last hidden states over each sequence's tokens (mean
    /// pooling's numerator), in input order. Sequences must be non-empty
    /// token-id lists no longer than the model's positions.
    pub fn pool(&self, seqs: &[&[u32]]) -> candle_core::Result<Vec<Pooled>> {
        self.forward(seqs, None)
    }

    /// [`MiniLm::pool`], recording each linear layer's input ranges into
    /// `stats` if given.
    fn forward(
        &self,
        seqs: &[&[u32]],
        mut stats: Option<&mut ChannelMax>,
    ) -> candle_core::Result<Vec<Pooled>> {
        let lens: Vec<usize> = seqs.iter().map(|s| s.len()).collect();
        if let Some(&long) = lens.iter().find(|&&l| l > self.max_positions) {
            candle_core::bail!(
                "{long} tokens: longer than the model's {}",
                self.max_positions
            );
        }
        let total: usize = lens.iter().sum();
        if total == 0 {
            return Ok(lens
                .iter()
                .map(|_| Pooled {
                    sum: vec![0.0; self.hidden],
                    tokens: 0,
                })
                .collect());
        }
        let ids: Vec<u32> = seqs.iter().flat_map(|s| s.iter().copied()).collect();
        let first = self.first_position as u32;
        let positions: Vec<u32> = lens.iter().flat_map(|&l| first..first + l as u32).collect();
        let ids = Tensor::from_vec(ids, total, &self.device)?;
        let positions = Tensor::from_vec(positions, total, &self.device)?;
        let mut x =
            (self.word.index_select(&ids, 0)? + self.position.index_select(&positions, 0)?)?;
        if let Some(token_type) = &self.token_type {
            x = x.broadcast_add(token_type)?;
        }
        if self.kernel.is_some() && stats.is_none() {
            let states = self.forward_int8(x.flatten_all()?.to_vec1::<f32>()?, &lens)?;
            return Ok(self.pool_rows(&states, &lens));
        }
        let mut x = self.embedding_norm.forward(&x)?;
        for (i, layer) in self.layers.iter().enumerate() {
            observe(&mut stats, 4 * i, &x)?;
            let qkv = layer.qkv.forward_vec(&x, true)?;
            let qkv = by_head(&qkv, total, self.hidden / self.heads);
            let mut context = vec![0.0f32; total * self.hidden];
            attention(
                &qkv,
                &lens,
                self.heads,
                self.hidden,
                self.relative.as_ref(),
                &mut context,
            );
            let context = Tensor::from_vec(context, (total, self.hidden), &self.device)?;
            observe(&mut stats, 4 * i + 1, &context)?;
            let attended = layer.attention_out.forward(&context)?;
            x = layer.attention_norm.forward(&(attended + &x)?)?;
            observe(&mut stats, 4 * i + 2, &x)?;
            let mut up = layer.up.forward_vec(&x, false)?;
            bias_gelu(&mut up, &layer.up.bias_vec);
            let width = layer.up.bias_vec.len();
            let up = Tensor::from_vec(up, (total, width), &self.device)?;
            observe(&mut stats, 4 * i + 3, &up)?;
            let down = layer.down.forward(&up)?;
            x = layer.out_norm.forward(&(down + &x)?)?;
        }
        let states = x.flatten_all()?.to_vec1::<f32>()?;
        Ok(self.pool_rows(&states, &lens))
    }

    /// Sums each sequence's rows of the last hidden states.
    fn pool_rows(&self, states: &[f32], lens: &[usize]) -> Vec<Pooled> {
        let mut out = Vec::with_capacity(lens.len());
        let mut rows = states.chunks_exact(self.hidden);
        for &len in lens {
            let mut sum = vec![0.0f32; self.hidden];
            for row in rows.by_ref().take(len) {
                for (s, v) in sum.iter_mut().zip(row) {
                    *s += v;
                }
            }
            out.push(Pooled { sum, tokens: len });
        }
        out
    }

    /// The encoder layers with int8 linear layers, on plain slices from the
    /// summed embeddings (`[tokens, hidden]`, before their layer norm) to
    /// the last hidden states. Each buffer is allocated once per call and
    /// reused by every layer, biases, GELU and residuals are applied while
    /// a linear layer's output tile is still in cache, and nothing goes
    /// through candle's tensors: at ~1,100 tokens the copies and fresh
    /// allocations of the tensor path cost a sizeable share of the time.
    fn forward_int8(&self, embedded: Vec<f32>, lens: &[usize]) -> candle_core::Result<Vec<f32>> {
        let hidden = self.hidden;
        let head = hidden / self.heads;
        let total = embedded.len() / hidden;
        let mut x = vec![0.0f32; total * hidden];
        self.embedding_norm.forward_rows(&embedded, &mut x);
        // Sums before a layer norm: the linear output plus the residual.
        let mut sum = embedded;
        let mut context = vec![0.0f32; total * hidden];
        // The qkv output, then the intermediate activations: never both live.
        let mut wide: Vec<f32> = Vec::new();
        let mut q = QuantizedRows::default();
        for layer in &self.layers {
            let (
                Weights::Int8(qkv),
                Weights::Int8(attention_out),
                Weights::Int8(up),
                Weights::Int8(down),
            ) = (
                &layer.qkv.weights,
                &layer.attention_out.weights,
                &layer.up.weights,
                &layer.down.weights,
            )
            else {
                candle_core::bail!("int8 forward on a layer that is not int8");
            };
            qkv.quantize_into(&x, &mut q);
            wide.resize(total * qkv.outputs(), 0.0);
            qkv.forward_with(&q, true, |row, c0, y| {
                store_by_head(&mut wide, total, head, row, c0, y);
            });
            attention(
                &wide,
                lens,
                self.heads,
                hidden,
                self.relative.as_ref(),
                &mut context,
            );

            attention_out.quantize_into(&context, &mut q);
            attention_out.forward_into(&q, true, &mut sum, |row, c0, y| {
                add_residual(y, &x[row * hidden + c0..]);
            });
            layer.attention_norm.forward_rows(&sum, &mut x);

            up.quantize_into(&x, &mut q);
            wide.resize(total * up.outputs(), 0.0);
            up.forward_into(&q, true, &mut wide, |_, _, y| gelu(y));

            down.quantize_into(&wide, &mut q);
            down.forward_into(&q, true, &mut sum, |row, c0, y| {
                add_residual(y, &x[row * hidden + c0..]);
            });
            layer.out_norm.forward_rows(&sum, &mut x);
        }
        Ok(x)
    }
}

fn add_residual(y: &mut [f32], residual: &[f32]) {
    for (y, r) in y.iter_mut().zip(residual) {
        *y += r;
    }
}

/// Sum with eight running lanes: float addition is not associative, so a
/// single running sum forces the compiler to add one value at a time,
/// while eight independent lanes let it use vector instructions.
fn sum(values: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let chunks = values.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().sum();
    for chunk in chunks {
        for (l, v) in lanes.iter_mut().zip(chunk) {
            *l += v;
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Puts one run of a `[tokens, 3 * hidden]` qkv row (its columns from
/// `c0`) into the head-major layout [`attention`] reads: for each of the
/// `3 * heads` blocks of `head` columns (queries, keys, values of each
/// head), a `[tokens, head]` matrix.
fn store_by_head(out: &mut [f32], tokens: usize, head: usize, row: usize, c0: usize, y: &[f32]) {
    let mut c = c0;
    let mut rest = y;
    while !rest.is_empty() {
        let (block, d) = (c / head, c % head);
        let take = (head - d).min(rest.len());
        let dst = &mut out[(block * tokens + row) * head + d..][..take];
        // Fixed-size pieces compile to a few moves; one copy of a run-time
        // length is a call to memmove, a sizeable cost at 32 floats.
        let mut pieces = dst.chunks_exact_mut(LANES);
        let mut from = rest[..take].chunks_exact(LANES);
        for (dst, src) in pieces.by_ref().zip(from.by_ref()) {
            dst.copy_from_slice(src);
        }
        pieces.into_remainder().copy_from_slice(from.remainder());
        rest = &rest[take..];
        c += take;
    }
}

/// A whole `[tokens, 3 * hidden]` qkv matrix in the head-major layout.
fn by_head(qkv: &[f32], tokens: usize, head: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; qkv.len()];
    let width = qkv.len() / tokens.max(1);
    for (row, values) in qkv.chunks_exact(width).enumerate() {
        store_by_head(&mut out, tokens, head, row, 0, values);
    }
    out
}

/// Vector lanes of the attention and GELU loops: eight f32, one AVX2
/// register (two SSE2 ones).
const LANES: usize = 8;

/// MPNet's learned attention bias: one value per head for each bucket of
/// key-minus-query distance, added to the scaled scores of every layer.
/// Near distances have a bucket each, far ones share log-spaced buckets,
/// and the sign (key before or after the query) picks the half.
struct RelativeBias {
    buckets: usize,
    /// Longest sequence the bias is laid out for.
    reach: usize,
    /// Each head's bias by distance, expanded once at load so attention
    /// reads it as a slice: `[heads, 2 reach - 1]`, distance
    /// `key - query` at column `key - query + reach - 1`.
    by_distance: Vec<f32>,
}

impl RelativeBias {
    const TENSOR: &'static str = "encoder.relative_attention_bias.weight";
    /// MPNet's fixed reach: distances from 128 on share the last bucket.
    const MAX_DISTANCE: f32 = 128.0;

    /// The bucket of `key - query`, as transformers' MPNet computes it
    /// (in f32, truncating), so the bias matches the trained model's.
    fn bucket(&self, relative: i64) -> usize {
        let half = self.buckets / 2;
        let n = -relative;
        let mut bucket = if n < 0 { half } else { 0 };
        let n = n.unsigned_abs() as usize;
        let exact = half / 2;
        bucket += if n < exact {
            n
        } else {
            let scaled = (n as f32 / exact as f32).ln() / (Self::MAX_DISTANCE / exact as f32).ln()
                * (half - exact) as f32;
            (exact + scaled as usize).min(half - 1)
        };
        bucket
    }

    /// From the stored `[buckets, heads]` table, for sequences of up to
    /// `reach` tokens.
    fn new(table: &[f32], buckets: usize, heads: usize, reach: usize) -> Self {
        let mut bias = Self {
            buckets,
            reach,
            by_distance: Vec::new(),
        };
        let width = 2 * reach - 1;
        let mut by_distance = vec![0.0; heads * width];
        for k in 0..width {
            let bucket = bias.bucket(k as i64 - (reach as i64 - 1));
            for h in 0..heads {
                by_distance[h * width + k] = table[bucket * heads + h];
            }
        }
        bias.by_distance = by_distance;
        bias
    }

    /// Head `h`'s bias for query `i` against keys `0..len` of its sequence.
    fn row(&self, h: usize, i: usize, len: usize) -> &[f32] {
        let width = 2 * self.reach - 1;
        &self.by_distance[h * width + (self.reach - 1 - i)..][..len]
    }
}

/// Multi-head self-attention, each sequence attending only to itself.
/// `qkv` holds queries, keys and values head-major (see [`store_by_head`]);
/// writes the `[tokens, hidden]` context into `out`.
fn attention(
    qkv: &[f32],
    lens: &[usize],
    heads: usize,
    hidden: usize,
    relative: Option<&RelativeBias>,
    out: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { attention_avx2(qkv, lens, heads, hidden, relative, out) };
    }
    attention_body(qkv, lens, heads, hidden, relative, out);
}

/// [`attention_body`] compiled for AVX2: the same operations in the same
/// order (no fused multiply-add), so the same bits as the SSE2 build, on
/// registers twice as wide.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn attention_avx2(
    qkv: &[f32],
    lens: &[usize],
    heads: usize,
    hidden: usize,
    relative: Option<&RelativeBias>,
    out: &mut [f32],
) {
    attention_body(qkv, lens, heads, hidden, relative, out);
}

/// Head-major, a sequence's queries, keys and values for one head are
/// three small contiguous blocks that stay in L1 while every query runs
/// over them (token-major, each key was a separate cache line 4.6 KB from
/// the next). The keys are copied transposed in blocks of [`LANES`] keys
/// (zero keys pad the last block), so a query's scores against a block
/// build up in one register over the head's dimensions instead of ending
/// in a horizontal sum per key; likewise the weighted sum of values runs
/// [`LANES`] dimensions at a time, and the softmax normalisation is applied
/// once to it.
#[inline(always)]
fn attention_body(
    qkv: &[f32],
    lens: &[usize],
    heads: usize,
    hidden: usize,
    relative: Option<&RelativeBias>,
    out: &mut [f32],
) {
    let head = hidden / heads;
    let tokens: usize = lens.iter().sum();
    let scale = 1.0 / (head as f32).sqrt();
    let block = |part: usize, h: usize, start: usize, len: usize| {
        &qkv[((part * heads + h) * tokens + start) * head..][..len * head]
    };
    let mut keys: Vec<f32> = Vec::new();
    let mut scores: Vec<f32> = Vec::new();
    let mut start = 0;
    for &len in lens {
        let padded = len.div_ceil(LANES) * LANES;
        for h in 0..heads {
            let (queries, values) = (block(0, h, start, len), block(2, h, start, len));
            // keys[(b · head + d) · LANES + l] = key (b · LANES + l), dimension d.
            keys.clear();
            keys.resize(padded * head, 0.0);
            for (j, k) in block(1, h, start, len).chunks_exact(head).enumerate() {
                let (b, l) = (j / LANES, j % LANES);
                for (d, &k) in k.iter().enumerate() {
                    keys[(b * head + d) * LANES + l] = k;
                }
            }
            scores.resize(padded, 0.0);
            for (i, q) in queries.chunks_exact(head).enumerate() {
                for (s, keys) in scores
                    .chunks_exact_mut(LANES)
                    .zip(keys.chunks_exact(head * LANES))
                {
                    let mut acc = [0.0f32; LANES];
                    for (&qd, k) in q.iter().zip(keys.chunks_exact(LANES)) {
                        for (a, k) in acc.iter_mut().zip(k) {
                            *a += qd * k;
                        }
                    }
                    s.copy_from_slice(&acc);
                }
                let scores = &mut scores[..len];
                if let Some(relative) = relative {
                    for (s, b) in scores.iter_mut().zip(relative.row(h, i, len)) {
                        *s = *s * scale + b;
                    }
                    let max = scores.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
                    for s in scores.iter_mut() {
                        *s = exp(*s - max);
                    }
                } else {
                    let max = scores.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
                    for s in scores.iter_mut() {
                        *s = exp((*s - max) * scale);
                    }
                }
                let inv = 1.0 / scores.iter().sum::<f32>();
                let o = &mut out[(start + i) * hidden + h * head..][..head];
                let mut d0 = 0;
                for o in o.chunks_mut(LANES) {
                    let mut acc = [0.0f32; LANES];
                    if o.len() == LANES {
                        for (s, v) in scores.iter().zip(values.chunks_exact(head)) {
                            for (a, v) in acc.iter_mut().zip(&v[d0..d0 + LANES]) {
                                *a += s * v;
                            }
                        }
                    } else {
                        for (s, v) in scores.iter().zip(values.chunks_exact(head)) {
                            for (a, v) in acc.iter_mut().zip(&v[d0..]) {
                                *a += s * v;
                            }
                        }
                    }
                    for (o, a) in o.iter_mut().zip(&acc) {
                        *o = a * inv;
                    }
                    d0 += LANES;
                }
            }
        }
        start += len;
    }
}

/// Adds the bias to each row, then applies BERT's exact GELU,
/// `x · (1 + erf(x / √2)) / 2`. A branch-free loop the compiler vectorises;
/// candle's element-wise erf is a scalar call per value, and the
/// intermediate layer has 1,536 values per token.
fn bias_gelu(values: &mut [f32], bias: &[f32]) {
    if bias.is_empty() {
        return;
    }
    for row in values.chunks_exact_mut(bias.len()) {
        for (v, b) in row.iter_mut().zip(bias) {
            *v += b;
        }
        gelu(row);
    }
}

/// BERT's exact GELU in place.
fn gelu(values: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { gelu_avx2(values) };
    }
    gelu_body(values);
}

/// [`gelu_body`] compiled for AVX2: element-wise IEEE operations without
/// fused multiply-add, so the same bits as the SSE2 build.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn gelu_avx2(values: &mut [f32]) {
    gelu_body(values);
}

#[inline(always)]
fn gelu_body(values: &mut [f32]) {
    for v in values.iter_mut() {
        let x = *v;
        *v = 0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2));
    }
}

/// e^x in plain f32 arithmetic: range reduction by ln 2 and a degree-6
/// polynomial (relative error < 3e-7 on [-87, 10], tested). `f32::exp` calls
/// glibc, which picks an FMA or an SSE2 routine by CPU and the two may round
/// differently; this gives the same bits on every x86-64 CPU, so the int8
/// engine's embeddings (and grades) do not depend on the machine.
#[inline(always)]
fn exp(x: f32) -> f32 {
    // Softmax only passes x ≤ 0; below -87 e^x is subnormal in f32, and a
    // weight that small beside the maximum's 1 vanishes anyway.
    let x = x.clamp(-87.0, 88.0);
    // Adding and subtracting 1.5·2²³ rounds to the nearest integer.
    let n = (x * std::f32::consts::LOG2_E + 12_582_912.0) - 12_582_912.0;
    // ln 2 in two parts, the first exact in few bits, so n·ln2 loses nothing.
    let r = x - n * 0.693_145_75 - n * 1.428_606_8e-6;
    let mut p = 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // 2^n from its exponent bits; n is within [-126, 127] after the clamp.
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// erf as a rational function of odd and even polynomials on [-4, 4]
/// (the single-precision approximation Eigen and XLA use; beyond ±4 erf is
/// ±1 in f32). Branch-free so that it vectorises; max error ~1e-7.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = x2 * -2.726_142_3e-10 + 2.770_681_4e-8;
    p = x2 * p + -2.101_024e-6;
    p = x2 * p + -5.692_506_4e-5;
    p = x2 * p + -7.349_906_3e-4;
    p = x2 * p + -2.954_600_1e-3;
    p = x2 * p + -1.609_603_3e-2;
    p *= x;
    let mut q = x2 * -1.456_607_2e-5 + -2.133_740_6e-4;
    q = x2 * q + -1.682_827e-3;
    q = x2 * q + -7.373_329_2e-3;
    q = x2 * q + -1.426_473_9e-2;
    p / q
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf by its Taylor series in f64, exact enough on [-4, 4] to judge the
    /// approximation against.
    pub(super) fn erf_series(x: f64) -> f64 {
        let mut term = x;
        let mut sum = x;
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn erf_approximation_is_within_single_precision_noise() {
        let mut worst = 0.0f64;
        for i in -600..=600 {
            let x = i as f64 / 100.0;
            let want = if x.abs() > 4.0 {
                x.signum()
            } else {
                erf_series(x)
            };
            worst = worst.max((f64::from(erf(x as f32)) - want).abs());
        }
        assert!(worst < 1e-6, "max error {worst}");
    }

    #[test]
    fn exp_is_within_a_few_ulp() {
        let mut worst = 0.0f64;
        for i in -87_000..=10_000 {
            let x = i as f32 / 1000.0;
            let want = f64::from(x).exp();
            worst = worst.max(((f64::from(exp(x)) - want) / want).abs());
        }
        assert!(worst < 3e-7, "relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1000.0) >= 0.0 && exp(-1000.0) < 1e-37);
    }

    #[test]
    fn attention_keeps_sequences_apart() {
        // Two one-token sequences: each token can only attend to itself, so its
        // context is its own value vector whatever the queries and keys are.
        let (heads, hidden) = (2, 4);
        let mut qkv = Vec::new();
        for t in 0..2 {
            let base = t as f32 * 10.0;
            qkv.extend((0..4).map(|i| base + i as f32)); // q
            qkv.extend((0..4).map(|i| base - i as f32)); // k
            qkv.extend((0..4).map(|i| base + 100.0 + i as f32)); // v
        }
        let mut out = vec![f32::NAN; 8];
        attention(&by_head(&qkv, 2, 2), &[1, 1], heads, hidden, None, &mut out);
        assert_eq!(
            out,
            vec![100.0, 101.0, 102.0, 103.0, 110.0, 111.0, 112.0, 113.0]
        );
    }

    #[test]
    fn attention_matches_its_definition() {
        // Three sequences, three heads of 4: softmax(q·k / √4) · v in f64.
        let (heads, head, lens) = (3, 4, [5, 1, 7]);
        let hidden = heads * head;
        let tokens: usize = lens.iter().sum();
        let qkv: Vec<f32> = (0..tokens * 3 * hidden)
            .map(|i| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * 2.0)
            .collect();
        let mut got = vec![f32::NAN; tokens * hidden];
        attention(
            &by_head(&qkv, tokens, head),
            &lens,
            heads,
            hidden,
            None,
            &mut got,
        );
        let at = |t: usize, c: usize| f64::from(qkv[t * 3 * hidden + c]);
        let mut start = 0;
        for len in lens {
            for h in 0..heads {
                for i in start..start + len {
                    let scores: Vec<f64> = (start..start + len)
                        .map(|j| {
                            let dot: f64 = (0..head)
                                .map(|d| at(i, h * head + d) * at(j, hidden + h * head + d))
                                .sum();
                            (dot / 2.0).exp()
                        })
                        .collect();
                    let total: f64 = scores.iter().sum();
                    for d in 0..head {
                        let want: f64 = (start..start + len)
                            .zip(&scores)
                            .map(|(j, s)| s / total * at(j, 2 * hidden + h * head + d))
                            .sum();
                        let g = f64::from(got[i * hidden + h * head + d]);
                        assert!((g - want).abs() < 1e-5, "{g} vs {want}");
                    }
                }
            }
            start += len;
        }
    }

    /// Values spread over GELU's and softmax's interesting ranges, with ties
    /// and both signs, deterministic.
    fn spread(len: usize) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 7919 % 2003) as f32 / 1001.0 - 1.0) * 6.0)
            .collect()
    }

    #[test]
    fn the_avx2_builds_give_the_sse2_bits() {
        // Whichever build a CPU runs, the embeddings (and so the grades) must
        // be the same: the dispatching functions against the plain bodies.
        let mut dispatched = spread(1536 * 3 + 5);
        let mut plain = dispatched.clone();
        gelu(&mut dispatched);
        gelu_body(&mut plain);
        assert!(dispatched
            .iter()
            .zip(&plain)
            .all(|(a, b)| a.to_bits() == b.to_bits()));

        let (heads, head, lens) = (12, 32, [1, 9, 23, 16, 40]);
        let hidden = heads * head;
        let tokens: usize = lens.iter().sum();
        let qkv = by_head(&spread(tokens * 3 * hidden), tokens, head);
        let mut dispatched = vec![0.0; tokens * hidden];
        let mut plain = vec![0.0; tokens * hidden];
        attention(&qkv, &lens, heads, hidden, None, &mut dispatched);
        attention_body(&qkv, &lens, heads, hidden, None, &mut plain);
        assert!(dispatched
            .iter()
            .zip(&plain)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
        // And with MPNet's relative-position bias added to the scores.
        let relative = RelativeBias::new(&spread(32 * heads), 32, heads, 64);
        attention(&qkv, &lens, heads, hidden, Some(&relative), &mut dispatched);
        attention_body(&qkv, &lens, heads, hidden, Some(&relative), &mut plain);
        assert!(dispatched
            .iter()
            .zip(&plain)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    #[test]
    fn sum_adds_every_value_including_the_tail() {
        let a: Vec<f32> = (0..19).map(|i| i as f32).collect();
        assert_eq!(sum(&a), 171.0);
    }

    #[test]
    fn gelu_matches_its_definition_at_known_points() {
        let mut v = vec![0.0, 1.0, -1.0, 3.0];
        bias_gelu(&mut v, &[0.0, 0.0, 0.0, 1.0]);
        // GELU(0) = 0, GELU(1) = 0.841345, GELU(-1) = -0.158655, GELU(4) = 3.999873
        for (got, want) in v.iter().zip([0.0, 0.841_345, -0.158_655, 3.999_873]) {
            assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        }
    }
}

#[cfg(test)]
mod mpnet_tests {
    //! MPNet's forward on a tiny random checkpoint, against a plain f64
    //! implementation of transformers' `MPNetModel` written out here: the
    //! real all-mpnet-base-v2 is 438 MB and not part of the test set-up.
    use std::collections::HashMap;

    use super::*;

    const HIDDEN: usize = 32;
    const HEADS: usize = 2;
    const LAYERS: usize = 2;
    const UP: usize = 64;
    const VOCAB: usize = 30;
    const POSITIONS: usize = 40;
    const BUCKETS: usize = 32;

    /// Deterministic weights in [-0.5, 0.5), a different run per tensor.
    fn values(seed: u64, n: usize) -> Vec<f32> {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect()
    }

    fn checkpoint() -> HashMap<String, Vec<f32>> {
        let mut shapes: Vec<(String, usize)> = vec![
            ("embeddings.word_embeddings.weight".into(), VOCAB * HIDDEN),
            (
                "embeddings.position_embeddings.weight".into(),
                POSITIONS * HIDDEN,
            ),
            ("embeddings.LayerNorm.weight".into(), HIDDEN),
            ("embeddings.LayerNorm.bias".into(), HIDDEN),
            (RelativeBias::TENSOR.into(), BUCKETS * HEADS),
        ];
        for l in 0..LAYERS {
            let p = format!("encoder.layer.{l}.");
            for part in ["q", "k", "v", "o"] {
                shapes.push((format!("{p}attention.attn.{part}.weight"), HIDDEN * HIDDEN));
                shapes.push((format!("{p}attention.attn.{part}.bias"), HIDDEN));
            }
            for norm in ["attention.LayerNorm", "output.LayerNorm"] {
                shapes.push((format!("{p}{norm}.weight"), HIDDEN));
                shapes.push((format!("{p}{norm}.bias"), HIDDEN));
            }
            shapes.push((format!("{p}intermediate.dense.weight"), UP * HIDDEN));
            shapes.push((format!("{p}intermediate.dense.bias"), UP));
            shapes.push((format!("{p}output.dense.weight"), HIDDEN * UP));
            shapes.push((format!("{p}output.dense.bias"), HIDDEN));
        }
        shapes
            .into_iter()
            .enumerate()
            .map(|(i, (name, n))| {
                let mut v = values(i as u64, n);
                if name.ends_with("LayerNorm.weight") {
                    v.iter_mut().for_each(|x| *x += 1.0);
                }
                if name == RelativeBias::TENSOR {
                    // Large enough that a wrong bucket moves the result.
                    v.iter_mut().for_each(|x| *x *= 6.0);
                }
                (name, v)
            })
            .collect()
    }

    fn shape(name: &str) -> Vec<usize> {
        let n = |s: &str| name.ends_with(s);
        if name == RelativeBias::TENSOR {
            vec![BUCKETS, HEADS]
        } else if n("word_embeddings.weight") {
            vec![VOCAB, HIDDEN]
        } else if n("position_embeddings.weight") {
            vec![POSITIONS, HIDDEN]
        } else if n("intermediate.dense.weight") {
            vec![UP, HIDDEN]
        } else if n("output.dense.weight") {
            vec![HIDDEN, UP]
        } else if n(".weight") && name.contains("attn.") {
            vec![HIDDEN, HIDDEN]
        } else if n("intermediate.dense.bias") {
            vec![UP]
        } else {
            vec![HIDDEN]
        }
    }

    fn load(weights: &HashMap<String, Vec<f32>>, precision: Precision) -> MiniLm {
        let tensors: HashMap<String, Tensor> = weights
            .iter()
            .map(|(name, v)| {
                let t = Tensor::from_vec(v.clone(), shape(name), &Device::Cpu).expect("tensor");
                (name.clone(), t)
            })
            .collect();
        let vb = VarBuilder::from_tensors(tensors, candle_core::DType::F32, &Device::Cpu);
        let config: Config = serde_json::from_value(serde_json::json!({
            "vocab_size": VOCAB, "hidden_size": HIDDEN, "num_hidden_layers": LAYERS,
            "num_attention_heads": HEADS, "intermediate_size": UP, "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1, "max_position_embeddings": POSITIONS,
            "type_vocab_size": 1, "initializer_range": 0.02, "layer_norm_eps": 1e-5,
            "pad_token_id": 1, "model_type": "mpnet"
        }))
        .expect("config");
        let calibration: [&[u32]; 2] = [&[0, 5, 7, 2], &[0, 9, 2]];
        MiniLm::load(vb, &config, precision, &calibration).expect("tiny MPNet")
    }

    /// transformers' `relative_position_bucket` (32 buckets, reach 128),
    /// written as its Python reads.
    fn bucket_reference(relative: i64) -> usize {
        let mut ret = 0;
        let n = -relative;
        let half = 16;
        if n < 0 {
            ret += half;
        }
        let n = n.abs();
        let exact = half / 2;
        if n < exact as i64 {
            return ret + n as usize;
        }
        let large = exact as f32
            + ((n as f32 / exact as f32).ln() / (128.0f32 / exact as f32).ln()
                * (half - exact) as f32)
                .trunc();
        ret + (large as usize).min(half - 1)
    }

    /// `MPNetModel` in f64: embeddings (positions from pad + 1), then per
    /// layer attention with the relative bias, post-norm residuals, GELU.
    /// Returns the sum of the last hidden states (mean pooling's numerator).
    fn reference(w: &HashMap<String, Vec<f32>>, ids: &[u32]) -> Vec<f64> {
        let get = |name: &str| -> Vec<f64> { w[name].iter().map(|&v| f64::from(v)).collect() };
        let len = ids.len();
        let head = HIDDEN / HEADS;
        let norm = |x: &[f64], p: &str| -> Vec<f64> {
            let (g, b) = (get(&format!("{p}.weight")), get(&format!("{p}.bias")));
            x.chunks(HIDDEN)
                .flat_map(|row| {
                    let mean = row.iter().sum::<f64>() / HIDDEN as f64;
                    let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / HIDDEN as f64;
                    let inv = 1.0 / (var + 1e-5).sqrt();
                    (0..HIDDEN)
                        .map(|c| (row[c] - mean) * inv * g[c] + b[c])
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        // PyTorch's Linear: y = x Wᵀ + b, W as [out, in].
        let linear = |x: &[f64], p: &str, inputs: usize, outputs: usize| -> Vec<f64> {
            let (wt, b) = (get(&format!("{p}.weight")), get(&format!("{p}.bias")));
            x.chunks(inputs)
                .flat_map(|row| {
                    (0..outputs)
                        .map(|o| {
                            b[o] + (0..inputs)
                                .map(|i| row[i] * wt[o * inputs + i])
                                .sum::<f64>()
                        })
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        let word = get("embeddings.word_embeddings.weight");
        let position = get("embeddings.position_embeddings.weight");
        let mut x: Vec<f64> = (0..len)
            .flat_map(|t| {
                let (id, pos) = (ids[t] as usize, t + 2);
                (0..HIDDEN)
                    .map(|c| word[id * HIDDEN + c] + position[pos * HIDDEN + c])
                    .collect::<Vec<_>>()
            })
            .collect();
        x = norm(&x, "embeddings.LayerNorm");
        let table = get(RelativeBias::TENSOR);
        for l in 0..LAYERS {
            let p = format!("encoder.layer.{l}.");
            let q = linear(&x, &format!("{p}attention.attn.q"), HIDDEN, HIDDEN);
            let k = linear(&x, &format!("{p}attention.attn.k"), HIDDEN, HIDDEN);
            let v = linear(&x, &format!("{p}attention.attn.v"), HIDDEN, HIDDEN);
            let mut context = vec![0.0; len * HIDDEN];
            for h in 0..HEADS {
                for i in 0..len {
                    let scores: Vec<f64> = (0..len)
                        .map(|j| {
                            let dot: f64 = (0..head)
                                .map(|d| {
                                    q[i * HIDDEN + h * head + d] * k[j * HIDDEN + h * head + d]
                                })
                                .sum();
                            let b = bucket_reference(j as i64 - i as i64);
                            dot / (head as f64).sqrt() + table[b * HEADS + h]
                        })
                        .collect();
                    let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                    let total: f64 = e.iter().sum();
                    for d in 0..head {
                        context[i * HIDDEN + h * head + d] = (0..len)
                            .map(|j| e[j] / total * v[j * HIDDEN + h * head + d])
                            .sum();
                    }
                }
            }
            let o = linear(&context, &format!("{p}attention.attn.o"), HIDDEN, HIDDEN);
            let sum: Vec<f64> = o.iter().zip(&x).map(|(a, b)| a + b).collect();
            x = norm(&sum, &format!("{p}attention.LayerNorm"));
            let mut up = linear(&x, &format!("{p}intermediate.dense"), HIDDEN, UP);
            for u in &mut up {
                *u = 0.5 * *u * (1.0 + erf_f64(*u / std::f64::consts::SQRT_2));
            }
            let down = linear(&up, &format!("{p}output.dense"), UP, HIDDEN);
            let sum: Vec<f64> = down.iter().zip(&x).map(|(a, b)| a + b).collect();
            x = norm(&sum, &format!("{p}output.LayerNorm"));
        }
        (0..HIDDEN)
            .map(|c| (0..len).map(|t| x[t * HIDDEN + c]).sum())
            .collect()
    }

    /// erf in f64: the series of the kernel tests, and ±1 past ±4, where
    /// erf is within 2e-8 of it.
    fn erf_f64(x: f64) -> f64 {
        if x.abs() > 4.0 {
            x.signum()
        } else {
            super::tests::erf_series(x)
        }
    }

    #[test]
    fn buckets_follow_transformers() {
        let model = load(&checkpoint(), Precision::F32);
        let bias = model.relative.as_ref().expect("MPNet has a relative bias");
        for relative in -200..=200 {
            assert_eq!(
                bias.bucket(relative),
                bucket_reference(relative),
                "{relative}"
            );
        }
        // Landmarks: a key right after the query, right before, and far off.
        assert_eq!(bias.bucket(0), 0);
        assert_eq!(bias.bucket(1), 17);
        assert_eq!(bias.bucket(-1), 1);
        assert_eq!(bias.bucket(-16), 10);
        assert_eq!(bias.bucket(-500), 15);
        assert_eq!(bias.bucket(500), 31);
    }

    #[test]
    fn the_packed_forward_is_mpnet() {
        let weights = checkpoint();
        // Lengths past 8 and 16 reach the log-spaced buckets; several
        // sequences in one pass must stay apart.
        let seqs: Vec<Vec<u32>> = vec![
            (0..23).map(|i| (i * 7 % VOCAB) as u32).collect(),
            vec![0, 3, 2],
            vec![4],
            (0..12).map(|i| (i * 5 % VOCAB) as u32).collect(),
        ];
        let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
        for (precision, tolerance) in [
            (Precision::F32, 1e-4),
            (Precision::Q8, 0.05),
            (Precision::Int8, 0.05),
        ] {
            let model = load(&weights, precision);
            let pooled = model.pool(&refs).expect("forward");
            for (seq, got) in seqs.iter().zip(&pooled) {
                assert_eq!(got.tokens, seq.len());
                let want = reference(&weights, seq);
                let scale = want.iter().map(|v| v.abs()).fold(1.0, f64::max);
                for (g, w) in got.sum.iter().zip(&want) {
                    assert!(
                        (f64::from(*g) - w).abs() / scale < tolerance,
                        "{precision}, {} tokens: {g} vs {w}",
                        seq.len()
                    );
                }
            }
        }
        // Without the bias the result is another one: the test can see it.
        let mut flat = weights.clone();
        flat.insert(RelativeBias::TENSOR.into(), vec![0.0; BUCKETS * HEADS]);
        let plain = load(&flat, Precision::F32)
            .pool(&refs[..1])
            .expect("forward");
        let want = reference(&weights, &seqs[0]);
        let off = plain[0]
            .sum
            .iter()
            .zip(&want)
            .map(|(g, w)| (f64::from(*g) - w).abs())
            .fold(0.0, f64::max);
        assert!(off > 1e-2, "the relative bias changed nothing ({off})");
    }
}
