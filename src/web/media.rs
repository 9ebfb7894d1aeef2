//! The recording, played back in the result and review pages.
//!
//! Browsers seek an `<audio>` element with HTTP range requests, and Chrome
//! will not seek at all without them. Object stores give whole objects, so a
//! recording is fetched once into a small local cache and ranges are served
//! from that file, streamed in chunks (memory stays flat).

use std::collections::VecDeque;
use std::io::SeekFrom;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::store::{ObjectKey, ObjectStore};

use super::auth::{visible_submission, Principal, Role, Viewer};
use super::error::WebError;
use super::WebState;

/// Recordings kept on local disk at once (a reviewer moves through a queue;
/// older ones are fetched again if needed).
const CACHED_RECORDINGS: usize = 16;
const CHUNK: usize = 64 * 1024;

type Entry = (String, Arc<OnceCell<PathBuf>>);

pub struct AudioCache {
    dir: Option<tempfile::TempDir>,
    entries: Mutex<VecDeque<Entry>>,
}

impl Default for AudioCache {
    fn default() -> Self {
        AudioCache::new()
    }
}

impl AudioCache {
    pub fn new() -> AudioCache {
        AudioCache {
            dir: tempfile::Builder::new()
                .prefix("pitchgrade-audio-")
                .tempdir()
                .ok(),
            entries: Mutex::new(VecDeque::new()),
        }
    }

    /// Drops the cached copy of `key`, if any (its recording was deleted).
    pub(crate) fn forget(&self, key: &str) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        entries.retain(|(k, cell)| {
            if k != key {
                return true;
            }
            if let Some(path) = cell.get() {
                let _ = std::fs::remove_file(path);
            }
            false
        });
    }

    /// A local file holding the object, fetched on first use. Concurrent
    /// requests for one recording share a single download.
    async fn file_for(
        &self,
        objects: &dyn ObjectStore,
        key: &ObjectKey,
        max_bytes: u64,
    ) -> Result<PathBuf, WebError> {
        let dir = self
            .dir
            .as_ref()
            .ok_or_else(|| WebError::Internal("no temporary folder for audio".into()))?;
        let cell = {
            let mut entries = self
                .entries
                .lock()
                .map_err(|_| WebError::Internal("audio cache lock poisoned".into()))?;
            match entries.iter().find(|(k, _)| k == key.as_str()) {
                Some((_, cell)) => Arc::clone(cell),
                None => {
                    let cell = Arc::new(OnceCell::new());
                    entries.push_back((key.as_str().to_string(), Arc::clone(&cell)));
                    while entries.len() > CACHED_RECORDINGS {
                        if let Some((_, old)) = entries.pop_front() {
                            if let Some(path) = old.get() {
                                // A response still streaming keeps its open file.
                                let _ = std::fs::remove_file(path);
                            }
                        }
                    }
                    cell
                }
            }
        };
        let path = dir.path().join(Uuid::now_v7().to_string());
        let got = cell
            .get_or_try_init(|| async {
                objects
                    .get_to_file(key, &path, max_bytes)
                    .await
                    .map(|_| path.clone())
            })
            .await;
        match got {
            Ok(p) => Ok(p.clone()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Whether `viewer` may play recordings at all: everyone who may see a
/// submission, except a partner admin unless the program's
/// `[partners] admins_hear_recordings` says so.
pub fn may_hear(state: &WebState, viewer: &Principal) -> bool {
    viewer.role != Role::PartnerAdmin
        || state
            .api
            .config
            .program
            .as_ref()
            .is_some_and(|p| p.partners.admins_hear_recordings)
}

/// `GET /submissions/{id}/audio`: the recording, for its rep or staff.
pub async fn audio(
    State(state): State<WebState>,
    Viewer(viewer): Viewer,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    if !may_hear(&state, &viewer) {
        return Err(WebError::NotFound("recording".into()));
    }
    let view = visible_submission(&state, &viewer, id)
        .await?
        .ok_or_else(|| WebError::NotFound("recording".into()))?;
    if let Some(gone) = &view.submission.recording_deleted {
        // A copy fetched before the deletion must not outlive it here.
        state.audio.forget(&view.submission.object_key);
        return Err(WebError::Refused {
            status: StatusCode::GONE,
            code: "recording_deleted",
            message: crate::privacy::policy::recording_gone(&gone.reason).into(),
        });
    }
    let key = ObjectKey::parse(&view.submission.object_key)?;
    let path = state
        .audio
        .file_for(
            state.parts.objects.as_ref(),
            &key,
            state.api.config.max_upload_bytes,
        )
        .await?;
    let mut file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| WebError::Internal(format!("opening cached audio: {e}")))?;
    let len = file
        .metadata()
        .await
        .map_err(|e| WebError::Internal(format!("reading cached audio: {e}")))?
        .len();
    let content_type = HeaderValue::from_str(&view.submission.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));

    let range = headers
        .get(RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|r| parse_range(r, len));
    let (status, start, end) = match range {
        None => (StatusCode::OK, 0, len),
        Some(Some((a, b))) => (StatusCode::PARTIAL_CONTENT, a, b),
        Some(None) => {
            return Ok((
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(CONTENT_RANGE, format!("bytes */{len}"))],
            )
                .into_response())
        }
    };
    file.seek(SeekFrom::Start(start))
        .await
        .map_err(|e| WebError::Internal(format!("seeking cached audio: {e}")))?;
    let body = Body::from_stream(chunks(file, end - start));
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, content_type);
    h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300"),
    );
    h.insert(CONTENT_LENGTH, HeaderValue::from(end - start));
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{len}", end - 1)) {
            h.insert(CONTENT_RANGE, v);
        }
    }
    Ok(response)
}

/// Streams `remaining` bytes of `file` in fixed chunks.
fn chunks(
    file: tokio::fs::File,
    remaining: u64,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> {
    futures_util::stream::try_unfold((file, remaining), |(mut file, remaining)| async move {
        if remaining == 0 {
            return Ok(None);
        }
        let want = usize::try_from(remaining).unwrap_or(CHUNK).min(CHUNK);
        let mut buf = vec![0u8; want];
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        Ok(Some((
            bytes::Bytes::from(buf),
            (file, remaining - n as u64),
        )))
    })
}

/// One `bytes=` range as a half-open `[start, end)`; `None` when it cannot be
/// satisfied. Several ranges are answered with the first (browsers send one).
fn parse_range(header: &str, len: u64) -> Option<(u64, u64)> {
    let spec = header.strip_prefix("bytes=")?.split(',').next()?.trim();
    let (a, b) = spec.split_once('-')?;
    let (start, end) = if a.is_empty() {
        let suffix: u64 = b.parse().ok()?;
        (len.saturating_sub(suffix), len)
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            len
        } else {
            b.parse::<u64>().ok()?.saturating_add(1).min(len)
        };
        (start, end)
    };
    (start < end && end <= len).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-", 100), Some((0, 100)));
        assert_eq!(parse_range("bytes=10-19", 100), Some((10, 20)));
        assert_eq!(parse_range("bytes=90-200", 100), Some((90, 100)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 100)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=5-2", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }
}
