//! A deadline for reading a request's body: a client that drips its body can hold neither a
//! connection nor a stop of the service longer than `STOCKROOM_READ_TIMEOUT_SECONDS`. (The
//! headers have their own deadline in the HTTP/1 connection, see `app::serve_until`.)
//!
//! The deadline runs from when the handler is called; no timer is armed unless the body is
//! not there yet when first read (most bodies arrive with their headers).

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::{Body, Bytes, HttpBody},
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http_body::{Frame, SizeHint};
use serde_json::json;
use tokio::time::{Instant, Sleep};

/// The middleware: the request's body fails once the deadline has passed, and the answer is
/// then 408 with `Connection: close`, whatever the handler made of the failed read.
pub async fn read_body_within(
    State(limit): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let expired = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + limit;
    let request = request.map(|inner| {
        Body::new(DeadlineBody {
            inner,
            deadline,
            sleep: None,
            expired: expired.clone(),
        })
    });
    let response = next.run(request).await;
    if !expired.load(Ordering::Relaxed) {
        return response;
    }
    let body = json!({"errors": [{
        "message": format!("the request body did not arrive within {} s", limit.as_secs()),
        "extensions": {"code": "BAD_REQUEST"},
    }]});
    let mut response = (StatusCode::REQUEST_TIMEOUT, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Why a body read failed at its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct TooSlow;

/// A body that fails once `deadline` has passed.
struct DeadlineBody {
    inner: Body,
    deadline: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
    expired: Arc<AtomicBool>,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.as_mut().poll(cx).is_ready() {
            this.expired.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(axum::Error::new(TooSlow))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
