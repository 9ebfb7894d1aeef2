//! One HTTP retry policy for every hosted backend.
//!
//! Hosted speech APIs rate-limit (429) and have bad minutes (5xx, timeouts); a
//! grade should not fail for that. But a 400/401/413 will answer the same way
//! however often we ask, so those fail at once with the server's message.

use std::time::{Duration, SystemTime};

use reqwest::{header::RETRY_AFTER, RequestBuilder, Response, StatusCode};

use super::TranscribeError;

/// Bodies larger than this are refused: a transcript of hours of speech is a
/// few MB of JSON, so anything bigger is a broken or hostile server.
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone)]
pub(crate) struct RetryPolicy {
    pub max_retries: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

/// What one attempt came to.
enum Attempt {
    Done(Vec<u8>),
    /// Worth another try, after the server's `Retry-After` if it sent one.
    Retry {
        why: String,
        retry_after: Option<Duration>,
    },
    Fail(String),
}

/// Sends the request `build` makes until it succeeds, retrying what can change.
/// `build` is called once per attempt because multipart bodies cannot be cloned.
/// Returns the success body.
pub(crate) async fn send_with_retry(
    backend: &str,
    policy: &RetryPolicy,
    mut build: impl FnMut() -> RequestBuilder,
) -> Result<Vec<u8>, TranscribeError> {
    let mut retries = 0;
    loop {
        let (why, retry_after) = match attempt(build()).await {
            Attempt::Done(body) => return Ok(body),
            Attempt::Fail(message) => {
                return Err(TranscribeError::Permanent {
                    backend: backend.into(),
                    message,
                })
            }
            Attempt::Retry { why, retry_after } => (why, retry_after),
        };
        if retries >= policy.max_retries {
            return Err(TranscribeError::Transient {
                backend: backend.into(),
                message: format!("{why} (gave up after {} attempts)", retries + 1),
            });
        }
        let wait = match retry_after {
            Some(wait) if wait > policy.max_backoff => {
                return Err(TranscribeError::Transient {
                    backend: backend.into(),
                    message: format!(
                        "{why}; server asked to retry after {} s, longer than the {} s we wait",
                        wait.as_secs(),
                        policy.max_backoff.as_secs()
                    ),
                });
            }
            Some(wait) => wait,
            None => backoff(policy, retries),
        };
        tracing::warn!(backend, %why, wait_ms = wait.as_millis() as u64, "retrying");
        tokio::time::sleep(wait).await;
        retries += 1;
    }
}

async fn attempt(request: RequestBuilder) -> Attempt {
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            return Attempt::Retry {
                why: "request timed out".into(),
                retry_after: None,
            }
        }
        Err(e) if e.is_connect() || e.is_request() => {
            return Attempt::Retry {
                why: format!("request failed: {e}"),
                retry_after: None,
            }
        }
        Err(e) => return Attempt::Fail(format!("could not send request: {e}")),
    };
    let status = response.status();
    let retry_after = retry_after(&response, SystemTime::now());
    let body = match read_capped(response).await {
        Ok(b) => b,
        Err(why) => {
            return Attempt::Retry {
                why,
                retry_after: None,
            }
        }
    };
    if status.is_success() {
        return Attempt::Done(body);
    }
    let why = format!("HTTP {status}: {}", snippet(&body));
    if is_retryable(status) {
        Attempt::Retry { why, retry_after }
    } else {
        Attempt::Fail(why)
    }
}

pub(crate) fn is_retryable(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

async fn read_capped(mut response: Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(format!("response larger than {MAX_RESPONSE_BYTES} bytes"));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) if e.is_timeout() => return Err("timed out reading the response".into()),
            Err(e) => return Err(format!("reading the response failed: {e}")),
        }
    }
}

/// `Retry-After` as delta-seconds or an HTTP date (RFC 9110 §10.2.3).
fn retry_after(response: &Response, now: SystemTime) -> Option<Duration> {
    let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, now)
}

pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Exponential backoff with "equal jitter": half fixed, half random, so many
/// clients rate-limited together do not come back in lockstep.
pub(crate) fn backoff(policy: &RetryPolicy, retry: u32) -> Duration {
    let exp = policy
        .initial_backoff
        .saturating_mul(1u32.checked_shl(retry).unwrap_or(u32::MAX));
    let capped = exp.min(policy.max_backoff);
    let half = capped / 2;
    half + half.mul_f64(fastrand::f64())
}

/// The start of an error body, for error messages (servers put the reason there).
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
        }
    }

    #[test]
    fn backoff_grows_then_caps_with_jitter_in_range() {
        let p = policy();
        for _ in 0..50 {
            let first = backoff(&p, 0);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = backoff(&p, 2);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let late = backoff(&p, 40);
            assert!(late >= Duration::from_millis(500) && late <= Duration::from_millis(1000));
        }
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        // 1_445_412_480 is Wed, 21 Oct 2015 07:28:00 GMT.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn only_408_429_and_5xx_are_retryable() {
        for code in [408, 429, 500, 502, 503, 504] {
            assert!(is_retryable(StatusCode::from_u16(code).unwrap()), "{code}");
        }
        for code in [400, 401, 403, 404, 413, 415, 422] {
            assert!(!is_retryable(StatusCode::from_u16(code).unwrap()), "{code}");
        }
    }

    #[test]
    fn snippet_cuts_long_bodies_on_a_char_boundary() {
        let long = "é".repeat(400);
        let s = snippet(long.as_bytes());
        assert_eq!(s.chars().count(), 301);
    }
}
