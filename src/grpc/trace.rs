//! One tracing span per request, in one place: a tower layer outside the API-key layer, so a refused
//! key, a body that does not decode and a handler's answer all end in the same line.
//!
//! The span (`rpc`) carries `method` (`saring.v1.Moderation/CheckComment`), `site` and `decision`
//! (recorded by the handler through [`site`] and [`decision`], once they are known and valid), and
//! when the answer is complete `code` (`OK`, `INVALID_ARGUMENT`, …) and `latency_us`; then one event,
//! `finished`, is written in it. The code is read where gRPC puts it: in the headers of an answer
//! that is only a status, else in the trailers after the body, so a stream's line comes when the
//! stream ends. A request dropped before it is answered (the client went away, the request deadline,
//! shutdown) ends as `CANCELLED`.
//!
//! Only identifiers are recorded: a site id after validation (an identifier, never free text), the
//! method and the status code. Status messages are not: some quote a field of the request.
//! saring.v1 requests are logged at info; health and reflection, which load balancers and tools call
//! all the time, at debug.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http_body_util::BodyExt;
use tonic::body::Body;
use tracing::field::Empty;
use tracing::{Instrument, Span};

/// Paths of saring's own services, logged at info.
const SARING: &str = "/saring.v1.";

/// gRPC status codes by number, as the gRPC specification names them.
const CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// Record the request's site on its span. Call it only with a site id that passed validation.
pub(super) fn site(site: &str) {
    // Displayed, not quoted: a valid site id has no whitespace or control character to escape.
    Span::current().record("site", tracing::field::display(site));
}

/// Record CheckComment's decision on its span.
pub(super) fn decision(decision: crate::pb::Decision) {
    Span::current().record("decision", tracing::field::display(decision.as_str_name()));
}

/// Wraps the server's routes in [`TraceService`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceLayer;

impl<Inner> tower::Layer<Inner> for TraceLayer {
    type Service = TraceService<Inner>;

    fn layer(&self, inner: Inner) -> Self::Service {
        TraceService { inner }
    }
}

/// See [`TraceLayer`].
#[derive(Debug, Clone)]
pub struct TraceService<Inner> {
    inner: Inner,
}

/// A request not yet answered: when it is (or when it is dropped unanswered), its code and latency
/// are recorded and the `finished` event written, once.
struct Pending {
    span: Span,
    started: Instant,
    saring: bool,
    done: bool,
}

impl Pending {
    fn finish(&mut self, code: &str) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let latency_us = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.span.record("code", tracing::field::display(code));
        self.span.record("latency_us", latency_us);
        if self.saring {
            tracing::info!(parent: &self.span, "finished");
        } else {
            tracing::debug!(parent: &self.span, "finished");
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.finish("CANCELLED");
    }
}

/// The status code named in `headers` (an answer's headers or its trailers), if any.
fn code_in(headers: &http::HeaderMap) -> Option<&'static str> {
    let value = headers.get("grpc-status")?;
    let code = value
        .to_str()
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .and_then(|n| CODES.get(n).copied());
    Some(code.unwrap_or("UNKNOWN"))
}

impl<Inner, B> tower::Service<http::Request<B>> for TraceService<Inner>
where
    Inner:
        tower::Service<http::Request<B>, Response = http::Response<Body>> + Clone + Send + 'static,
    Inner::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Inner::Error;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // The clone is ready only after poll_ready; call the instance that was polled.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let path = request.uri().path();
        let saring = path.starts_with(SARING);
        // Displayed, not quoted: HTTP/2 allows only visible ASCII in a path, nothing to escape.
        let method = tracing::field::display(path.trim_start_matches('/'));
        let span = if saring {
            tracing::info_span!(
                "rpc",
                method,
                site = Empty,
                decision = Empty,
                code = Empty,
                latency_us = Empty
            )
        } else {
            tracing::debug_span!("rpc", method, code = Empty, latency_us = Empty)
        };
        let mut pending = Pending {
            span: span.clone(),
            started: Instant::now(),
            saring,
            done: false,
        };
        let answer = inner.call(request).instrument(span);
        Box::pin(async move {
            let response = match answer.await {
                Ok(response) => response,
                Err(e) => {
                    // The transport's own failure: no gRPC status was sent.
                    pending.finish("UNKNOWN");
                    return Err(e);
                }
            };
            // An answer that is only a status carries it in its headers.
            if let Some(code) = code_in(response.headers()) {
                pending.finish(code);
                return Ok(response);
            }
            // Otherwise the status is in the trailers after the body; `pending` goes with the body,
            // so a body dropped before its trailers (the client gone) ends the request as CANCELLED.
            let (parts, body) = response.into_parts();
            let body = body.map_frame(move |frame| {
                if let Some(code) = frame.trailers_ref().and_then(code_in) {
                    pending.finish(code);
                }
                frame
            });
            Ok(http::Response::from_parts(parts, Body::new(body)))
        })
    }
}
