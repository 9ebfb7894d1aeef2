//! The offline default: whisper.cpp in-process through whisper-rs.
//!
//! The model is loaded once (it is the slow part) and shared; each call gets
//! its own decoder state. Decoding is CPU-bound C code, so it runs on the
//! blocking pool, one recording at a time: two at once on a small machine only
//! make both slower.

mod model_file;
mod words;

use std::ffi::c_int;
use std::sync::Arc;

use tokio::sync::Semaphore;
use whisper_rs::{
    DtwMode, DtwModelPreset, DtwParameters, FullParams, SamplingStrategy, WhisperContext,
    WhisperContextParameters, WhisperState,
};

pub use model_file::{ModelFileError, DEFAULT_MODEL};
use words::{timed_words, TimedToken};

use super::chunk::split_evenly_on_silence;
use super::config::TranscriberConfig;
use super::draft::{Draft, DraftSegment};
use super::energy::SpeechEnergy;
use super::guards::GuardConfig;
use super::{
    ensure_audio, prompt, Capabilities, TranscribeError, TranscribeOptions, Transcriber, Transcript,
};
use crate::ingest::Pcm;

const NAME: &str = "local";
/// Whisper's decoder reads at most 224 prompt tokens (half its text context).
const MAX_PROMPT_TOKENS: usize = 224;

pub struct LocalTranscriber {
    ctx: Arc<WhisperContext>,
    model: String,
    threads: usize,
    parts: usize,
    beam_size: u32,
    guards: GuardConfig,
    /// Decodes running at once: as many as the cores hold at `threads` each.
    /// Whisper's threads spin at a barrier after every layer, so two decodes
    /// sharing a core slow each other many times over. With one thread per
    /// decode on a 2-core machine (`PITCHGRADE_WHISPER_THREADS=1`, two worker
    /// slots), two pitches are heard side by side instead of one after the
    /// other, each on a core of its own.
    decodes: Semaphore,
}

/// How many decodes of `threads` threads each fit on `cores` cores (at least one).
fn decodes_at_once(cores: usize, threads: usize) -> usize {
    (cores / threads.max(1)).max(1)
}

fn permanent(message: impl Into<String>) -> TranscribeError {
    TranscribeError::Permanent {
        backend: NAME.into(),
        message: message.into(),
    }
}

impl LocalTranscriber {
    /// Verifies the model file's sha256 and loads it. Slow (reads the whole
    /// model); do it once at startup and reuse the transcriber.
    pub fn load(cfg: &TranscriberConfig) -> Result<Self, TranscribeError> {
        let path = model_file::resolve(cfg.model_path.as_deref());
        model_file::verify(&path, cfg.model_sha256.as_deref())
            .map_err(|e| permanent(e.to_string()))?;
        whisper_rs::install_logging_hooks();

        let model = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        let mut params = WhisperContextParameters::default();
        // DTW token times are silently disabled when flash attention is on.
        params.flash_attn(false);
        if let Some(preset) = dtw_preset(&model) {
            params.dtw_parameters(DtwParameters {
                mode: DtwMode::ModelPreset {
                    model_preset: preset,
                },
                ..Default::default()
            });
        } else {
            tracing::warn!(
                model,
                "no DTW alignment heads known for this model; word times are coarser"
            );
        }
        let ctx = WhisperContext::new_with_params(&path, params).map_err(|e| {
            permanent(format!(
                "whisper.cpp could not load {}: {e}",
                path.display()
            ))
        })?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let beam_size = cfg.beam_size.clamp(1, 16);
        let threads = cfg.threads.unwrap_or(cores).clamp(1, 64);
        let parts = cfg.parts.unwrap_or(threads).clamp(1, 64).min(threads);
        // The decoding changes what is heard, so a grade names it with the
        // model: the beam, and whether a long recording is heard in pieces.
        let mut name = if beam_size > 1 {
            format!("{model}, beam {beam_size}")
        } else {
            format!("{model}, greedy")
        };
        if parts > 1 {
            name.push_str(&format!(", in up to {parts} pieces"));
        }
        Ok(Self {
            ctx: Arc::new(ctx),
            model: name,
            threads,
            parts,
            beam_size,
            guards: cfg.guards.clone(),
            decodes: Semaphore::new(decodes_at_once(cores, threads)),
        })
    }
}

/// Alignment-head presets by model family, from the file name
/// (`ggml-base.en.bin`, `ggml-tiny.en-q8_0.bin`, ...).
fn dtw_preset(file_name: &str) -> Option<DtwModelPreset> {
    let stem = file_name.trim_start_matches("ggml-");
    let family = stem
        .split(['-', '_'])
        .next()
        .unwrap_or(stem)
        .trim_end_matches(".bin");
    Some(match family {
        "tiny.en" => DtwModelPreset::TinyEn,
        "tiny" => DtwModelPreset::Tiny,
        "base.en" => DtwModelPreset::BaseEn,
        "base" => DtwModelPreset::Base,
        "small.en" => DtwModelPreset::SmallEn,
        "small" => DtwModelPreset::Small,
        "medium.en" => DtwModelPreset::MediumEn,
        "medium" => DtwModelPreset::Medium,
        _ => return None,
    })
}

#[async_trait::async_trait]
impl Transcriber for LocalTranscriber {
    fn name(&self) -> &str {
        NAME
    }

    fn model(&self) -> &str {
        &self.model
    }

    async fn transcribe(
        &self,
        audio: &Pcm,
        options: &TranscribeOptions,
    ) -> Result<Transcript, TranscribeError> {
        ensure_audio(NAME, audio)?;
        let _turn = self
            .decodes
            .acquire()
            .await
            .map_err(|e| permanent(e.to_string()))?;
        let ctx = Arc::clone(&self.ctx);
        // NaN/inf from a broken decoder would poison the mel spectrogram.
        let samples: Vec<f32> = audio
            .samples
            .iter()
            .map(|s| {
                if s.is_finite() {
                    s.clamp(-1.0, 1.0)
                } else {
                    0.0
                }
            })
            .collect();
        let prompt = prompt::whisper_prompt(&options.vocabulary);
        let (threads, parts, beam_size) = (self.threads, self.parts, self.beam_size);
        let segments = tokio::task::spawn_blocking(move || {
            decode_in_parts(&ctx, &samples, &prompt, threads, parts, beam_size)
        })
        .await
        .map_err(|e| permanent(format!("whisper task failed: {e}")))??;
        let draft = Draft {
            backend: NAME.into(),
            model: self.model.clone(),
            // Whisper tidies away many "um"s even with a verbatim prompt.
            capabilities: Capabilities {
                word_times: true,
                keeps_fillers: false,
            },
            duration: audio.duration_seconds(),
            segments,
        };
        Ok(draft.finish(&self.guards, audio))
    }
}

/// Shortest piece worth a core of its own: whisper.cpp decodes 30 s windows,
/// and a piece much shorter than two of them wastes its last one.
const MIN_PART_SECONDS: usize = 45;
/// How far from the even split a cut may move to land in a pause.
const CUT_REACH_SECONDS: usize = 8;
const RATE: usize = crate::ingest::SAMPLE_RATE as usize;

/// Decodes a long recording as up to `parts` pieces cut at pauses, side by
/// side, each on its share of `threads`, and joins their segments with the
/// pieces' offsets added back.
///
/// Why: whisper.cpp's threads meet at a barrier after every layer and spin
/// while they wait, so with two threads on two cores, one core taken by
/// another worker or the database stalls both (a 2-3 minute pitch once took
/// 6-16 minutes at load 4-5). A piece on one thread waits for nobody: a busy
/// core slows that piece alone. Each piece is conditioned on its own text
/// only, which costs little at a pause between sentences.
fn decode_in_parts(
    ctx: &WhisperContext,
    samples: &[f32],
    prompt: &str,
    threads: usize,
    parts: usize,
    beam_size: u32,
) -> Result<Vec<DraftSegment>, TranscribeError> {
    let parts = parts.min(samples.len() / (MIN_PART_SECONDS * RATE)).max(1);
    if parts == 1 {
        return decode(ctx, samples, prompt, threads, beam_size);
    }
    let ranges = split_evenly_on_silence(samples, parts, CUT_REACH_SECONDS * RATE);
    let per_part = (threads / ranges.len()).max(1);
    let decoded: Vec<Result<Vec<DraftSegment>, TranscribeError>> = std::thread::scope(|scope| {
        let running: Vec<_> = ranges
            .iter()
            .map(|r| {
                let piece = &samples[r.clone()];
                scope.spawn(move || decode(ctx, piece, prompt, per_part, beam_size))
            })
            .collect();
        running
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(permanent("a whisper decoding thread panicked")))
            })
            .collect()
    });
    let mut out = Vec::new();
    for (range, segments) in ranges.iter().zip(decoded) {
        let offset = range.start as f64 / RATE as f64;
        for mut segment in segments? {
            segment.start += offset;
            segment.end += offset;
            for w in &mut segment.words {
                w.start += offset;
                w.end += offset;
            }
            out.push(segment);
        }
    }
    Ok(out)
}

fn decode(
    ctx: &WhisperContext,
    samples: &[f32],
    prompt: &str,
    threads: usize,
    beam_size: u32,
) -> Result<Vec<DraftSegment>, TranscribeError> {
    // Tokenised here rather than via `set_initial_prompt`, which leaks its C
    // string on every call; a prompt that does not fit is dropped, not fatal.
    let prompt_tokens = ctx.tokenize(prompt, MAX_PROMPT_TOKENS).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "prompt could not be tokenised; transcribing without it");
        Vec::new()
    });
    let strategy = if beam_size <= 1 {
        SamplingStrategy::Greedy { best_of: 1 }
    } else {
        SamplingStrategy::BeamSearch {
            beam_size: beam_size as c_int,
            patience: -1.0,
        }
    };
    let mut params = FullParams::new(strategy);
    params.set_n_threads(threads as c_int);
    params.set_language(Some("en"));
    params.set_print_special(false);
    params.set_print_progress(false);
    params.set_print_realtime(false);
    params.set_print_timestamps(false);
    params.set_token_timestamps(true);
    params.set_suppress_nst(true);
    params.set_tokens(&prompt_tokens);

    let mut state = ctx
        .create_state()
        .map_err(|e| permanent(format!("whisper state: {e}")))?;
    state
        .full(params, samples)
        .map_err(|e| permanent(format!("whisper decoding failed: {e}")))?;
    Ok(collect_segments(ctx, &state, samples))
}

fn collect_segments(
    ctx: &WhisperContext,
    state: &WhisperState,
    samples: &[f32],
) -> Vec<DraftSegment> {
    let eot = ctx.token_eot();
    let energy = SpeechEnergy::new(samples);
    let mut previous_end = 0.0;
    let mut out = Vec::new();
    for segment in state.as_iter() {
        let mut tokens = Vec::new();
        let mut logprobs = Vec::new();
        for i in 0..segment.n_tokens() {
            let Some(token) = segment.get_token(i) else {
                continue;
            };
            if token.token_id() >= eot {
                continue; // timestamps and other special tokens
            }
            let data = token.token_data();
            // t_dtw is -1 when DTW did not run; fall back to the decoder's own estimate.
            let end_cs = if data.t_dtw >= 0 { data.t_dtw } else { data.t1 };
            logprobs.push(data.plog);
            tokens.push(TimedToken {
                bytes: token.to_bytes().map(<[u8]>::to_vec).unwrap_or_default(),
                end: end_cs as f64 / 100.0,
                probability: data.p,
            });
        }
        let words = timed_words(&tokens, &energy, &mut previous_end);
        out.push(DraftSegment {
            text: segment
                .to_str_lossy()
                .map(|t| t.trim().to_string())
                .unwrap_or_default(),
            start: segment.start_timestamp() as f64 / 100.0,
            end: segment.end_timestamp() as f64 / 100.0,
            words,
            no_speech_prob: Some(segment.no_speech_probability()),
            avg_logprob: (!logprobs.is_empty())
                .then(|| logprobs.iter().sum::<f32>() / logprobs.len() as f32),
            compression_ratio: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_run_side_by_side_only_when_the_cores_hold_them() {
        assert_eq!(
            decodes_at_once(2, 2),
            1,
            "the default: one decode, every core"
        );
        assert_eq!(decodes_at_once(2, 1), 2);
        assert_eq!(decodes_at_once(8, 2), 4);
        assert_eq!(decodes_at_once(4, 3), 1);
        assert_eq!(decodes_at_once(1, 4), 1, "never zero: a decode always runs");
    }

    /// `.cargo/config.toml` asks whisper.cpp's build for ggml's tiled matrix
    /// kernels; a build that loses them still works, only with an encoder
    /// about 40% slower, which no other test would notice.
    #[test]
    fn whisper_is_built_with_the_tiled_matrix_kernels() {
        let info = whisper_rs::print_system_info();
        assert!(
            info.contains("LLAMAFILE = 1"),
            "whisper.cpp was built without GGML_LLAMAFILE (a build cache from before .cargo/config.toml set it? `cargo clean -p whisper-rs-sys`): {info}"
        );
    }

    #[test]
    fn dtw_presets_follow_the_model_family() {
        assert!(matches!(
            dtw_preset("ggml-tiny.en.bin"),
            Some(DtwModelPreset::TinyEn)
        ));
        assert!(matches!(
            dtw_preset("ggml-tiny.en-q8_0.bin"),
            Some(DtwModelPreset::TinyEn)
        ));
        assert!(matches!(
            dtw_preset("ggml-base.en.bin"),
            Some(DtwModelPreset::BaseEn)
        ));
        assert!(matches!(
            dtw_preset("ggml-small.bin"),
            Some(DtwModelPreset::Small)
        ));
        assert!(dtw_preset("ggml-large-v3.bin").is_none());
        assert!(dtw_preset("my-model.bin").is_none());
    }
}
