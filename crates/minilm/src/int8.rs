//! Exact-integer int8 linear layers: `y = x · Wᵀ + b` with `x` quantized per
//! token row and `W` per output row, both symmetric in [-127, 127].
//!
//! The integer dot products are exact on every kernel (AVX512-VNNI, AVX2,
//! scalar), and the float epilogue is the same scalar code everywhere, so a
//! layer's output is bit-identical whichever CPU runs it: a grade must not
//! depend on the machine that computed it.
//!
//! Activations are stored offset by 128 (`a + 128`, in 1..=255): VNNI's
//! `vpdpbusd` takes one unsigned and one signed byte, and the offset is
//! exact to remove, `Σ (a + 128) · w = Σ a · w + 128 · Σ w`, with `Σ w`
//! fixed per output at load. AVX2 has no byte product that cannot
//! saturate, so its kernel widens both sides to i16 and uses `vpmaddwd`
//! (the activations once per layer, the weights in registers as they are
//! loaded, so the weights still stream from memory as bytes).
//!
//! Both operands keep K (the input width) contiguous and padded to a
//! multiple of [`K_ALIGN`] with zero weights: a zero weight adds nothing
//! to an exact dot product whatever the activation, and the SIMD kernels
//! then never need a tail loop.

/// K is padded to this many bytes: one AVX-512 register of i8.
pub const K_ALIGN: usize = 64;

/// Largest quantized magnitude, activations and weights. -128 is never
/// produced, so the offset activation `a + 128` fits in a u8.
const QMAX: f32 = 127.0;
/// What the stored activations are offset by.
const OFFSET: i32 = 128;
/// 1.5 · 2²³: see [`quantize_row`].
const ROUND: f32 = 12_582_912.0;

/// The int8 dot-product implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// `vpdpbusd` on 512-bit registers (AVX512-F/BW + AVX512-VNNI).
    Avx512Vnni,
    /// `vpmaddwd` on i16-widened bytes, 256-bit registers.
    Avx2,
    /// Plain Rust; any CPU.
    Scalar,
}

impl Kernel {
    /// The fastest kernel this CPU runs.
    pub fn detect() -> Self {
        [Self::Avx512Vnni, Self::Avx2]
            .into_iter()
            .find(|k| k.available())
            .unwrap_or(Self::Scalar)
    }

    /// Whether this CPU has the instructions the kernel needs.
    pub fn available(self) -> bool {
        match self {
            Self::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Self::Avx512Vnni => {
                is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 => is_x86_feature_detected!("avx2"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Every kernel this CPU runs, fastest first.
    pub fn all_available() -> Vec<Self> {
        [Self::Avx512Vnni, Self::Avx2, Self::Scalar]
            .into_iter()
            .filter(|k| k.available())
            .collect()
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Avx512Vnni => "avx512vnni",
            Self::Avx2 => "avx2",
            Self::Scalar => "scalar",
        }
    }
}

impl std::str::FromStr for Kernel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "avx512vnni" | "avx512" | "vnni" => Ok(Self::Avx512Vnni),
            "avx2" => Ok(Self::Avx2),
            "scalar" => Ok(Self::Scalar),
            other => Err(format!(
                "unknown int8 kernel {other:?} (auto, avx512vnni, avx2 or scalar)"
            )),
        }
    }
}

/// Rounds `k` up to the padded width.
pub fn padded(k: usize) -> usize {
    k.div_ceil(K_ALIGN) * K_ALIGN
}

/// Token rows per micro-tile; activations are padded to a multiple.
const MR: usize = 8;
/// Output columns per micro-tile; weights are padded to a multiple.
const NT: usize = 32;

/// Largest `|x|` of a slice, NaN or infinite included (both make it non-finite).
/// The bit pattern of a non-negative float orders like its value, and an
/// integer maximum vectorises where `f32::max` does not.
#[inline(always)]
fn max_abs(values: &[f32]) -> f32 {
    f32::from_bits(
        values
            .iter()
            .map(|v| v.to_bits() & 0x7fff_ffff)
            .max()
            .unwrap_or(0),
    )
}

/// Quantizes each `k`-wide row of `x`, its channels first multiplied by
/// `factors` (empty for none), to `[-qmax, qmax]`, into the first `k` bytes
/// of each `padded(k)`-wide row of `out` as `q + offset` (wrapping), writing
/// one scale per row. Weights (at load) and activations (per layer) go
/// through this one path, so both sides of a product are quantized alike.
fn quantize_rows(
    x: &[f32],
    k: usize,
    factors: &[f32],
    qmax: f32,
    offset: u8,
    out: &mut [u8],
    scales: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { quantize_rows_avx2(x, k, factors, qmax, offset, out, scales) };
    }
    quantize_rows_body(x, k, factors, qmax, offset, out, scales);
}

/// [`quantize_rows_body`] compiled for AVX2: the same element-wise
/// operations and the same (integer) maximum, so the same bytes and scales
/// as the SSE2 build.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn quantize_rows_avx2(
    x: &[f32],
    k: usize,
    factors: &[f32],
    qmax: f32,
    offset: u8,
    out: &mut [u8],
    scales: &mut [f32],
) {
    quantize_rows_body(x, k, factors, qmax, offset, out, scales);
}

#[inline(always)]
fn quantize_rows_body(
    x: &[f32],
    k: usize,
    factors: &[f32],
    qmax: f32,
    offset: u8,
    out: &mut [u8],
    scales: &mut [f32],
) {
    let mut scaled = vec![0.0f32; if factors.is_empty() { 0 } else { k }];
    for ((row, out), scale) in x
        .chunks_exact(k)
        .zip(out.chunks_exact_mut(padded(k)))
        .zip(scales.iter_mut())
    {
        let row = if factors.is_empty() {
            row
        } else {
            for ((s, v), f) in scaled.iter_mut().zip(row).zip(factors) {
                *s = v * f;
            }
            &scaled
        };
        *scale = quantize_row(row, qmax, offset, &mut out[..k]);
    }
}

/// Symmetric quantization of `values` into `out` (same length):
/// `out[i] = round(values[i] / scale) + offset` (wrapping, so an offset of
/// 0 leaves i8 bit patterns) with `scale` chosen so the largest magnitude
/// maps to `qmax`. Returns the scale (0 for an all-zero or non-finite row,
/// whose quantized values are all 0).
#[inline(always)]
fn quantize_row(values: &[f32], qmax: f32, offset: u8, out: &mut [u8]) -> f32 {
    let max = max_abs(values);
    if max == 0.0 || !max.is_finite() {
        out.fill(offset);
        return 0.0;
    }
    let inv = qmax / max;
    for (o, v) in out.iter_mut().zip(values) {
        // Adding and subtracting 1.5·2²³ rounds to the nearest integer (ties
        // to even) in plain SSE2 arithmetic; round_ties_even() is a libm call
        // unless the whole crate is built for SSE4.1.
        let q = ((v * inv).clamp(-qmax, qmax) + ROUND) - ROUND;
        // SAFETY: q is finite (max is, so v and inv are) and within i32;
        // the unchecked conversion skips the NaN/saturation handling of
        // `as`, which keeps the loop from vectorising.
        *o = (unsafe { q.to_int_unchecked::<i32>() } as u8).wrapping_add(offset);
    }
    max / qmax
}

/// Token rows quantized for [`Int8Linear::forward_quantized`]. Reusable:
/// [`Int8Linear::quantize_into`] refills it without reallocating.
#[derive(Default)]
pub struct QuantizedRows {
    rows: usize,
    /// Padded K.
    k: usize,
    /// `[rows rounded up to MR, k]`, each `a + 128`; padding is 128 (zero).
    values: Vec<u8>,
    /// The same as i16, for the AVX2 kernel only (empty otherwise).
    wide: Vec<i16>,
    scales: Vec<f32>,
}

impl QuantizedRows {
    /// Quantizes each `k`-wide row of `x` after multiplying its channels by
    /// `factors` (the inverse smoothing factors; empty for none).
    pub fn new(x: &[f32], k: usize, factors: &[f32]) -> Self {
        let mut q = Self::default();
        q.fill(x, k, factors, false);
        q
    }

    fn fill(&mut self, x: &[f32], k: usize, factors: &[f32], wide: bool) {
        assert!(k > 0 && x.len().is_multiple_of(k), "x is not rows of {k}");
        assert!(factors.is_empty() || factors.len() == k);
        let kp = padded(k);
        let rows = x.len() / k;
        let padded_rows = rows.div_ceil(MR) * MR;
        self.rows = rows;
        self.k = kp;
        // Only the padding must be reset: quantize_rows writes every real
        // value. Resizing (not reallocating) keeps the pages of earlier calls.
        self.values.resize(padded_rows * kp, OFFSET as u8);
        self.scales.resize(padded_rows, 0.0);
        if kp > k {
            for row in self.values.chunks_exact_mut(kp) {
                row[k..].fill(OFFSET as u8);
            }
        }
        self.values[rows * kp..].fill(OFFSET as u8);
        quantize_rows(
            x,
            k,
            factors,
            QMAX,
            OFFSET as u8,
            &mut self.values,
            &mut self.scales,
        );
        self.wide.clear();
        if wide {
            self.wide.extend(self.values.iter().map(|&v| v as i16));
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Row `r`'s values times its scale: the quantized approximation of the
    /// (factor-scaled) input.
    pub fn dequantize(&self, r: usize, k: usize) -> Vec<f32> {
        self.values[r * self.k..r * self.k + k]
            .iter()
            .map(|&q| (q as i32 - OFFSET) as f32 * self.scales[r])
            .collect()
    }
}

/// Weights laid out for one kernel.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
enum Packed {
    /// `[n, k]` row-major i8.
    Rows(Vec<i8>),
    /// Panels of columns; within a panel, for each group of consecutive k,
    /// the columns' bytes for that group side by side, so that one register
    /// holds the panel's columns × the group against one broadcast of a
    /// row's activations for the group: 16 columns × 4 k (512 bits) for
    /// VNNI, 8 columns × 2 k (256 bits once widened to i16) for AVX2.
    Panels(Vec<i8>),
}

/// A linear layer with int8 weights.
pub struct Int8Linear {
    inputs: usize,
    outputs: usize,
    weights: Packed,
    /// Per output, padded to a multiple of NT with zeros.
    scales: Vec<f32>,
    /// Per output (padded like `scales`), `128 · Σ_k w[n][k]`: what the
    /// activations' offset adds to each dot.
    offsets: Vec<i32>,
    bias: Vec<f32>,
    /// Multiplies each input channel before quantizing (1 / smoothing factor).
    input_factors: Vec<f32>,
    kernel: Kernel,
}

impl Int8Linear {
    /// From a PyTorch-layout `[outputs, inputs]` weight matrix and its bias.
    /// `smoothing` (one factor per input, or empty) scales the weight columns
    /// up before quantizing, and the activations down by the same factor, so
    /// the product is unchanged while activation outliers shrink.
    ///
    /// `kernel` must be [`Kernel::available`] on this CPU; one that is not
    /// falls back to [`Kernel::Scalar`].
    pub fn new(
        weight: &[f32],
        bias: &[f32],
        inputs: usize,
        outputs: usize,
        smoothing: &[f32],
        kernel: Kernel,
    ) -> Self {
        assert_eq!(weight.len(), inputs * outputs);
        assert_eq!(bias.len(), outputs);
        assert!(smoothing.is_empty() || smoothing.len() == inputs);
        let kernel = if kernel.available() {
            kernel
        } else {
            Kernel::Scalar
        };
        let kp = padded(inputs);
        let np = outputs.div_ceil(NT) * NT;
        let mut bytes = vec![0u8; np * kp];
        let mut scales = vec![0.0; np];
        quantize_rows(weight, inputs, smoothing, QMAX, 0, &mut bytes, &mut scales);
        let rows: Vec<i8> = bytes.into_iter().map(|b| b as i8).collect();
        let offsets = rows
            .chunks_exact(kp)
            .map(|w| OFFSET * w.iter().map(|&w| w as i32).sum::<i32>())
            .collect();
        let panels = |width: usize, group: usize| {
            let mut out = Vec::with_capacity(np * kp);
            for c0 in (0..np).step_by(width) {
                for g in (0..kp).step_by(group) {
                    for c in c0..c0 + width {
                        out.extend_from_slice(&rows[c * kp + g..c * kp + g + group]);
                    }
                }
            }
            out
        };
        let weights = match kernel {
            Kernel::Avx512Vnni => Packed::Panels(panels(16, 4)),
            Kernel::Avx2 => Packed::Panels(panels(8, 2)),
            Kernel::Scalar => Packed::Rows(rows),
        };
        Self {
            inputs,
            outputs,
            weights,
            scales,
            offsets,
            bias: bias.to_vec(),
            input_factors: smoothing.iter().map(|s| 1.0 / s).collect(),
            kernel,
        }
    }

    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    pub fn inputs(&self) -> usize {
        self.inputs
    }

    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// Quantizes `x` (`[rows, inputs]`) as this layer expects.
    pub fn quantize(&self, x: &[f32]) -> QuantizedRows {
        let mut q = QuantizedRows::default();
        self.quantize_into(x, &mut q);
        q
    }

    /// [`Int8Linear::quantize`] into `q`, reusing its memory.
    pub fn quantize_into(&self, x: &[f32], q: &mut QuantizedRows) {
        q.fill(
            x,
            self.inputs,
            &self.input_factors,
            self.kernel == Kernel::Avx2,
        );
    }

    /// `x · Wᵀ`, plus the bias if `with_bias`; `[rows, outputs]`.
    pub fn forward(&self, x: &[f32], with_bias: bool) -> Vec<f32> {
        let q = self.quantize(x);
        self.forward_quantized(&q, with_bias)
    }

    pub fn forward_quantized(&self, x: &QuantizedRows, with_bias: bool) -> Vec<f32> {
        let mut out = vec![0.0f32; x.rows * self.outputs];
        self.forward_into(x, with_bias, &mut out, |_, _, _| {});
        out
    }

    /// [`Int8Linear::forward_quantized`] into `out` (`[rows, outputs]`),
    /// then `finish(row, first_column, values)` on each run of up to 32
    /// outputs of a row while they are still in cache (e.g. an activation
    /// function, or adding a residual).
    pub fn forward_into(
        &self,
        x: &QuantizedRows,
        with_bias: bool,
        out: &mut [f32],
        mut finish: impl FnMut(usize, usize, &mut [f32]),
    ) {
        let n = self.outputs;
        assert_eq!(out.len(), x.rows * n, "output is not [rows, outputs]");
        self.forward_with(x, with_bias, |row, c0, y| {
            finish(row, c0, y);
            let at = row * n + c0;
            // A copy of constant length compiles to a few moves; one of
            // run-time length is a call to memmove per 32 floats.
            if y.len() == NT {
                out[at..at + NT].copy_from_slice(&y[..NT]);
            } else {
                out[at..at + y.len()].copy_from_slice(y);
            }
        });
    }

    /// The outputs of [`Int8Linear::forward_quantized`] handed over in runs
    /// of up to 32 columns of a row, `store(row, first_column, values)`, for
    /// the caller to finish and put where it wants them.
    pub fn forward_with(
        &self,
        x: &QuantizedRows,
        with_bias: bool,
        mut store: impl FnMut(usize, usize, &mut [f32]),
    ) {
        let n = self.outputs;
        let mut y = [0.0f32; NT];
        self.tiles(x, |m0, c0, tile| {
            // The same scalar float arithmetic for every kernel (no fused
            // multiply-add), so outputs are bit-identical across CPUs. One
            // pass into a local row, then one store: a second pass over
            // memory just written stalled on store forwarding.
            let cols = (n - c0).min(NT);
            let w_scales = &self.scales[c0..c0 + cols];
            let bias = &self.bias[c0..c0 + cols];
            for (i, dots) in tile.iter().enumerate().take(x.rows - m0) {
                let a_scale = x.scales[m0 + i];
                let y = &mut y[..cols];
                if with_bias {
                    for (((y, &d), &ws), &b) in y.iter_mut().zip(dots).zip(w_scales).zip(bias) {
                        *y = d as f32 * (a_scale * ws) + b;
                    }
                } else {
                    for ((y, &d), &ws) in y.iter_mut().zip(dots).zip(w_scales) {
                        *y = d as f32 * (a_scale * ws);
                    }
                }
                store(m0 + i, c0, y);
            }
        });
    }

    /// The exact integer products `Σ_k a[m][k] · w[n][k]`, `[rows, outputs]`
    /// (for tests: every kernel must agree).
    pub fn dots(&self, x: &QuantizedRows) -> Vec<i32> {
        let n = self.outputs;
        let mut out = vec![0i32; x.rows * n];
        self.tiles(x, |m0, c0, tile| {
            for (i, dots) in tile.iter().enumerate().take(x.rows - m0) {
                for (j, &d) in dots.iter().enumerate().take(n - c0) {
                    out[(m0 + i) * n + c0 + j] = d;
                }
            }
        });
        out
    }

    /// Runs the kernel over every MR × NT tile (row-block outer, so a block
    /// of activations stays in L1 while the weights stream from L2), takes
    /// the activations' offset back out, and hands each tile's exact dots
    /// to `emit(first_row, first_column, tile)`.
    fn tiles(&self, x: &QuantizedRows, mut emit: impl FnMut(usize, usize, &[[i32; NT]; MR])) {
        assert_eq!(x.k, padded(self.inputs), "rows quantized for another layer");
        let k = x.k;
        let np = self.scales.len();
        let mut tile = [[0i32; NT]; MR];
        // Rows quantized by another kernel's layer lack the i16 copy.
        let converted: Vec<i16>;
        let wide = if self.kernel != Kernel::Avx2 || x.wide.len() == x.values.len() {
            &x.wide
        } else {
            converted = x.values.iter().map(|&v| v as i16).collect();
            &converted
        };
        for m0 in (0..x.rows).step_by(MR) {
            let a = &x.values[m0 * k..(m0 + MR) * k];
            for c0 in (0..np).step_by(NT) {
                match (&self.weights, self.kernel) {
                    (Packed::Rows(w), _) => {
                        for (i, out) in tile.iter_mut().enumerate() {
                            let a = &a[i * k..(i + 1) * k];
                            for (j, o) in out.iter_mut().enumerate() {
                                *o = scalar_dot(a, &w[(c0 + j) * k..(c0 + j + 1) * k]);
                            }
                        }
                    }
                    #[cfg(target_arch = "x86_64")]
                    (Packed::Panels(w), Kernel::Avx512Vnni) => {
                        // SAFETY: `new` packs 16-column panels for this
                        // kernel only when the CPU has AVX512-F/BW/VNNI; `a`
                        // is MR rows of k and the panels NT columns of k, k
                        // a multiple of 64.
                        unsafe { x86::vnni_tile(a, &w[c0 * k..(c0 + NT) * k], k, &mut tile) }
                    }
                    #[cfg(target_arch = "x86_64")]
                    (Packed::Panels(w), Kernel::Avx2) => {
                        let a = &wide[m0 * k..(m0 + MR) * k];
                        // SAFETY: `new` packs 8-column panels for this kernel
                        // only when the CPU has AVX2; sizes as above.
                        unsafe { x86::avx2_tile(a, &w[c0 * k..(c0 + NT) * k], k, &mut tile) }
                    }
                    _ => unreachable!("panels are only packed for the x86 SIMD kernels"),
                }
                let offsets = &self.offsets[c0..c0 + NT];
                for row in tile.iter_mut() {
                    for (d, o) in row.iter_mut().zip(offsets) {
                        *d -= o;
                    }
                }
                emit(m0, c0, &tile);
            }
        }
    }
}

/// `Σ (a + 128) · w` over offset activations: what the SIMD kernels compute.
fn scalar_dot(a: &[u8], w: &[i8]) -> i32 {
    a.iter().zip(w).map(|(&x, &y)| x as i32 * y as i32).sum()
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{MR, NT};

    /// Four consecutive activation bytes of row `i` at `at`, as one i32 to broadcast.
    #[inline(always)]
    unsafe fn four(a: &[u8], k: usize, i: usize, at: usize) -> i32 {
        (a.as_ptr().add(i * k + at) as *const i32).read_unaligned()
    }

    /// One MR × NT tile of `Σ (a + 128) · w` with `vpdpbusd`: each step
    /// broadcasts 4 offset activation bytes of a row (unsigned) against 16
    /// columns × the same 4 k of weights (signed), so every lane accumulates
    /// one output and no horizontal sums are needed.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub unsafe fn vnni_tile(a: &[u8], w: &[i8], k: usize, out: &mut [[i32; NT]; MR]) {
        debug_assert!(a.len() == MR * k && w.len() == NT * k && k.is_multiple_of(64));
        let mut acc = [[_mm512_setzero_si512(); 2]; MR];
        let panel = 16 * k;
        let mut at = 0;
        while at < k {
            let w0 = _mm512_loadu_si512(w.as_ptr().add(at * 16) as *const _);
            let w1 = _mm512_loadu_si512(w.as_ptr().add(panel + at * 16) as *const _);
            for (i, acc) in acc.iter_mut().enumerate() {
                let a4 = _mm512_set1_epi32(four(a, k, i, at));
                acc[0] = _mm512_dpbusd_epi32(acc[0], a4, w0);
                acc[1] = _mm512_dpbusd_epi32(acc[1], a4, w1);
            }
            at += 4;
        }
        for (acc, out) in acc.iter().zip(out.iter_mut()) {
            for (h, v) in acc.iter().enumerate() {
                _mm512_storeu_si512(out.as_mut_ptr().add(16 * h) as *mut _, *v);
            }
        }
    }

    /// One MR × NT tile of `Σ (a + 128) · w` with `vpmaddwd`: each step
    /// broadcasts 2 activations of a row (i16) against 8 columns × the same
    /// 2 k of weights, loaded as bytes and sign-extended to i16, so every
    /// lane accumulates one output. i16 products of values below 256 and
    /// their pair sums cannot overflow, unlike `vpmaddubsw`'s saturating
    /// pair sums; and unlike the sign trick that makes `vpmaddubsw` exact
    /// (`|a|` against `w` with `a`'s sign), no instruction per product
    /// shares the multiplier ports. Four rows × 16 columns at a time: 8
    /// accumulators, the weights and the broadcast fit the 16 ymm registers.
    #[target_feature(enable = "avx2")]
    pub unsafe fn avx2_tile(a: &[i16], w: &[i8], k: usize, out: &mut [[i32; NT]; MR]) {
        debug_assert!(a.len() == MR * k && w.len() == NT * k && k.is_multiple_of(64));
        let panel = 8 * k;
        for r0 in (0..MR).step_by(4) {
            for p0 in (0..NT / 8).step_by(2) {
                let mut acc = [[_mm256_setzero_si256(); 2]; 4];
                let mut at = 0;
                while at < k {
                    let w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(
                        w.as_ptr().add(p0 * panel + at * 8) as *const _,
                    ));
                    let w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(
                        w.as_ptr().add((p0 + 1) * panel + at * 8) as *const _,
                    ));
                    for (i, acc) in acc.iter_mut().enumerate() {
                        let pair =
                            (a.as_ptr().add((r0 + i) * k + at) as *const i32).read_unaligned();
                        let a2 = _mm256_set1_epi32(pair);
                        acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(a2, w0));
                        acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(a2, w1));
                    }
                    at += 2;
                }
                for (i, acc) in acc.iter().enumerate() {
                    for (h, v) in acc.iter().enumerate() {
                        let col = (p0 + h) * 8;
                        _mm256_storeu_si256(out[r0 + i].as_mut_ptr().add(col) as *mut _, *v);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*: deterministic test data without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        /// Uniform in [-1, 1).
        fn unit(&mut self) -> f32 {
            (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        }
        fn vec(&mut self, len: usize) -> Vec<f32> {
            (0..len).map(|_| self.unit()).collect()
        }
    }

    #[test]
    fn every_kernel_gives_the_scalar_dots_exactly() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let kernels = Kernel::all_available();
        eprintln!("kernels on this CPU: {kernels:?}");
        let mut shapes = vec![(1, 1, 1), (8, 32, 64), (5, 7, 65), (9, 70, 384), (3, 2, 31)];
        for _ in 0..30 {
            shapes.push((1 + rng.below(20), 1 + rng.below(140), 1 + rng.below(300)));
        }
        for (m, n, k) in shapes {
            let mut x = rng.vec(m * k);
            // A full-scale -127 in the first row and +127 weights, where an
            // unsigned/signed trick would go wrong if it were wrong.
            x[0] = -3.0;
            let mut w = rng.vec(n * k);
            w[k - 1] = 2.0;
            if k >= 6 {
                // Pairs of +127 activations against pairs of ±127 weights:
                // the largest pair sums, ±2 · 255 · 127, past i16.
                x[2..4].fill(3.0);
                w[2..4].fill(2.0);
                w[4..6].fill(-2.0);
            }
            let bias = rng.vec(n);
            let smoothing: Vec<f32> = if k % 2 == 0 {
                (0..k).map(|_| 0.5 + rng.unit().abs()).collect()
            } else {
                vec![]
            };
            let scalar = Int8Linear::new(&w, &bias, k, n, &smoothing, Kernel::Scalar);
            let q = scalar.quantize(&x);
            let Packed::Rows(rows) = &scalar.weights else {
                panic!("scalar weights are row-major")
            };
            assert!(rows.iter().all(|&w| w != -128));
            assert!(rows.contains(&127), "no full-scale weight");
            let kp = padded(k);
            // Signed × signed, the offset undone by hand, not by the code under test.
            let want: Vec<i32> = (0..m * n)
                .map(|o| {
                    let (r, c) = (o / n, o % n);
                    let a = &q.values[r * kp..(r + 1) * kp];
                    let w = &rows[c * kp..(c + 1) * kp];
                    a.iter()
                        .zip(w)
                        .map(|(&a, &w)| (a as i32 - 128) * w as i32)
                        .sum()
                })
                .collect();
            if smoothing.is_empty() {
                assert!(q.values[..kp].contains(&1), "no full-scale -127 activation");
                assert!(k < 6 || q.values[..kp].contains(&255), "no full-scale +127");
            }
            let reference = scalar.forward(&x, true);
            for &kernel in &kernels {
                let layer = Int8Linear::new(&w, &bias, k, n, &smoothing, kernel);
                assert_eq!(layer.kernel(), kernel);
                assert_eq!(layer.dots(&q), want, "{kernel:?} m={m} n={n} k={k}");
                let got = layer.forward(&x, true);
                // Bit-identical floats, not merely close.
                let same = got
                    .iter()
                    .zip(&reference)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{kernel:?} m={m} n={n} k={k}: outputs differ");
            }
        }
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        // All ±127 against the same ±127 over a wide K: the largest dots there are.
        let k = 1536;
        let x: Vec<f32> = (0..4 * k)
            .map(|i| if i % 3 == 0 { -1.0 } else { 1.0 })
            .collect();
        let w = x.clone();
        let scalar = Int8Linear::new(&w, &[0.0; 4], k, 4, &[], Kernel::Scalar);
        let q = scalar.quantize(&x);
        let want = scalar.dots(&q);
        assert!(want.iter().any(|d| d.abs() > 127 * 127 * 1000));
        for kernel in Kernel::all_available() {
            let layer = Int8Linear::new(&w, &[0.0; 4], k, 4, &[], kernel);
            assert_eq!(layer.dots(&q), want, "{kernel:?}");
        }
    }

    #[test]
    fn the_avx2_quantizer_gives_the_sse2_bytes() {
        let mut rng = Rng(3);
        let k = 384;
        let mut x = rng.vec(7 * k);
        x[5] = 40.0;
        x[k + 3] = f32::NAN;
        let factors: Vec<f32> = (0..k).map(|_| 0.5 + rng.unit().abs()).collect();
        for (factors, qmax, offset) in [(&factors[..], 127.0, 128), (&[][..], 127.0, 0)] {
            let (mut a, mut b) = (vec![0u8; 7 * k], vec![0u8; 7 * k]);
            let (mut sa, mut sb) = (vec![0.0f32; 7], vec![0.0f32; 7]);
            quantize_rows(&x, k, factors, qmax, offset, &mut a, &mut sa);
            quantize_rows_body(&x, k, factors, qmax, offset, &mut b, &mut sb);
            assert_eq!(a, b);
            assert!(sa.iter().zip(&sb).all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }

    #[test]
    fn quantize_round_trip_error_is_half_a_step() {
        let mut rng = Rng(7);
        for k in [1, 17, 384, 1000] {
            let mut x = rng.vec(3 * k);
            x[1 % k] *= 40.0; // an outlier channel
            let q = QuantizedRows::new(&x, k, &[]);
            for r in 0..3 {
                let row = &x[r * k..(r + 1) * k];
                let max = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                let step = max / 127.0;
                for (a, b) in row.iter().zip(q.dequantize(r, k)) {
                    assert!(
                        (a - b).abs() <= step * 0.5 + 1e-6,
                        "{a} vs {b}, step {step}"
                    );
                }
            }
        }
        // An all-zero row quantizes to zeros with scale 0, not NaN.
        let q = QuantizedRows::new(&[0.0; 8], 8, &[]);
        assert_eq!(q.dequantize(0, 8), vec![0.0; 8]);
    }

    #[test]
    fn smoothing_leaves_the_product_unchanged() {
        let mut rng = Rng(11);
        let (m, n, k) = (6, 10, 96);
        let x = rng.vec(m * k);
        let w = rng.vec(n * k);
        let s: Vec<f32> = (0..k).map(|j| 0.25 + (j % 7) as f32).collect();
        let exact: Vec<f32> = (0..m * n)
            .map(|o| (0..k).map(|j| x[o / n * k + j] * w[o % n * k + j]).sum())
            .collect();
        for smoothing in [vec![1.0; k], s] {
            let layer = Int8Linear::new(&w, &vec![0.0; n], k, n, &smoothing, Kernel::detect());
            let q = layer.quantize(&x);
            let got = layer.forward_quantized(&q, false);
            for (o, (g, e)) in got.iter().zip(&exact).enumerate() {
                let (r, c) = (o / n, o % n);
                // Each factor is off by at most half its row's step:
                // |Σ x'w' − Σ x̂'ŵ'| ≤ Σ |x'|·Δw' + |ŵ'|·Δx'.
                let (sa, sw) = (q.scales[r], layer.scales[c]);
                let bound: f32 = (0..k)
                    .map(|j| {
                        let xs = x[r * k + j] / smoothing[j];
                        let ws = w[c * k + j] * smoothing[j];
                        xs.abs() * sw / 2.0 + (ws.abs() + sw / 2.0) * sa / 2.0
                    })
                    .sum();
                assert!(
                    (g - e).abs() <= bound * 1.001 + 1e-5,
                    "{g} vs {e}, bound {bound}"
                );
            }
        }
    }
}
