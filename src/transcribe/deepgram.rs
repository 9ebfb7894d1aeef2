//! Deepgram's prerecorded `/listen` API. Chosen when fillers matter most:
//! with `filler_words=true` Deepgram promises to transcribe "um" and "uh", so
//! its filler counts are not a lower bound.

use reqwest::header::CONTENT_TYPE;
use serde::Deserialize;

use super::config::{DeepgramConfig, TranscriberConfig};
use super::draft::{segments_from_words, Draft};
use super::guards::GuardConfig;
use super::wav::encode_wav;
use super::{
    ensure_audio, http_client, prompt, Capabilities, TranscribeError, TranscribeOptions,
    Transcriber, Transcript, Word, MAX_RESPONSE_BYTES,
};
use crate::backend_http::{send_with_retry, RetryPolicy};
use crate::ingest::Pcm;

const NAME: &str = "deepgram";

pub struct DeepgramTranscriber {
    client: reqwest::Client,
    cfg: DeepgramConfig,
    url: reqwest::Url,
    retry: RetryPolicy,
    guards: GuardConfig,
}

impl DeepgramTranscriber {
    pub fn new(cfg: &TranscriberConfig) -> Result<Self, TranscribeError> {
        let permanent = |message: String| TranscribeError::Permanent {
            backend: NAME.into(),
            message,
        };
        if cfg.deepgram.api_key.0.is_empty() {
            return Err(permanent(
                "no API key: set DEEPGRAM_API_KEY or deepgram.api_key".into(),
            ));
        }
        let raw = format!("{}/listen", cfg.deepgram.base_url.trim_end_matches('/'));
        let url = reqwest::Url::parse(&raw)
            .map_err(|e| permanent(format!("bad base_url {raw:?}: {e}")))?;
        Ok(Self {
            client: http_client(NAME, cfg)?,
            cfg: cfg.deepgram.clone(),
            url,
            retry: super::retry_policy(cfg),
            guards: cfg.guards.clone(),
        })
    }

    /// Query string for one request. Nova-3 takes `keyterm` prompts; older
    /// models take boosted `keywords` instead and reject `keyterm`.
    fn query(&self, vocabulary: &[String]) -> Vec<(&'static str, String)> {
        let mut q = vec![
            ("model", self.cfg.model.clone()),
            ("filler_words", "true".into()),
            ("punctuate", "true".into()),
        ];
        if let Some(lang) = &self.cfg.language {
            q.push(("language", lang.clone()));
        }
        let keyterm = self.cfg.model.starts_with("nova-3");
        for term in prompt::clean_vocabulary(vocabulary) {
            if keyterm {
                q.push(("keyterm", term));
            } else {
                q.push(("keywords", format!("{term}:2")));
            }
        }
        q
    }
}

#[async_trait::async_trait]
impl Transcriber for DeepgramTranscriber {
    fn name(&self) -> &str {
        NAME
    }

    fn model(&self) -> &str {
        &self.cfg.model
    }

    async fn transcribe(
        &self,
        audio: &Pcm,
        options: &TranscribeOptions,
    ) -> Result<Transcript, TranscribeError> {
        ensure_audio(NAME, audio)?;
        let wav = encode_wav(&audio.samples);
        let query = self.query(&options.vocabulary);
        let body = send_with_retry(NAME, &self.retry, MAX_RESPONSE_BYTES, || {
            self.client
                .post(self.url.clone())
                .query(&query)
                .header("Authorization", format!("Token {}", self.cfg.api_key.0))
                .header(CONTENT_TYPE, "audio/wav")
                .body(wav.clone())
        })
        .await?;
        let response: ListenResponse =
            serde_json::from_slice(&body).map_err(|e| TranscribeError::Permanent {
                backend: NAME.into(),
                message: format!("malformed listen response: {e}"),
            })?;
        let words = response.into_words();
        let draft = Draft {
            backend: NAME.into(),
            model: self.cfg.model.clone(),
            capabilities: Capabilities {
                word_times: true,
                keeps_fillers: true,
            },
            duration: audio.duration_seconds(),
            segments: segments_from_words(words),
        };
        Ok(draft.finish(&self.guards, audio))
    }
}

#[derive(Debug, Deserialize)]
struct ListenResponse {
    results: Results,
}

#[derive(Debug, Deserialize)]
struct Results {
    channels: Vec<Channel>,
}

#[derive(Debug, Deserialize)]
struct Channel {
    alternatives: Vec<Alternative>,
}

#[derive(Debug, Deserialize)]
struct Alternative {
    #[serde(default)]
    words: Vec<DgWord>,
}

#[derive(Debug, Deserialize)]
struct DgWord {
    word: String,
    start: f64,
    end: f64,
    #[serde(default)]
    confidence: Option<f32>,
    /// With `punctuate=true`: "Hello," where `word` is "hello".
    #[serde(default)]
    punctuated_word: Option<String>,
}

impl ListenResponse {
    /// Words of the best alternative of the (single, mono) channel.
    fn into_words(self) -> Vec<Word> {
        let Some(best) = self
            .results
            .channels
            .into_iter()
            .next()
            .and_then(|c| c.alternatives.into_iter().next())
        else {
            return Vec::new();
        };
        best.words
            .into_iter()
            .map(|w| Word {
                text: w
                    .punctuated_word
                    .filter(|p| !p.trim().is_empty())
                    .unwrap_or(w.word),
                start: w.start,
                end: w.end,
                confidence: w.confidence,
                is_filler: false,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transcriber(model: &str) -> DeepgramTranscriber {
        let mut cfg = TranscriberConfig::default();
        cfg.deepgram.api_key.0 = "k".into();
        cfg.deepgram.model = model.into();
        DeepgramTranscriber::new(&cfg).unwrap()
    }

    #[test]
    fn vocabulary_becomes_keyterm_on_nova3_and_keywords_before() {
        let vocab = vec!["Acme Cloud".to_string()];
        let q3 = transcriber("nova-3").query(&vocab);
        assert!(q3.contains(&("keyterm", "Acme Cloud".into())));
        assert!(q3.contains(&("filler_words", "true".into())));
        let q2 = transcriber("nova-2").query(&vocab);
        assert!(q2.contains(&("keywords", "Acme Cloud:2".into())));
        assert!(!q2.iter().any(|(k, _)| *k == "keyterm"));
    }

    #[test]
    fn missing_key_is_a_clear_permanent_error() {
        let err = DeepgramTranscriber::new(&TranscriberConfig::default())
            .err()
            .unwrap();
        assert!(!err.is_transient());
        assert!(err.to_string().contains("DEEPGRAM_API_KEY"));
    }

    #[test]
    fn empty_channels_mean_no_words() {
        let r: ListenResponse = serde_json::from_str(r#"{"results":{"channels":[]}}"#).unwrap();
        assert!(r.into_words().is_empty());
    }
}
