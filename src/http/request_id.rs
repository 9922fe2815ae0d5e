//! Request ids and the access log, for every route: tower-http's `SetRequestId` gives each
//! request an `x-request-id` (the client's own when it is sane, else a fresh one),
//! `PropagateRequestId` copies it onto the response, and `TraceLayer` opens a span per request
//! (method, path, request id: every log line of the request carries them) and writes one
//! access-log line when the response is ready. GraphQL reads the same id ([`of`]) for
//! `extensions.requestId`, so an error's id is the response header's.

use std::time::Duration;

use axum::{
    Router,
    extract::Request,
    http::{HeaderMap, HeaderName, HeaderValue},
    response::Response,
};
use tower_http::{
    request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    trace::TraceLayer,
};
use tracing::Span;

/// The header that carries the request id, both ways.
pub const HEADER: &str = "x-request-id";
/// The `tracing` target of the access-log lines (`RUST_LOG=info,stockroom::access=off` turns
/// them off).
const ACCESS_TARGET: &str = "stockroom::access";
/// Longest `x-request-id` taken from a client.
const MAX_CLIENT_ID_LEN: usize = 64;

/// A fresh request id (16 hex digits); also the id of each WebSocket operation.
pub fn fresh() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// The request id of a request that passed [`layer`]'s layers (a fresh one otherwise).
pub fn of(headers: &HeaderMap) -> String {
    headers
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .map_or_else(fresh, str::to_string)
}

/// Makes the ids of requests that came without a (sane) one.
#[derive(Clone, Copy)]
struct Fresh;

impl MakeRequestId for Fresh {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&fresh()).ok().map(RequestId::new)
    }
}

/// Whether a client's id may be kept: 1 to [`MAX_CLIENT_ID_LEN`] letters, digits, `-` and
/// `_` (it goes into logs and responses).
fn sane(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CLIENT_ID_LEN
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
}

/// Drops a client's `x-request-id` that is not [`sane`], so that a fresh one is made.
async fn drop_insane_id(mut request: Request) -> Request {
    if request
        .headers()
        .get(HEADER)
        .is_some_and(|id| !sane(id.as_bytes()))
    {
        request.headers_mut().remove(HEADER);
    }
    request
}

/// The access-log line of a request, when its response is ready (its span adds method, path
/// and request id).
fn log_response(response: &Response, latency: Duration, _span: &Span) {
    tracing::info!(
        target: ACCESS_TARGET,
        status = response.status().as_u16(),
        latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
        "served"
    );
}

/// The span of one request.
fn request_span(request: &Request) -> Span {
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %request
            .headers()
            .get(HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default(),
    )
}

/// `router` with request ids and the access log around every route.
pub fn layer(router: Router) -> Router {
    let header = HeaderName::from_static(HEADER);
    // Outermost last: the client's id is checked, then set, then copied to the response
    // around the access log, so every line and every response carries it.
    router
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(log_response)
                // The access line has the status; a 503 from /readyz is no error to log.
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(header.clone()))
        .layer(SetRequestIdLayer::new(header, Fresh))
        .layer(axum::middleware::map_request(drop_insane_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clients_id_is_kept_only_when_short_and_plain() {
        assert!(sane(b"abc-123_X"));
        assert!(sane(&[b'a'; MAX_CLIENT_ID_LEN]));
        assert!(!sane(&[b'a'; MAX_CLIENT_ID_LEN + 1]));
        assert!(!sane(b""));
        assert!(!sane(b"a b"));
        assert!(!sane(b"a\"}"));
    }

    #[test]
    fn a_fresh_id_is_sixteen_hex_digits() {
        let id = fresh();
        assert_eq!(id.len(), 16);
        assert!(sane(id.as_bytes()));
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
