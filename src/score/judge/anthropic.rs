//! A judge on Anthropic's Messages API. The answer comes back as the input
//! of a forced tool call, whose schema the API enforces; Anthropic has no
//! `n`, so k samples are k requests.

use serde::Deserialize;
use serde_json::{json, Value};

use super::llm::{self, Answer, LlmConfig};
use super::{Judge, JudgeError, Judgement, Question};
use crate::rubric::Rubric;
use crate::transcribe::Transcript;

const NAME: &str = "anthropic";
const API_VERSION: &str = "2023-06-01";
const TOOL: &str = "record_verdict";

pub struct AnthropicJudge {
    config: LlmConfig,
    client: reqwest::Client,
}

impl AnthropicJudge {
    /// `config.base_url` is the API root, e.g. `https://api.anthropic.com`.
    pub fn new(config: LlmConfig) -> Result<Self, JudgeError> {
        let client = config.client(NAME)?;
        Ok(Self { config, client })
    }

    fn body(&self, rubric: &Rubric, q: &Question, t: &Transcript) -> Value {
        json!({
            "model": self.config.model,
            "max_tokens": self.config.max_tokens,
            "temperature": 0,
            "system": llm::system_prompt(),
            "messages": [{"role": "user", "content": llm::question_prompt(rubric, q, t)}],
            "tools": [{
                "name": TOOL,
                "description": "Record the level for this criterion with the rep's exact words as quotes.",
                "input_schema": llm::answer_schema()
            }],
            "tool_choice": {"type": "tool", "name": TOOL}
        })
    }
}

#[derive(Deserialize)]
struct MessageResponse {
    content: Vec<Block>,
    stop_reason: Option<String>,
}

#[derive(Deserialize)]
struct Block {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    input: Option<Value>,
    #[serde(default)]
    text: Option<String>,
}

fn answer(raw: &str) -> Result<Answer, JudgeError> {
    let msg: MessageResponse = serde_json::from_str(raw)
        .map_err(|e| llm::malformed(NAME, format!("not a Messages API response: {e}"), raw))?;
    match msg.stop_reason.as_deref() {
        Some("max_tokens") => {
            return Err(llm::malformed(
                NAME,
                "output truncated (stop_reason \"max_tokens\")",
                raw,
            ))
        }
        Some("refusal") => {
            let said: Vec<&str> = msg
                .content
                .iter()
                .filter_map(|b| b.text.as_deref())
                .collect();
            return Err(JudgeError::Refused {
                judge: NAME.into(),
                message: if said.is_empty() {
                    "the model refused".into()
                } else {
                    said.join(" ")
                },
                raw: raw.into(),
            });
        }
        _ => {}
    }
    let input = msg
        .content
        .into_iter()
        .find(|b| b.kind == "tool_use" && b.name.as_deref() == Some(TOOL))
        .and_then(|b| b.input)
        .ok_or_else(|| llm::malformed(NAME, format!("no {TOOL} tool call in the response"), raw))?;
    serde_json::from_value(input)
        .map_err(|e| llm::malformed(NAME, format!("answer does not match the schema: {e}"), raw))
}

#[async_trait::async_trait]
impl Judge for AnthropicJudge {
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
        let url = self.config.endpoint("v1/messages");
        let body = self.body(rubric, q, transcript);
        let mut samples = Vec::new();
        let mut raws = Vec::new();
        for _ in 0..self.config.samples {
            let raw = llm::send(NAME, &self.config.retry, || {
                self.client
                    .post(&url)
                    .header("x-api-key", &self.config.api_key)
                    .header("anthropic-version", API_VERSION)
                    .json(&body)
            })
            .await?;
            samples.push(answer(&raw)?);
            raws.push(raw);
        }
        let raw = if raws.len() == 1 {
            raws.remove(0)
        } else {
            Value::from(raws).to_string()
        };
        llm::combine(NAME, q, transcript, &samples, raw)
    }
}
