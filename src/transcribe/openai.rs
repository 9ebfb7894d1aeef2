//! Any OpenAI-compatible `/audio/transcriptions` endpoint: OpenAI itself, Groq,
//! Azure, and self-hosted faster-whisper / whisper.cpp / LocalAI servers.
//!
//! Self-hosted servers differ in what `verbose_json` contains (some omit word
//! times, segment statistics, or `duration`), so every field is optional and
//! what was missing shows in the transcript's capabilities.

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use reqwest::multipart::{Form, Part};
use serde::Deserialize;

use super::chunk::split_on_silence;
use super::config::{OpenAiConfig, TranscriberConfig};
use super::draft::{interpolate_words, Draft, DraftSegment};
use super::guards::GuardConfig;
use super::wav::{encode_wav, HEADER_BYTES};
use super::{
    ensure_audio, http_client, prompt, Capabilities, TranscribeError, TranscribeOptions,
    Transcriber, Transcript, Word, MAX_RESPONSE_BYTES,
};
use crate::backend_http::{send_with_retry, RetryPolicy};
use crate::ingest::{Pcm, SAMPLE_RATE};

const NAME: &str = "openai";

pub struct OpenAiTranscriber {
    client: reqwest::Client,
    cfg: OpenAiConfig,
    url: String,
    retry: RetryPolicy,
    guards: GuardConfig,
    max_chunk_samples: usize,
}

impl OpenAiTranscriber {
    pub fn new(cfg: &TranscriberConfig) -> Result<Self, TranscribeError> {
        let permanent = |message: String| TranscribeError::Permanent {
            backend: NAME.into(),
            message,
        };
        let max_chunk_samples = cfg.openai.max_request_bytes.saturating_sub(HEADER_BYTES) / 2;
        if max_chunk_samples < SAMPLE_RATE as usize {
            return Err(permanent(format!(
                "max_request_bytes {} is below one second of audio",
                cfg.openai.max_request_bytes
            )));
        }
        let url = format!(
            "{}/audio/transcriptions",
            cfg.openai.base_url.trim_end_matches('/')
        );
        reqwest::Url::parse(&url).map_err(|e| permanent(format!("bad base_url {url:?}: {e}")))?;
        Ok(Self {
            client: http_client(NAME, cfg)?,
            cfg: cfg.openai.clone(),
            url,
            retry: super::retry_policy(cfg),
            guards: cfg.guards.clone(),
            max_chunk_samples,
        })
    }

    fn form(&self, wav: Vec<u8>, prompt: &str) -> Form {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("audio/wav"));
        let file = Part::bytes(wav).file_name("audio.wav").headers(headers);
        let mut form = Form::new()
            .part("file", file)
            .text("model", self.cfg.model.clone())
            .text("response_format", "verbose_json")
            .text("timestamp_granularities[]", "word")
            .text("timestamp_granularities[]", "segment")
            .text("temperature", "0")
            .text("prompt", prompt.to_string());
        if let Some(lang) = &self.cfg.language {
            form = form.text("language", lang.clone());
        }
        form
    }

    async fn transcribe_chunk(
        &self,
        samples: &[f32],
        prompt: &str,
    ) -> Result<VerboseJson, TranscribeError> {
        let wav = encode_wav(samples);
        let body = send_with_retry(NAME, &self.retry, MAX_RESPONSE_BYTES, || {
            let mut request = self
                .client
                .post(&self.url)
                .multipart(self.form(wav.clone(), prompt));
            if !self.cfg.api_key.0.is_empty() {
                request = request.bearer_auth(&self.cfg.api_key.0);
            }
            request
        })
        .await?;
        serde_json::from_slice(&body).map_err(|e| TranscribeError::Permanent {
            backend: NAME.into(),
            message: format!("malformed verbose_json response: {e}"),
        })
    }
}

#[async_trait::async_trait]
impl Transcriber for OpenAiTranscriber {
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
        let prompt = prompt::whisper_prompt(&options.vocabulary);
        let mut segments = Vec::new();
        let mut word_times = true;
        for range in split_on_silence(&audio.samples, self.max_chunk_samples) {
            let offset = range.start as f64 / SAMPLE_RATE as f64;
            let length = range.len() as f64 / SAMPLE_RATE as f64;
            let response = self
                .transcribe_chunk(&audio.samples[range], &prompt)
                .await?;
            let (chunk_segments, had_word_times) = response.into_segments(offset, length);
            word_times &= had_word_times;
            segments.extend(chunk_segments);
        }
        let draft = Draft {
            backend: NAME.into(),
            model: self.cfg.model.clone(),
            // Whisper-family servers cannot promise to keep "um", whatever the prompt.
            capabilities: Capabilities {
                word_times,
                keeps_fillers: false,
            },
            duration: audio.duration_seconds(),
            segments,
        };
        Ok(draft.finish(&self.guards, audio))
    }
}

/// `verbose_json` as OpenAI documents it, every field optional for the
/// self-hosted servers that leave some out.
#[derive(Debug, Deserialize)]
struct VerboseJson {
    #[serde(default)]
    text: String,
    #[serde(default)]
    words: Option<Vec<ApiWord>>,
    #[serde(default)]
    segments: Option<Vec<ApiSegment>>,
}

#[derive(Debug, Deserialize)]
struct ApiWord {
    #[serde(alias = "text")]
    word: String,
    start: Option<f64>,
    end: Option<f64>,
    /// faster-whisper servers send a probability per word.
    #[serde(default)]
    probability: Option<f32>,
}

#[derive(Debug, Deserialize)]
struct ApiSegment {
    #[serde(default)]
    text: String,
    start: Option<f64>,
    end: Option<f64>,
    #[serde(default)]
    avg_logprob: Option<f32>,
    #[serde(default)]
    compression_ratio: Option<f32>,
    #[serde(default)]
    no_speech_prob: Option<f32>,
    /// Some servers nest words in segments instead of a top-level list.
    #[serde(default)]
    words: Option<Vec<ApiWord>>,
}

impl VerboseJson {
    /// Draft segments with times shifted by `offset`, and whether the server
    /// gave real word times (otherwise words are spread over their segment).
    fn into_segments(self, offset: f64, length: f64) -> (Vec<DraftSegment>, bool) {
        let mut segments: Vec<ApiSegment> = self.segments.unwrap_or_default();
        let mut words: Vec<ApiWord> = self.words.unwrap_or_default();
        if words.is_empty() {
            words = segments
                .iter_mut()
                .flat_map(|s| s.words.take().unwrap_or_default())
                .collect();
        }
        let timed: Option<Vec<Word>> = words
            .into_iter()
            .map(|w| {
                Some(Word {
                    text: w.word.trim().to_string(),
                    start: w.start? + offset,
                    end: w.end? + offset,
                    confidence: w.probability,
                    is_filler: false,
                })
            })
            .filter(|w| w.as_ref().is_none_or(|w| !w.text.is_empty()))
            .collect();
        let mut drafts: Vec<DraftSegment> = segments
            .into_iter()
            .map(|s| {
                let start = s.start.unwrap_or(0.0) + offset;
                DraftSegment {
                    start,
                    end: s.end.map_or(offset + length, |e| e + offset),
                    text: s.text.trim().to_string(),
                    words: Vec::new(),
                    no_speech_prob: s.no_speech_prob,
                    avg_logprob: s.avg_logprob,
                    compression_ratio: s.compression_ratio,
                }
            })
            .collect();
        if drafts.is_empty() {
            drafts.push(DraftSegment {
                text: self.text.trim().to_string(),
                start: offset,
                end: offset + length,
                ..Default::default()
            });
        }
        match timed {
            Some(words) if !words.is_empty() => {
                assign_words(&mut drafts, words);
                (drafts, true)
            }
            _ => {
                for d in &mut drafts {
                    d.words = interpolate_words(&d.text, d.start, d.end);
                }
                (drafts, false)
            }
        }
    }
}

/// Puts each word in the last segment that starts at or before it, so a
/// segment the guards drop takes its words with it.
fn assign_words(segments: &mut [DraftSegment], words: Vec<Word>) {
    let mut i = 0;
    for word in words {
        while i + 1 < segments.len() && segments[i + 1].start <= word.start + 0.01 {
            i += 1;
        }
        segments[i].words.push(word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_go_to_their_segments_and_shift_by_offset() {
        let json = r#"{"text":"Hi there. Bye now.","words":[
            {"word":"Hi","start":0.0,"end":0.3},{"word":"there.","start":0.3,"end":0.7},
            {"word":"Bye","start":2.0,"end":2.3},{"word":"now.","start":2.3,"end":2.6}],
            "segments":[{"id":0,"start":0.0,"end":1.0,"text":" Hi there.","avg_logprob":-0.2,
            "compression_ratio":0.9,"no_speech_prob":0.01},
            {"id":1,"start":2.0,"end":2.6,"text":" Bye now."}]}"#;
        let v: VerboseJson = serde_json::from_str(json).unwrap();
        let (segs, timed) = v.into_segments(10.0, 3.0);
        assert!(timed);
        assert_eq!(segs.len(), 2);
        assert_eq!(segs[0].words.len(), 2);
        assert_eq!(segs[1].words[0].text, "Bye");
        assert_eq!(segs[1].words[0].start, 12.0);
        assert_eq!(segs[0].avg_logprob, Some(-0.2));
    }

    #[test]
    fn text_only_servers_get_interpolated_words() {
        let v: VerboseJson = serde_json::from_str(r#"{"text":" one two three"}"#).unwrap();
        let (segs, timed) = v.into_segments(5.0, 3.0);
        assert!(!timed);
        assert_eq!(segs.len(), 1);
        assert_eq!(segs[0].words.len(), 3);
        assert_eq!(segs[0].words[0].start, 5.0);
        assert!((segs[0].words[2].end - 8.0).abs() < 1e-9);
    }

    #[test]
    fn nested_segment_words_are_used() {
        let json = r#"{"text":"x","segments":[{"start":0,"end":1,"text":"ok go",
            "words":[{"word":" ok","start":0.1,"end":0.4,"probability":0.9},
                     {"word":" go","start":0.5,"end":0.8,"probability":0.8}]}]}"#;
        let (segs, timed) = serde_json::from_str::<VerboseJson>(json)
            .unwrap()
            .into_segments(0.0, 1.0);
        assert!(timed);
        assert_eq!(segs[0].words[1].text, "go");
        assert_eq!(segs[0].words[1].confidence, Some(0.8));
    }
}
