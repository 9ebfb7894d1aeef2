//! The real OpenAI-compatible and Deepgram clients against local HTTP doubles
//! (wiremock) that answer the way those APIs do, including their failures.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pitchgrade::ingest::Pcm;
use pitchgrade::transcribe::{
    build_transcriber, ApiKey, BackendKind, TranscribeOptions, Transcriber, TranscriberConfig,
};
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

/// Two short sentences of real speech with a pause, about 5 s.
fn pitch_audio() -> Pcm {
    let dir = tempfile::tempdir().unwrap();
    let a = common::speech(dir.path(), "a", "Our platform cuts onboarding to one day.");
    let b = common::speech(
        dir.path(),
        "b",
        "Security reviews take an hour, not a week.",
    );
    common::concat(&[&a, &common::silence(0.8), &b])
}

fn config(backend: BackendKind, server: &MockServer) -> TranscriberConfig {
    let mut cfg = TranscriberConfig {
        backend,
        timeout_seconds: 5.0,
        max_retries: 3,
        initial_backoff_ms: 10,
        max_backoff_ms: 2_000,
        ..Default::default()
    };
    cfg.openai.base_url = format!("{}/v1", server.uri());
    cfg.openai.api_key = ApiKey("sk-test".into());
    cfg.deepgram.base_url = format!("{}/v1", server.uri());
    cfg.deepgram.api_key = ApiKey("dg-test".into());
    cfg
}

fn transcriber(cfg: &TranscriberConfig) -> Box<dyn Transcriber> {
    build_transcriber(cfg).unwrap()
}

/// `verbose_json` as OpenAI's whisper-1 returns it with both granularities.
fn openai_verbose() -> serde_json::Value {
    json!({
        "task": "transcribe",
        "language": "english",
        "duration": 4.9,
        "text": "Um, our platform cuts onboarding to one day.",
        "words": [
            {"word": "Um", "start": 0.0, "end": 0.28},
            {"word": "our", "start": 0.3, "end": 0.46},
            {"word": "platform", "start": 0.46, "end": 0.92},
            {"word": "cuts", "start": 0.92, "end": 1.2},
            {"word": "onboarding", "start": 1.2, "end": 1.8},
            {"word": "to", "start": 1.8, "end": 1.9},
            {"word": "one", "start": 1.9, "end": 2.1},
            {"word": "day", "start": 2.1, "end": 2.4}
        ],
        "segments": [{
            "id": 0, "seek": 0, "start": 0.0, "end": 2.4,
            "text": " Um, our platform cuts onboarding to one day.",
            "tokens": [50364, 1449, 11, 527, 3663, 9532, 24033, 281, 472, 786, 13, 50484],
            "temperature": 0.0, "avg_logprob": -0.21, "compression_ratio": 0.98,
            "no_speech_prob": 0.012
        }]
    })
}

fn openai_mock() -> wiremock::MockBuilder {
    Mock::given(method("POST")).and(path("/v1/audio/transcriptions"))
}

#[tokio::test]
async fn openai_success_maps_words_segments_and_request_fields() {
    let server = MockServer::start().await;
    openai_mock()
        .and(header("authorization", "Bearer sk-test"))
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_verbose()))
        .expect(1)
        .mount(&server)
        .await;
    let cfg = config(BackendKind::Openai, &server);
    let options = TranscribeOptions {
        vocabulary: vec!["Acme Cloud".into(), "Globex".into()],
    };
    let t = transcriber(&cfg)
        .transcribe(&pitch_audio(), &options)
        .await
        .unwrap();

    assert_eq!(t.backend, "openai");
    assert_eq!(t.model, "whisper-1");
    assert_eq!(t.words.len(), 8);
    assert_eq!(t.words[2].text, "platform");
    assert_eq!((t.words[2].start, t.words[2].end), (0.46, 0.92));
    assert!(t.words[0].is_filler, "Um is a filler");
    assert_eq!(t.filler_count(), 1);
    assert!(
        t.filler_count_is_lower_bound,
        "Whisper cannot promise fillers"
    );
    assert!(t.capabilities.word_times);
    assert_eq!(t.segments.len(), 1);
    assert_eq!(t.segments[0].avg_logprob, Some(-0.21));

    let requests = server.received_requests().await.unwrap();
    let body = String::from_utf8_lossy(&requests[0].body);
    assert!(body.contains("verbose_json"));
    assert_eq!(
        body.matches("name=\"timestamp_granularities[]\"").count(),
        2
    );
    assert!(body.contains("\r\n\r\nword\r\n") && body.contains("\r\n\r\nsegment\r\n"));
    assert!(
        body.contains("Acme Cloud, Globex"),
        "vocabulary must reach the prompt"
    );
    assert!(body.contains("Umm, let me think"), "verbatim prompt");
    assert!(body.contains("RIFF") && body.contains("filename=\"audio.wav\""));
}

#[tokio::test]
async fn openai_429_with_retry_after_is_honoured_then_succeeds() {
    let server = MockServer::start().await;
    openai_mock()
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_json(
                    json!({"error": {"message": "Rate limit reached", "type": "requests"}}),
                ),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    openai_mock()
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_verbose()))
        .mount(&server)
        .await;
    let cfg = config(BackendKind::Openai, &server);
    let started = Instant::now();
    let t = transcriber(&cfg)
        .transcribe(&pitch_audio(), &TranscribeOptions::default())
        .await
        .unwrap();
    assert_eq!(t.words.len(), 8);
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    // Backoff alone would wait ~10 ms; Retry-After says a full second.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn openai_500_is_retried() {
    let server = MockServer::start().await;
    openai_mock()
        .respond_with(ResponseTemplate::new(500).set_body_string("upstream error"))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    openai_mock()
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_verbose()))
        .mount(&server)
        .await;
    let cfg = config(BackendKind::Openai, &server);
    let t = transcriber(&cfg)
        .transcribe(&pitch_audio(), &TranscribeOptions::default())
        .await
        .unwrap();
    assert_eq!(t.words.len(), 8);
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn openai_persistent_503_gives_up_as_transient_after_max_retries() {
    let server = MockServer::start().await;
    openai_mock()
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let cfg = TranscriberConfig {
        max_retries: 2,
        ..config(BackendKind::Openai, &server)
    };
    let err = transcriber(&cfg)
        .transcribe(&pitch_audio(), &TranscribeOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains("503"), "{err}");
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn openai_401_and_400_are_not_retried() {
    for (status, message) in [
        (401, "Incorrect API key provided: sk-test."),
        (400, "Invalid file format."),
    ] {
        let server = MockServer::start().await;
        openai_mock()
            .respond_with(ResponseTemplate::new(status).set_body_json(json!({
                "error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}
            })))
            .mount(&server)
            .await;
        let cfg = config(BackendKind::Openai, &server);
        let err = transcriber(&cfg)
            .transcribe(&pitch_audio(), &TranscribeOptions::default())
            .await
            .unwrap_err();
        assert!(!err.is_transient(), "{status}: {err}");
        assert!(
            err.to_string().contains(message),
            "the server's reason is kept: {err}"
        );
        assert_eq!(
            server.received_requests().await.unwrap().len(),
            1,
            "{status} must not be retried"
        );
    }
}

#[tokio::test]
async fn openai_timeout_is_retried_then_reported_as_transient() {
    let server = MockServer::start().await;
    openai_mock()
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(openai_verbose())
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let cfg = TranscriberConfig {
        timeout_seconds: 0.3,
        max_retries: 1,
        ..config(BackendKind::Openai, &server)
    };
    let err = transcriber(&cfg)
        .transcribe(&pitch_audio(), &TranscribeOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn malformed_json_is_a_clear_permanent_error() {
    let server = MockServer::start().await;
    openai_mock()
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"text\": \"cut off"))
        .mount(&server)
        .await;
    let cfg = config(BackendKind::Openai, &server);
    let err = transcriber(&cfg)
        .transcribe(&pitch_audio(), &TranscribeOptions::default())
        .await
        .unwrap_err();
    assert!(!err.is_transient());
    assert!(err.to_string().contains("malformed verbose_json"), "{err}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn long_audio_is_chunked_on_silence_and_times_shifted_back() {
    let server = MockServer::start().await;
    openai_mock()
        .respond_with(ChunkAnswers::default())
        .mount(&server)
        .await;
    let mut cfg = config(BackendKind::Openai, &server);
    let chunk_seconds = 2.0;
    cfg.openai.max_request_bytes = 44 + (chunk_seconds * 16_000.0 * 2.0) as usize;
    let audio = pitch_audio();
    let t = transcriber(&cfg)
        .transcribe(&audio, &TranscribeOptions::default())
        .await
        .unwrap();

    let requests = server.received_requests().await.unwrap();
    let expected_min = (audio.duration_seconds() / chunk_seconds).ceil() as usize;
    assert!(
        requests.len() >= expected_min && requests.len() >= 3,
        "{} requests",
        requests.len()
    );
    assert!(requests
        .iter()
        .all(|r| r.body.len() < cfg.openai.max_request_bytes + 2_000));
    assert_eq!(t.words.len(), 2 * requests.len());
    assert_eq!(t.words[3].text, "1", "chunks are stitched in order");
    let starts: Vec<f64> = t.words.iter().step_by(2).map(|w| w.start - 0.1).collect();
    assert_eq!(starts[0], 0.0);
    for pair in starts.windows(2) {
        let len = pair[1] - pair[0];
        // Each cut falls in the last quarter before the limit.
        assert!(
            len > 0.74 * chunk_seconds && len <= chunk_seconds + 1e-9,
            "chunk of {len} s"
        );
    }
    assert!(t.words.iter().all(|w| w.end <= audio.duration_seconds()));
}

#[tokio::test]
async fn hallucinated_silence_segment_is_dropped_with_its_words() {
    let server = MockServer::start().await;
    let mut body = openai_verbose();
    body["words"].as_array_mut().unwrap().extend([
        json!({"word": "Thank", "start": 3.0, "end": 3.2}),
        json!({"word": "you", "start": 3.2, "end": 3.4}),
        json!({"word": "for", "start": 3.4, "end": 3.5}),
        json!({"word": "watching", "start": 3.5, "end": 3.9}),
    ]);
    body["segments"].as_array_mut().unwrap().push(json!({
        "id": 1, "seek": 0, "start": 3.0, "end": 4.0, "text": " Thank you for watching.",
        "tokens": [], "temperature": 0.0, "avg_logprob": -1.31, "compression_ratio": 0.8,
        "no_speech_prob": 0.91
    }));
    openai_mock()
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&server)
        .await;
    let cfg = config(BackendKind::Openai, &server);
    let t = transcriber(&cfg)
        .transcribe(&pitch_audio(), &TranscribeOptions::default())
        .await
        .unwrap();
    assert_eq!(t.words.len(), 8);
    assert!(!t.text.contains("watching"));
    assert_eq!(t.dropped.len(), 1);
    assert_eq!(t.dropped[0].text, "Thank you for watching.");
    assert!(t.dropped[0].reason.contains("no_speech_prob 0.91"));
}

#[tokio::test]
async fn self_hosted_text_only_answer_still_gives_words_but_says_times_are_estimated() {
    let server = MockServer::start().await;
    openai_mock()
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"text": " Our platform cuts onboarding."})),
        )
        .mount(&server)
        .await;
    let mut cfg = config(BackendKind::Openai, &server);
    cfg.openai.api_key = ApiKey::default(); // local servers often need none
    let audio = pitch_audio();
    let t = transcriber(&cfg)
        .transcribe(&audio, &TranscribeOptions::default())
        .await
        .unwrap();
    assert!(!t.capabilities.word_times);
    assert_eq!(t.text, "Our platform cuts onboarding.");
    assert_eq!(t.words.len(), 4);
    let requests = server.received_requests().await.unwrap();
    assert!(!requests[0].headers.contains_key("authorization"));
}

/// Answers request n with "chunk <n>", timed 0.1-0.5 s into that chunk.
#[derive(Default)]
struct ChunkAnswers(AtomicUsize);

impl Respond for ChunkAnswers {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        let n = self.0.fetch_add(1, Ordering::SeqCst).to_string();
        ResponseTemplate::new(200).set_body_json(json!({
            "text": format!("chunk {n}"),
            "words": [{"word": "chunk", "start": 0.1, "end": 0.3}, {"word": n, "start": 0.3, "end": 0.5}],
            "segments": [{"id": 0, "start": 0.0, "end": 0.6, "text": format!(" chunk {n}")}]
        }))
    }
}

fn deepgram_response() -> serde_json::Value {
    json!({
        "metadata": {
            "transaction_key": "deprecated",
            "request_id": "0b5d7e24-5c25-4a4b-9a5f-0e8f6a8e3e1b",
            "sha256": "154e291ecfa8be6ab8343560bcc109008fa7853eb5372533e8efdefc9b504c33",
            "created": "2026-11-24T20:00:00.000Z",
            "duration": 4.9,
            "channels": 1,
            "models": ["2187e11a-3532-4498-b076-81fa530bdd49"],
            "model_info": {"2187e11a-3532-4498-b076-81fa530bdd49": {"name": "general-nova-3", "version": "2025-01-01.0", "arch": "nova-3"}}
        },
        "results": {"channels": [{"alternatives": [{
            "transcript": "um our platform uh cuts onboarding",
            "confidence": 0.97,
            "words": [
                {"word": "um", "start": 0.08, "end": 0.4, "confidence": 0.91, "punctuated_word": "Um,"},
                {"word": "our", "start": 0.48, "end": 0.64, "confidence": 0.99, "punctuated_word": "our"},
                {"word": "platform", "start": 0.64, "end": 1.12, "confidence": 0.99, "punctuated_word": "platform,"},
                {"word": "uh", "start": 1.2, "end": 1.4, "confidence": 0.88, "punctuated_word": "uh,"},
                {"word": "cuts", "start": 1.44, "end": 1.7, "confidence": 0.98, "punctuated_word": "cuts"},
                {"word": "onboarding", "start": 1.7, "end": 2.3, "confidence": 0.97, "punctuated_word": "onboarding."}
            ]
        }]}]}
    })
}

#[tokio::test]
async fn deepgram_success_asks_for_fillers_and_keyterms() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/listen"))
        .and(query_param("filler_words", "true"))
        .and(query_param("punctuate", "true"))
        .and(query_param("model", "nova-3"))
        .and(query_param("keyterm", "Acme Cloud"))
        .and(header("authorization", "Token dg-test"))
        .and(header("content-type", "audio/wav"))
        .respond_with(ResponseTemplate::new(200).set_body_json(deepgram_response()))
        .expect(1)
        .mount(&server)
        .await;
    let cfg = config(BackendKind::Deepgram, &server);
    let options = TranscribeOptions {
        vocabulary: vec!["Acme Cloud".into()],
    };
    let audio = pitch_audio();
    let t = transcriber(&cfg)
        .transcribe(&audio, &options)
        .await
        .unwrap();
    assert_eq!(t.backend, "deepgram");
    assert_eq!(t.text, "Um, our platform, uh, cuts onboarding.");
    assert_eq!(t.filler_count(), 2);
    assert!(!t.filler_count_is_lower_bound, "Deepgram promises fillers");
    assert_eq!(t.words[2].confidence, Some(0.99));
    assert_eq!((t.words[5].start, t.words[5].end), (1.7, 2.3));
    let body = &server.received_requests().await.unwrap()[0].body;
    assert_eq!(&body[..4], b"RIFF");
    assert_eq!(body.len(), 44 + audio.samples.len() * 2);
}

#[tokio::test]
async fn deepgram_429_then_success_and_403_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/listen"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({
            "err_code": "TOO_MANY_REQUESTS", "err_msg": "Too many requests. Please try again later",
            "request_id": "7b5fbd56-3b7f-4e3d-a6b9-2d9c0b6b4a55"
        })))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/listen"))
        .respond_with(ResponseTemplate::new(200).set_body_json(deepgram_response()))
        .mount(&server)
        .await;
    let cfg = config(BackendKind::Deepgram, &server);
    let t = transcriber(&cfg)
        .transcribe(&pitch_audio(), &TranscribeOptions::default())
        .await
        .unwrap();
    assert_eq!(t.words.len(), 6);
    assert_eq!(server.received_requests().await.unwrap().len(), 2);

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "err_code": "INSUFFICIENT_PERMISSIONS", "err_msg": "Project does not have access to the requested model."
        })))
        .mount(&server)
        .await;
    let cfg = config(BackendKind::Deepgram, &server);
    let err = transcriber(&cfg)
        .transcribe(&pitch_audio(), &TranscribeOptions::default())
        .await
        .unwrap_err();
    assert!(!err.is_transient());
    assert!(err.to_string().contains("does not have access"), "{err}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn empty_audio_is_refused_before_any_request() {
    let server = MockServer::start().await;
    for backend in [BackendKind::Openai, BackendKind::Deepgram] {
        let cfg = config(backend, &server);
        let err = transcriber(&cfg)
            .transcribe(&Pcm::default(), &TranscribeOptions::default())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}
