//! One HTTP retry policy for every hosted backend: the speech APIs behind
//! `transcribe` and the LLM judges behind `score::judge`.
//!
//! Hosted APIs rate-limit (429) and have bad minutes (5xx, timeouts); a grade
//! should not fail for that. But a 400/401/413 will answer the same way however
//! often we ask, so those fail at once with the server's message. Both kinds of
//! backend face the same servers' habits, so they share one loop: a fix here
//! (a header format, a jitter bug) reaches every backend at once.
//!
//! Callers turn [`BackendHttpError`] into their own error type at their edge
//! (`TranscribeError`, `JudgeError`), so this module knows nothing of either.

use std::time::{Duration, SystemTime};

use reqwest::{header::RETRY_AFTER, RequestBuilder, Response, StatusCode};

/// How hard to try a hosted backend before giving up on this request.
///
/// The same three numbers mean the same thing for every backend, so an
/// operator who tunes one knows what the other does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 = one attempt only).
    pub max_retries: u32,
    /// Backoff before the first retry; doubles per retry, with jitter.
    pub initial_backoff: Duration,
    /// Longest wait between attempts. It caps the backoff, and a server's
    /// `Retry-After` above it ends the retries at once: waiting longer than
    /// the operator allowed would hold a worker hostage, and sending early
    /// would only be refused again.
    pub max_backoff: Duration,
}

/// Why a request to a hosted backend failed, after any retries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendHttpError {
    /// Asking again will get the same answer (a 4xx other than 408/429, a
    /// request that could not be built): the message holds the server's reason.
    #[error("{backend}: {message}")]
    Permanent { backend: String, message: String },
    /// The backend may answer later (5xx, 429, timeouts) but did not within
    /// the policy; the message says what the last attempt got and why we stopped.
    #[error("{backend} (transient): {message}")]
    Transient { backend: String, message: String },
}

impl BackendHttpError {
    pub fn is_transient(&self) -> bool {
        matches!(self, BackendHttpError::Transient { .. })
    }
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

/// Sends the request `build` makes until it succeeds, retrying what can change,
/// and returns the success body.
///
/// `build` is called once per attempt because multipart bodies cannot be
/// cloned. `max_body_bytes` is the caller's, because only it knows how big a
/// real answer gets (a judge's is kilobytes, hours of transcript megabytes):
/// anything larger is a broken or hostile server and is not read into memory.
pub(crate) async fn send_with_retry(
    backend: &str,
    policy: &RetryPolicy,
    max_body_bytes: usize,
    mut build: impl FnMut() -> RequestBuilder,
) -> Result<Vec<u8>, BackendHttpError> {
    let mut retries = 0;
    loop {
        let (why, retry_after) = match attempt(build(), max_body_bytes).await {
            Attempt::Done(body) => return Ok(body),
            Attempt::Fail(message) => {
                return Err(BackendHttpError::Permanent {
                    backend: backend.into(),
                    message,
                })
            }
            Attempt::Retry { why, retry_after } => (why, retry_after),
        };
        if retries >= policy.max_retries {
            return Err(BackendHttpError::Transient {
                backend: backend.into(),
                message: format!("{why} (gave up after {} attempts)", retries + 1),
            });
        }
        let wait = match retry_after {
            Some(wait) if wait > policy.max_backoff => {
                return Err(BackendHttpError::Transient {
                    backend: backend.into(),
                    message: format!(
                        "{why}; server asked to retry after {wait:?}, longer than the {:?} we wait",
                        policy.max_backoff
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

async fn attempt(request: RequestBuilder, max_body_bytes: usize) -> Attempt {
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
    let body = match read_capped(response, max_body_bytes).await {
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

/// 408, 429 and 5xx: the server's state, not our request, is the problem.
/// (Anthropic's 529 "overloaded" is a 5xx, so it is covered.)
pub(crate) fn is_retryable(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

/// Reads the body chunk by chunk so an oversized one is refused before it is
/// all in memory (`Content-Length` may be absent or lie).
async fn read_capped(mut response: Response, max: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > max {
                    return Err(format!("response larger than {max} bytes"));
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

/// Both forms the RFC allows, because proxies and CDNs in front of an API
/// send the date form even when the API itself sends seconds. A date in the
/// past means "now". Anything else is ignored and the backoff applies.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Exponential backoff with "equal jitter": half fixed, half random, so many
/// clients rate-limited together do not come back in lockstep. The fixed half
/// keeps a floor under the wait, so a retry never hammers a struggling server.
pub(crate) fn backoff(policy: &RetryPolicy, retry: u32) -> Duration {
    let exp = policy
        .initial_backoff
        .saturating_mul(1u32.checked_shl(retry).unwrap_or(u32::MAX));
    let capped = exp.min(policy.max_backoff);
    let half = capped / 2;
    half + half.mul_f64(fastrand::f64())
}

/// The start of an error body, for error messages: servers put the reason
/// there, and a whole HTML error page would drown the log line.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
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
        for _ in 0..200 {
            let first = backoff(&p, 0);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = backoff(&p, 2);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let late = backoff(&p, 40);
            assert!(late >= Duration::from_millis(500) && late <= Duration::from_millis(1000));
        }
    }

    #[test]
    fn backoff_is_jittered_not_fixed() {
        let p = policy();
        let waits: std::collections::BTreeSet<Duration> = (0..50).map(|_| backoff(&p, 3)).collect();
        assert!(waits.len() > 1, "50 backoffs all equal: {waits:?}");
    }

    #[test]
    fn backoff_never_exceeds_max_even_with_huge_initial() {
        let p = RetryPolicy {
            max_retries: 1,
            initial_backoff: Duration::from_secs(u64::MAX / 4),
            max_backoff: Duration::from_secs(2),
        };
        for retry in [0, 1, 31, 32, u32::MAX] {
            let wait = backoff(&p, retry);
            assert!(
                wait >= Duration::from_secs(1) && wait <= Duration::from_secs(2),
                "{retry}: {wait:?}"
            );
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
        // The obsolete forms RFC 9110 still asks recipients to accept.
        assert_eq!(
            parse_retry_after("Wednesday, 21-Oct-15 07:28:02 GMT", now),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            parse_retry_after("Wed Oct 21 07:28:05 2015", now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[test]
    fn retry_after_round_trips_a_date_we_format() {
        let now = SystemTime::now();
        let header = httpdate::fmt_http_date(now + Duration::from_secs(2));
        let wait = parse_retry_after(&header, now).expect("parses");
        // The date form has whole seconds, so up to a second is lost.
        assert!(
            wait > Duration::from_secs(1) && wait <= Duration::from_secs(2),
            "{header}: {wait:?}"
        );
    }

    #[test]
    fn only_408_429_and_5xx_are_retryable() {
        for code in [408, 429, 500, 502, 503, 504, 529] {
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

    #[test]
    fn snippet_folds_whitespace_to_one_line() {
        assert_eq!(
            snippet(b"  {\n  \"error\":\t\"busy\"\n}\n"),
            "{ \"error\": \"busy\" }"
        );
    }
}
