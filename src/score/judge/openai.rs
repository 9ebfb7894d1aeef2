//! A judge on any OpenAI-compatible chat completions API (OpenAI, Azure,
//! Groq, vLLM, LocalAI…), with strict structured outputs so the answer is
//! the schema's JSON or a refusal, and `n` samples per question.

use serde::Deserialize;
use serde_json::{json, Value};

use super::llm::{self, Answer, LlmConfig};
use super::{Judge, JudgeError, Judgement, Question};
use crate::rubric::Rubric;
use crate::transcribe::Transcript;

const NAME: &str = "openai";

pub struct OpenAiJudge {
    config: LlmConfig,
    client: reqwest::Client,
}

impl OpenAiJudge {
    /// `config.base_url` is the API root that `/chat/completions` hangs off,
    /// e.g. `https://api.openai.com/v1`.
    pub fn new(config: LlmConfig) -> Result<Self, JudgeError> {
        let client = config.client(NAME)?;
        Ok(Self { config, client })
    }

    fn body(&self, rubric: &Rubric, q: &Question, t: &Transcript, n: u32) -> Value {
        json!({
            "model": self.config.model,
            "temperature": 0,
            "n": n,
            "max_tokens": self.config.max_tokens,
            "messages": [
                {"role": "system", "content": llm::system_prompt()},
                {"role": "user", "content": llm::question_prompt(rubric, q, t)}
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "criterion_verdict", "strict": true, "schema": llm::answer_schema()}
            }
        })
    }
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

/// The answers in one response body; any refused, cut-off or unparsable
/// choice fails the whole question (a partial set of samples cannot show
/// agreement).
fn answers(raw: &str) -> Result<Vec<Answer>, JudgeError> {
    let completion: Completion = serde_json::from_str(raw)
        .map_err(|e| llm::malformed(NAME, format!("not a chat completion: {e}"), raw))?;
    let mut out = Vec::new();
    for choice in completion.choices {
        if let Some(refusal) = choice.message.refusal {
            return Err(JudgeError::Refused {
                judge: NAME.into(),
                message: refusal,
                raw: raw.into(),
            });
        }
        match choice.finish_reason.as_deref() {
            Some("length") => {
                return Err(llm::malformed(
                    NAME,
                    "output truncated (finish_reason \"length\")",
                    raw,
                ))
            }
            Some("content_filter") => {
                return Err(JudgeError::Refused {
                    judge: NAME.into(),
                    message: "content filter stopped the answer".into(),
                    raw: raw.into(),
                })
            }
            _ => {}
        }
        let content = choice
            .message
            .content
            .ok_or_else(|| llm::malformed(NAME, "choice has no content", raw))?;
        out.push(llm::parse_answer(NAME, &content, raw)?);
    }
    Ok(out)
}

#[async_trait::async_trait]
impl Judge for OpenAiJudge {
    fn name(&self) -> &str {
        NAME
    }

    fn model(&self) -> &str {
        &self.config.model
    }

    async fn judge(
        &self,
        rubric: &Rubric,
        q: &Question,
        transcript: &Transcript,
    ) -> Result<Judgement, JudgeError> {
        let url = self.config.endpoint("chat/completions");
        let wanted = self.config.samples as usize;
        let mut samples = Vec::new();
        let mut raws = Vec::new();
        // Some compatible servers ignore `n` and answer once: ask again for the rest.
        for _ in 0..wanted {
            if samples.len() >= wanted {
                break;
            }
            let body = self.body(rubric, q, transcript, (wanted - samples.len()) as u32);
            let raw = llm::send(NAME, &self.config.retry, || {
                self.client
                    .post(&url)
                    .bearer_auth(&self.config.api_key)
                    .json(&body)
            })
            .await?;
            let got = answers(&raw)?;
            if got.is_empty() {
                return Err(llm::malformed(NAME, "response has no choices", &raw));
            }
            samples.extend(got);
            raws.push(raw);
        }
        samples.truncate(wanted);
        let raw = if raws.len() == 1 {
            raws.remove(0)
        } else {
            Value::from(raws).to_string()
        };
        llm::combine(NAME, q, transcript, &samples, raw)
    }
}
