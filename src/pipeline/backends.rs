//! The choice of transcription backend and judge, as flags (with environment
//! variables for secrets), shared by `transcribe`, `grade`, `rubric test` and
//! the service's workers so every command builds the pipeline's stages the
//! same way. It lives beside the pipeline, not in `commands`, because the
//! service configures its workers with it too.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::score::judge::anthropic::AnthropicJudge;
use crate::score::judge::llm::LlmConfig;
use crate::score::judge::offline::embedder::Engine;
use crate::score::judge::offline::OfflineJudge;
use crate::score::judge::openai::OpenAiJudge;
use crate::score::judge::{Judge, JudgeError};
use crate::transcribe::{
    build_transcriber, BackendKind, TranscribeError, Transcriber, TranscriberConfig,
};

#[derive(Debug, Clone, Args)]
pub struct JudgeArgs {
    /// Who judges talking points, objections and tone.
    #[arg(long, default_value = "offline", value_parser = ["offline", "openai", "anthropic"])]
    pub judge: String,
    /// The offline judge's sentence-embedding model (all-MiniLM-L6-v2 folder).
    #[arg(
        long,
        env = "PITCHGRADE_JUDGE_MODEL",
        default_value = "models/all-MiniLM-L6-v2"
    )]
    pub judge_model_dir: PathBuf,
    /// The offline judge's forward pass: f32, int8, q8 or candle (default: the
    /// judge's own). All stay within the accuracy tests of the reference.
    #[arg(long, env = "PITCHGRADE_JUDGE_ENGINE")]
    pub judge_engine: Option<Engine>,
    /// LLM judge API root (default: the vendor's public API).
    #[arg(long, env = "PITCHGRADE_JUDGE_BASE_URL")]
    pub judge_base_url: Option<String>,
    /// LLM judge model name (default: gpt-4o-mini / claude-sonnet-4-5).
    #[arg(long, env = "PITCHGRADE_JUDGE_LLM")]
    pub judge_llm: Option<String>,
    /// Samples per criterion for LLM judges; disagreement sends the grade to review.
    #[arg(long, default_value_t = 1)]
    pub judge_samples: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("cannot start the judge: {0}")]
    Judge(#[from] JudgeError),
    #[error("cannot start transcription: {0}")]
    Transcriber(#[from] TranscribeError),
    #[error("transcription settings: {0}")]
    Config(String),
    #[error("the {judge} judge needs an API key in {var}")]
    MissingKey {
        judge: &'static str,
        var: &'static str,
    },
}

impl JudgeArgs {
    /// The judge these flags name. LLM keys come from `OPENAI_API_KEY` /
    /// `ANTHROPIC_API_KEY` only, so they never show in shell history.
    pub fn build(&self) -> Result<Box<dyn Judge>, BackendError> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let llm = |default_url: &str, default_model: &str, key: String| {
            let mut c = LlmConfig::new(
                self.judge_base_url
                    .clone()
                    .unwrap_or_else(|| default_url.into()),
                key,
                self.judge_llm
                    .clone()
                    .unwrap_or_else(|| default_model.into()),
            );
            c.samples = self.judge_samples;
            c.timeout = Duration::from_secs(120);
            c
        };
        Ok(match self.judge.as_str() {
            "openai" => {
                let key = env("OPENAI_API_KEY").ok_or(BackendError::MissingKey {
                    judge: "openai",
                    var: "OPENAI_API_KEY",
                })?;
                Box::new(OpenAiJudge::new(llm(
                    "https://api.openai.com/v1",
                    "gpt-4o-mini",
                    key,
                ))?)
            }
            "anthropic" => {
                let key = env("ANTHROPIC_API_KEY").ok_or(BackendError::MissingKey {
                    judge: "anthropic",
                    var: "ANTHROPIC_API_KEY",
                })?;
                Box::new(AnthropicJudge::new(llm(
                    "https://api.anthropic.com",
                    "claude-sonnet-4-5",
                    key,
                ))?)
            }
            _ => Box::new(OfflineJudge::load_with(
                &crate::install::shipped(&self.judge_model_dir),
                self.judge_engine.unwrap_or_default(),
            )?),
        })
    }
}

#[derive(Debug, Clone, Args)]
pub struct TranscriberArgs {
    /// Transcription backend: local (offline Whisper), openai (any OpenAI-compatible server) or deepgram.
    #[arg(long)]
    pub backend: Option<BackendKind>,
    /// Whisper model file for the local backend (default: models/ggml-tiny.en.bin).
    #[arg(long)]
    pub whisper_model: Option<PathBuf>,
}

impl TranscriberArgs {
    /// Environment (`PITCHGRADE_TRANSCRIBE_BACKEND`, keys, URLs) overlaid with these flags.
    pub fn build(&self) -> Result<Box<dyn Transcriber>, BackendError> {
        let mut cfg = TranscriberConfig::from_env().map_err(BackendError::Config)?;
        if let Some(b) = self.backend {
            cfg.backend = b;
        }
        if let Some(p) = &self.whisper_model {
            cfg.model_path = Some(p.clone());
        }
        Ok(build_transcriber(&cfg)?)
    }
}
