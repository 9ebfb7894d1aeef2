//! Which backend transcribes, and how. One serde struct so the CLI, the service
//! and tests configure transcription the same way; secrets come from the
//! environment so they never need to sit in a config file.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::guards::GuardConfig;

/// The backends `build_transcriber` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// whisper.cpp in-process: offline, the default.
    #[default]
    Local,
    /// Any OpenAI-compatible `/v1/audio/transcriptions` server.
    Openai,
    Deepgram,
}

impl std::str::FromStr for BackendKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "local" => Ok(Self::Local),
            "openai" => Ok(Self::Openai),
            "deepgram" => Ok(Self::Deepgram),
            other => Err(format!(
                "unknown transcription backend {other:?} (expected local, openai or deepgram)"
            )),
        }
    }
}

/// An API key. Its `Debug` never prints the value, so configs can be logged.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ApiKey(pub String);

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "ApiKey(<unset>)"
        } else {
            "ApiKey(<redacted>)"
        })
    }
}

/// The local backend's beam width unless configured (see `beam_size`).
pub const DEFAULT_BEAM: u32 = 5;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TranscriberConfig {
    pub backend: BackendKind,
    /// Whisper model file for the local backend. When unset, `models/ggml-tiny.en.bin`.
    pub model_path: Option<PathBuf>,
    /// Expected sha256 of `model_path` when it is not one of the models we know.
    pub model_sha256: Option<String>,
    /// Decoder threads for the local backend (`PITCHGRADE_WHISPER_THREADS`);
    /// unset = every available core. Several workers on one machine should
    /// split the cores: whisper.cpp's threads spin while they wait for each
    /// other, so oversubscribed cores slow it down many times over.
    pub threads: Option<usize>,
    /// Most pieces the local backend cuts a long recording into, at pauses,
    /// to decode side by side with its threads shared out among them
    /// (`PITCHGRADE_WHISPER_PARTS`); unset = one piece per thread, 1 = one
    /// decode with every thread. One thread per piece never waits on another,
    /// so a core taken by another process slows one piece, not all of them.
    pub parts: Option<usize>,
    /// Beam width for the local backend (`PITCHGRADE_WHISPER_BEAM`, 1–8);
    /// 1 = greedy decoding. 5 by default, as in OpenAI's whisper: with greedy
    /// decoding tiny.en heard one espeak pitch differently in WAV, MP3, M4A,
    /// OGG and WebM and the grades spread over 18 points; with a beam of 5
    /// all five graded the same. The price is decoding time (BENCHMARKS.md).
    pub beam_size: u32,
    pub openai: OpenAiConfig,
    pub deepgram: DeepgramConfig,
    /// Whole-request timeout for hosted backends, upload included.
    pub timeout_seconds: f64,
    /// Retries after the first attempt for 408/429/5xx and timeouts.
    pub max_retries: u32,
    /// First backoff delay; doubles per retry, with jitter.
    pub initial_backoff_ms: u64,
    /// Longest wait between attempts. A `Retry-After` above it ends the retries.
    pub max_backoff_ms: u64,
    pub guards: GuardConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenAiConfig {
    /// Up to and including `/v1`, e.g. `http://localhost:8000/v1` for a self-hosted server.
    pub base_url: String,
    pub api_key: ApiKey,
    pub model: String,
    /// ISO-639-1 hint; unset lets the server detect it.
    pub language: Option<String>,
    /// Largest WAV body per request. OpenAI refuses files over 25 MB.
    pub max_request_bytes: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeepgramConfig {
    pub base_url: String,
    pub api_key: ApiKey,
    pub model: String,
    pub language: Option<String>,
}

impl Default for TranscriberConfig {
    fn default() -> Self {
        Self {
            backend: BackendKind::Local,
            model_path: None,
            model_sha256: None,
            threads: None,
            parts: None,
            beam_size: DEFAULT_BEAM,
            openai: OpenAiConfig::default(),
            deepgram: DeepgramConfig::default(),
            timeout_seconds: 300.0,
            max_retries: 4,
            initial_backoff_ms: 500,
            max_backoff_ms: 30_000,
            guards: GuardConfig::default(),
        }
    }
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.openai.com/v1".into(),
            api_key: ApiKey::default(),
            model: "whisper-1".into(),
            language: None,
            max_request_bytes: 24_000_000,
        }
    }
}

impl Default for DeepgramConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.deepgram.com/v1".into(),
            api_key: ApiKey::default(),
            model: "nova-3".into(),
            language: None,
        }
    }
}

impl TranscriberConfig {
    /// Defaults overlaid with the usual environment variables:
    /// `PITCHGRADE_TRANSCRIBE_BACKEND`, `PITCHGRADE_WHISPER_MODEL`,
    /// `PITCHGRADE_WHISPER_BEAM`, `PITCHGRADE_WHISPER_THREADS`, `OPENAI_API_KEY`, `OPENAI_BASE_URL`, `PITCHGRADE_OPENAI_MODEL`,
    /// `DEEPGRAM_API_KEY`, `DEEPGRAM_BASE_URL`, `PITCHGRADE_DEEPGRAM_MODEL`.
    pub fn from_env() -> Result<Self, String> {
        Self::default().with_env(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// `from_env` with the lookup injected, so it is testable without touching
    /// the process environment.
    pub fn with_env(mut self, var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        if let Some(b) = var("PITCHGRADE_TRANSCRIBE_BACKEND") {
            self.backend = b.parse()?;
        }
        if let Some(p) = var("PITCHGRADE_WHISPER_MODEL") {
            self.model_path = Some(PathBuf::from(p));
        }
        if let Some(b) = var("PITCHGRADE_WHISPER_BEAM") {
            self.beam_size = match b.trim().parse::<u32>() {
                Ok(n @ 1..=8) => n,
                _ => {
                    return Err(format!(
                        "PITCHGRADE_WHISPER_BEAM={b:?}: expected a beam width from 1 (greedy) to 8"
                    ))
                }
            };
        }
        if let Some(t) = var("PITCHGRADE_WHISPER_THREADS") {
            self.threads = match t.trim().parse::<usize>() {
                Ok(n @ 1..=64) => Some(n),
                _ => {
                    return Err(format!(
                        "PITCHGRADE_WHISPER_THREADS={t:?}: expected a thread count from 1 to 64"
                    ))
                }
            };
        }
        if let Some(t) = var("PITCHGRADE_WHISPER_PARTS") {
            self.parts = match t.trim().parse::<usize>() {
                Ok(n @ 1..=64) => Some(n),
                _ => {
                    return Err(format!(
                        "PITCHGRADE_WHISPER_PARTS={t:?}: expected a number of pieces from 1 to 64"
                    ))
                }
            };
        }
        if let Some(k) = var("OPENAI_API_KEY") {
            self.openai.api_key = ApiKey(k);
        }
        if let Some(u) = var("OPENAI_BASE_URL") {
            self.openai.base_url = u;
        }
        if let Some(m) = var("PITCHGRADE_OPENAI_MODEL") {
            self.openai.model = m;
        }
        if let Some(k) = var("DEEPGRAM_API_KEY") {
            self.deepgram.api_key = ApiKey(k);
        }
        if let Some(u) = var("DEEPGRAM_BASE_URL") {
            self.deepgram.base_url = u;
        }
        if let Some(m) = var("PITCHGRADE_DEEPGRAM_MODEL") {
            self.deepgram.model = m;
        }
        Ok(self)
    }

    pub(crate) fn timeout(&self) -> Duration {
        // A negative or NaN timeout in a config file must not panic Duration.
        Duration::try_from_secs_f64(self.timeout_seconds).unwrap_or(Duration::from_secs(300))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults with one environment variable set.
    fn with_one_var(name: &'static str, value: &str) -> Result<TranscriberConfig, String> {
        let value = value.to_string();
        TranscriberConfig::default().with_env(move |k| (k == name).then(|| value.clone()))
    }

    #[test]
    fn beam_width_comes_from_the_environment_within_bounds() {
        let with = |v: &str| with_one_var("PITCHGRADE_WHISPER_BEAM", v);
        assert_eq!(TranscriberConfig::default().beam_size, 5);
        assert_eq!(with("1").map(|c| c.beam_size), Ok(1));
        assert_eq!(with(" 8 ").map(|c| c.beam_size), Ok(8));
        for bad in ["0", "9", "wide", "-1"] {
            let err = with(bad).expect_err(bad);
            assert!(err.contains("PITCHGRADE_WHISPER_BEAM"), "{err}");
        }
    }

    #[test]
    fn whisper_threads_come_from_the_environment_within_bounds() {
        let with = |v: &str| with_one_var("PITCHGRADE_WHISPER_THREADS", v);
        assert_eq!(TranscriberConfig::default().threads, None);
        assert_eq!(with("1").map(|c| c.threads), Ok(Some(1)));
        assert_eq!(with(" 12 ").map(|c| c.threads), Ok(Some(12)));
        for bad in ["0", "65", "all", "-2"] {
            let err = with(bad).expect_err(bad);
            assert!(err.contains("PITCHGRADE_WHISPER_THREADS"), "{err}");
        }
    }

    #[test]
    fn env_overrides_defaults_and_rejects_unknown_backend() {
        let env = |k: &str| match k {
            "PITCHGRADE_TRANSCRIBE_BACKEND" => Some("Deepgram".to_string()),
            "DEEPGRAM_API_KEY" => Some("dg-secret".to_string()),
            _ => None,
        };
        let cfg = TranscriberConfig::default().with_env(env).unwrap();
        assert_eq!(cfg.backend, BackendKind::Deepgram);
        assert_eq!(cfg.deepgram.api_key.0, "dg-secret");
        assert_eq!(cfg.openai.model, "whisper-1");
        assert!(
            !format!("{cfg:?}").contains("dg-secret"),
            "Debug must not leak keys"
        );

        let bad = TranscriberConfig::default()
            .with_env(|k| (k == "PITCHGRADE_TRANSCRIBE_BACKEND").then(|| "azure".to_string()));
        assert!(bad.unwrap_err().contains("azure"));
    }

    #[test]
    fn partial_json_config_keeps_defaults_and_unknown_fields_fail() {
        let cfg: TranscriberConfig =
            serde_json::from_str(r#"{"backend":"openai","openai":{"base_url":"http://x/v1"}}"#)
                .unwrap();
        assert_eq!(cfg.backend, BackendKind::Openai);
        assert_eq!(cfg.openai.base_url, "http://x/v1");
        assert_eq!(cfg.openai.max_request_bytes, 24_000_000);
        assert!(serde_json::from_str::<TranscriberConfig>(r#"{"bakend":"local"}"#).is_err());
    }

    #[test]
    fn nonsense_timeout_falls_back_instead_of_panicking() {
        let cfg = TranscriberConfig {
            timeout_seconds: -1.0,
            ..Default::default()
        };
        assert_eq!(cfg.timeout(), Duration::from_secs(300));
    }
}
