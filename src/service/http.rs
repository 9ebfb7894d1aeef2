//! The HTTP server around the router: how long a client may take, how many
//! may be connected at once, and the headers every response carries.
//!
//! `axum::serve` has no timeouts at all, so a client that opens a connection
//! and sends half a header, or a multipart body that stalls, held a task and
//! a socket for as long as it liked. Here each connection is served by hyper
//! directly, with
//! - a header-read timeout (hyper closes a connection whose request head has
//!   not arrived in time),
//! - an idle-body timeout (no body bytes for that long ends the request with
//!   a 408, and the connection closes),
//! - a whole-request timeout (the handler, upload included, answers 408 after
//!   it; generous by default, since a phone on a poor link can take minutes to
//!   send a 200 MB recording),
//! - and a cap on open connections: past it, new ones wait in the listen
//!   backlog until one closes, instead of each costing memory and a task.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::header::{CONTENT_SECURITY_POLICY, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::api::ApiError;

/// The pages' policy: our own scripts and styles only, so nothing injected
/// can run. Error pages and API answers carry it too (see [`security_headers`]).
pub const CONTENT_SECURITY_POLICY_VALUE: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     media-src 'self' blob:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// How long clients may take and how many may be connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// From the start of a request to the end of its headers.
    pub header_read: Duration,
    /// Longest wait for the next bytes of a request body.
    pub body_idle: Duration,
    /// Longest a request may take to be answered, its upload included.
    pub request: Duration,
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_read: Duration::from_secs(10),
            body_idle: Duration::from_secs(30),
            // A 200 MB upload at 2 Mbit/s takes about 14 minutes.
            request: Duration::from_secs(15 * 60),
            max_connections: 1024,
        }
    }
}

/// Adds the headers every response must carry, error pages and API answers
/// included: no MIME sniffing, and the pages' CSP where a response has none
/// of its own.
pub async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if !headers.contains_key(CONTENT_SECURITY_POLICY) {
        headers.insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
        );
    }
    response
}

/// Serves `app` on `listener` with `limits` until `shutdown` is cancelled,
/// then lets the requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServerLimits,
    shutdown: CancellationToken,
) {
    // `acquire_many` below counts in u32.
    let max_connections = limits
        .max_connections
        .clamp(1, Semaphore::MAX_PERMITS)
        .min(u32::MAX as usize);
    let slots = Arc::new(Semaphore::new(max_connections));
    loop {
        // The slot is taken before accepting: past the cap, connections queue
        // in the kernel's backlog and cost nothing here.
        let slot = tokio::select! {
            _ = shutdown.cancelled() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, mostly: give connections time to close.
                tracing::warn!(error = %e, "accepting a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let app = app.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            serve_connection(stream, app, limits, shutdown).await;
            drop(slot);
        });
    }
    // Every slot back means every connection has closed.
    let all = u32::try_from(max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    app: Router,
    limits: ServerLimits,
    shutdown: CancellationToken,
) {
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let mut app = app.clone();
        async move {
            let stalled = Arc::new(AtomicBool::new(false));
            let request = request.map(|body| {
                Body::new(IdleBody {
                    inner: Body::new(body),
                    idle: limits.body_idle,
                    sleep: None,
                    stalled: stalled.clone(),
                })
            });
            let answered =
                tokio::time::timeout(limits.request, tower::Service::call(&mut app, request)).await;
            let response = match answered {
                Ok(Ok(_)) if stalled.load(Ordering::Relaxed) => timed_out(format!(
                    "the request body sent nothing for {} s",
                    limits.body_idle.as_secs()
                )),
                Ok(Ok(response)) => response,
                Ok(Err(never)) => match never {},
                Err(_) => timed_out(format!(
                    "the request took longer than {} s",
                    limits.request.as_secs()
                )),
            };
            Ok::<_, Infallible>(security_headers(response).await)
        }
    });
    // HTTP/1 only: hyper's HTTP/1-or-2 detection waits for the first bytes
    // with no timeout at all, which is the hole this module closes. Browsers
    // speak HTTP/2 only over TLS, which a proxy in front terminates.
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let mut closing = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended");
                }
                break;
            }
            _ = shutdown.cancelled(), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// The answer when a client was too slow, whatever the handler made of the
/// failed body read (the intake calls a broken stream its own fault).
fn timed_out(message: String) -> Response {
    ApiError::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", message).into_response()
}

#[derive(Debug, thiserror::Error)]
#[error("no request body bytes for {0:?}")]
struct BodyStalled(Duration);

/// A request body that fails once no bytes have come for `idle`, and notes
/// that in `stalled`. The clock runs only while the handler waits for bytes,
/// so a handler busy before it reads is not cut off.
struct IdleBody {
    inner: Body,
    idle: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    stalled: Arc<AtomicBool>,
}

impl http_body::Body for IdleBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.sleep = None;
            return Poll::Ready(frame);
        }
        let idle = this.idle;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.stalled.store(true, Ordering::Relaxed);
                Poll::Ready(Some(Err(axum::Error::new(BodyStalled(idle)))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
