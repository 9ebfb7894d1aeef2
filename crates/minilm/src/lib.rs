//! all-MiniLM-L6-v2's BERT forward pass, written for what pitchgrade's
//! offline judge does: embed dozens of short sentences at once on one CPU core.
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

use int8::{Int8Linear, Kernel};

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
    /// Every text is one segment, so only the first token-type row is ever added.
    token_type: Tensor,
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

struct Norm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl Norm {
    fn load(vb: VarBuilder, size: usize, eps: f64) -> candle_core::Result<Self> {
        Ok(Self {
            weight: vb.get(size, "weight")?,
            bias: vb.get(size, "bias")?,
            eps: eps as f32,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::layer_norm(x, &self.weight, &self.bias, self.eps)
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
        let e = vb.pp("embeddings");
        let word = e.get((config.vocab_size, hidden), "word_embeddings.weight")?;
        let position = e.get(
            (config.max_position_embeddings, hidden),
            "position_embeddings.weight",
        )?;
        let token_type = e
            .get(
                (config.type_vocab_size, hidden),
                "token_type_embeddings.weight",
            )?
            .get(0)?;
        let embedding_norm = Norm::load(e.pp("LayerNorm"), hidden, config.layer_norm_eps)?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let l = vb.pp(format!("encoder.layer.{i}"));
            let a = l.pp("attention");
            let s = a.pp("self");
            let part = |name: &str| -> candle_core::Result<(Tensor, Tensor)> {
                Ok((
                    s.get((hidden, hidden), &format!("{name}.weight"))?,
                    s.get(hidden, &format!("{name}.bias"))?,
                ))
            };
            let (qw, qb) = part("query")?;
            let (kw, kb) = part("key")?;
            let (vw, vb_) = part("value")?;
            let qkv = Linear::new(
                Tensor::cat(&[&qw, &kw, &vw], 0)?,
                Tensor::cat(&[&qb, &kb, &vb_], 0)?,
                precision,
            )?;
            layers.push(Layer {
                qkv,
                attention_out: Linear::load(a.pp("output.dense"), hidden, hidden, precision)?,
                attention_norm: Norm::load(
                    a.pp("output.LayerNorm"),
                    hidden,
                    config.layer_norm_eps,
                )?,
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
                out_norm: Norm::load(l.pp("output.LayerNorm"), hidden, config.layer_norm_eps)?,
            });
        }
        let mut model = Self {
            word,
            position,
            token_type,
            embedding_norm,
            layers,
            heads,
            hidden,
            max_positions: config.max_position_embeddings,
            device: vb.device().clone(),
            kernel: None,
        };
        if precision == Precision::Int8 {
            let kernel = kernel_from_env()?;
            let smoothing = std::env::var(SMOOTHING_ENV).map_or(true, |v| v != "off");
            let mut stats = ChannelMax::new();
            if smoothing {
                if calibration.is_empty() {
                    candle_core::bail!("int8 needs calibration text for its smoothing factors");
                }
                model.forward(calibration, Some(&mut stats))?;
            }
            let none = Vec::new();
            for (i, layer) in model.layers.iter_mut().enumerate() {
                let max = |j: usize| stats.get(4 * i + j).unwrap_or(&none);
                layer.qkv.quantize(max(0), kernel)?;
                layer.attention_out.quantize(max(1), kernel)?;
                layer.up.quantize(max(2), kernel)?;
                layer.down.quantize(max(3), kernel)?;
            }
            model.kernel = Some(kernel);
        }
        Ok(model)
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
        let positions: Vec<u32> = lens.iter().flat_map(|&l| 0..l as u32).collect();
        let ids = Tensor::from_vec(ids, total, &self.device)?;
        let positions = Tensor::from_vec(positions, total, &self.device)?;
        let x = (self.word.index_select(&ids, 0)? + self.position.index_select(&positions, 0)?)?
            .broadcast_add(&self.token_type)?;
        let mut x = self.embedding_norm.forward(&x)?;
        for (i, layer) in self.layers.iter().enumerate() {
            observe(&mut stats, 4 * i, &x)?;
            let qkv = layer.qkv.forward_vec(&x, true)?;
            let context = attention(&qkv, &lens, self.heads, self.hidden);
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
        let mut out = Vec::with_capacity(lens.len());
        let mut rows = states.chunks_exact(self.hidden);
        for &len in &lens {
            let mut sum = vec![0.0f32; self.hidden];
            for row in rows.by_ref().take(len) {
                for (s, v) in sum.iter_mut().zip(row) {
                    *s += v;
                }
            }
            out.push(Pooled { sum, tokens: len });
        }
        Ok(out)
    }
}

/// Multi-head self-attention, each sequence attending only to itself.
/// `qkv` is `[tokens, 3 * hidden]` (queries, keys, values side by side);
/// returns the `[tokens, hidden]` context.
fn attention(qkv: &[f32], lens: &[usize], heads: usize, hidden: usize) -> Vec<f32> {
    let head = hidden / heads;
    let width = 3 * hidden;
    let scale = 1.0 / (head as f32).sqrt();
    let total: usize = lens.iter().sum();
    let mut out = vec![0.0f32; total * hidden];
    let mut scores: Vec<f32> = Vec::new();
    let mut start = 0;
    for &len in lens {
        for h in 0..heads {
            let (q_at, k_at, v_at) = (h * head, hidden + h * head, 2 * hidden + h * head);
            for i in 0..len {
                let q = &qkv[(start + i) * width + q_at..][..head];
                scores.clear();
                let mut max = f32::NEG_INFINITY;
                for j in 0..len {
                    let k = &qkv[(start + j) * width + k_at..][..head];
                    let s = dot(q, k) * scale;
                    max = max.max(s);
                    scores.push(s);
                }
                let mut total_weight = 0.0;
                for s in scores.iter_mut() {
                    *s = exp(*s - max);
                    total_weight += *s;
                }
                let o = &mut out[(start + i) * hidden + h * head..][..head];
                for (j, s) in scores.iter().enumerate() {
                    let p = s / total_weight;
                    let v = &qkv[(start + j) * width + v_at..][..head];
                    for (o, v) in o.iter_mut().zip(v) {
                        *o += p * v;
                    }
                }
            }
        }
        start += len;
    }
    out
}

/// Dot product with eight running sums: float addition is not associative,
/// so a single running sum forces the compiler to add one product at a time,
/// while eight independent lanes let it use vector instructions.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a8.zip(b8) {
        for ((l, x), y) in lanes.iter_mut().zip(x).zip(y) {
            *l += x * y;
        }
    }
    lanes.iter().sum::<f32>() + tail
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
            let x = *v + b;
            *v = 0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2));
        }
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
    fn erf_series(x: f64) -> f64 {
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
        let out = attention(&qkv, &[1, 1], heads, hidden);
        assert_eq!(
            out,
            vec![100.0, 101.0, 102.0, 103.0, 110.0, 111.0, 112.0, 113.0]
        );
    }

    #[test]
    fn dot_adds_every_product_including_the_tail() {
        let a: Vec<f32> = (0..19).map(|i| i as f32).collect();
        let b: Vec<f32> = (0..19).map(|i| (i % 3) as f32).collect();
        let want: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert_eq!(dot(&a, &b), want);
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
