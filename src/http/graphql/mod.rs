//! `/graphql` over HTTP, as the GraphQL-over-HTTP spec has it. The handlers take a request
//! through the checks that need no document — the media types (`negotiation.rs`), the body
//! size, body shape and batch size (`decode.rs`) — then the caller's token and each operation
//! run by the path it shares with the WebSocket (`operation.rs`: timeout, panic guard, error
//! codes, request id, metrics), and answer with the status and media type the client asked
//! for, with caching headers for GET (`respond.rs`).

mod decode;
mod negotiation;
mod respond;

use std::time::Instant;

use async_graphql::Request;
use axum::{
    body::Body,
    extract::{FromRequestParts, State, ws::WebSocketUpgrade},
    http::{HeaderMap, header, request::Parts},
    response::{IntoResponse, Response as HttpResponse},
};
pub use decode::CONSISTENCY_HEADER;
use negotiation::{Media, negotiate};
use respond::{Caching, Outcome, Reply};

use crate::{
    app::AppState,
    auth::{Credentials, RequestCredentials},
    graphql::guard::{Arrival, Caller},
    http::{graphiql, operation, request_id, ws},
    telemetry,
};

/// What one HTTP request to `/graphql` is about, before anything runs.
struct Call<'a> {
    state: &'a AppState,
    headers: &'a HeaderMap,
    /// The request id (`x-request-id`, set for every route by `request_id.rs`).
    request_id: String,
    reply: Reply,
}

impl<'a> Call<'a> {
    /// A request that negotiated `media`.
    fn new(state: &'a AppState, headers: &'a HeaderMap, media: Media, get: bool) -> Self {
        Self {
            state,
            headers,
            request_id: request_id::of(headers),
            reply: Reply {
                media,
                get,
                started: Instant::now(),
            },
        }
    }
}

/// `POST /graphql`.
pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Body) -> HttpResponse {
    let Some(media) = negotiate(&headers) else {
        return respond::not_acceptable();
    };
    let call = Call::new(&state, &headers, media, false);
    match decode::post(&headers, body, &state.settings.limits).await {
        Ok(decoded) => call.run(decoded.requests, decoded.batched).await,
        Err(refusal) => call.reply.refusal(refusal),
    }
}

/// `GET /graphql`: a WebSocket upgrade, GraphiQL for a browser, else a query from the URL.
pub async fn get(State(state): State<AppState>, req: axum::extract::Request) -> HttpResponse {
    let (mut parts, _body) = req.into_parts();
    if ws::is_upgrade(&parts.headers) {
        return match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
            Ok(upgrade) => ws::upgrade(State(state), parts.headers.clone(), upgrade).await,
            Err(rejection) => rejection.into_response(),
        };
    }
    get_query(&state, &parts).await
}

/// A query from the URL, or the GraphiQL page for a browser.
async fn get_query(state: &AppState, parts: &Parts) -> HttpResponse {
    let headers = &parts.headers;
    if negotiation::wants_html(headers) {
        return graphiql::page_response(headers);
    }
    let Some(media) = negotiate(headers) else {
        return respond::not_acceptable();
    };
    let call = Call::new(state, headers, media, true);
    match decode::get(&parts.uri) {
        Ok(request) => call.run(vec![request], false).await,
        Err(refusal) => call.reply.refusal(refusal),
    }
}

impl Call<'_> {
    /// Runs the operations; one HTTP response for all of them.
    async fn run(&self, requests: Vec<Request>, batched: bool) -> HttpResponse {
        // The token is looked up by the guard once an operation passed the limits (and once
        // for the whole batch).
        let credentials = RequestCredentials::new(Credentials::from_headers(self.headers));
        let mut outcomes = Vec::with_capacity(requests.len());
        for request in requests {
            outcomes.push(self.execute(request, &credentials).await);
        }
        let caching = Caching {
            max_age: self.state.settings.limits.get_max_age_seconds,
            private: credentials.sent(),
        };
        self.reply.operations(outcomes, batched, &caching)
    }

    /// Runs one operation (see `operation.rs`) and shapes its body.
    async fn execute(&self, request: Request, credentials: &RequestCredentials) -> Outcome {
        let arrival = Arrival {
            caller: Caller::Http(credentials),
            get: self.reply.get,
            consistency: decode::consistency(self.headers),
        };
        // `Span::none()` unless traces are exported.
        let span = telemetry::operation_span(self.headers);
        let finished =
            operation::run_once(self.state, request, arrival, &self.request_id, span).await;
        let body = finished.body().to_vec();
        Outcome {
            body,
            code: finished.code,
            request_error: finished.request_error,
            operation_type: finished.operation_type,
            panicked: finished.panicked,
        }
    }
}

/// `GET /schema.graphql`: the SDL.
pub async fn sdl(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        state.gate.schema().sdl(),
    )
}
