//! Response writing for `/graphql`: the status of an answer (by the media type the client
//! negotiated, the first error's code and whether the operation ran), its headers (media
//! type, caching for GET), the body of a batch, and the refusals written before
//! any operation ran (each counted in the metrics).

use std::time::Instant;

use async_graphql::{ErrorExtensionValues, ServerError, parser::types::OperationType};
use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response as HttpResponse},
};
use serde_json::json;

use super::{decode::Refusal, negotiation::Media};
use crate::{
    error::{AppError, code},
    graphql::guard,
    http::metrics,
};

/// One operation's result.
pub(super) struct Outcome {
    /// Its JSON body.
    pub(super) body: Vec<u8>,
    /// The first error's code, or `OK`.
    pub(super) code: String,
    /// Stopped before execution (parse, validation, limits).
    pub(super) request_error: bool,
    /// query, mutation or subscription, once known.
    pub(super) operation_type: Option<OperationType>,
    /// The operation panicked.
    pub(super) panicked: bool,
}

/// Whether and how a successful GET query may be cached.
pub(super) struct Caching {
    /// `max-age` in seconds (0: not cached).
    pub(super) max_age: u64,
    /// The request sent credentials: only the client may cache the answer.
    pub(super) private: bool,
}

/// How one HTTP request to `/graphql` is answered.
pub(super) struct Reply {
    /// The media type negotiated.
    pub(super) media: Media,
    /// A GET (cacheable, varies by `Authorization` and `Accept`).
    pub(super) get: bool,
    /// When the request arrived (for the metrics of a refusal).
    pub(super) started: Instant,
}

impl Reply {
    /// A refusal before any operation ran.
    pub(super) fn refusal(&self, refusal: Refusal) -> HttpResponse {
        match refusal {
            Refusal::UnsupportedMediaType => self.refuse_raw(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ServerError::new("the body must be application/json", None),
                "UNSUPPORTED_MEDIA_TYPE",
            ),
            Refusal::TooLarge { max } => self.refuse_raw(
                StatusCode::PAYLOAD_TOO_LARGE,
                ServerError::new(format!("the body is over the limit of {max} bytes"), None),
                "PAYLOAD_TOO_LARGE",
            ),
            Refusal::BatchTooLarge { max } => self.refuse(
                StatusCode::BAD_REQUEST,
                AppError::QueryTooComplex {
                    message: format!("the batch is over the limit of {max} operations"),
                    limit: max,
                },
            ),
            Refusal::BadRequest(message) => self.bad_request(message),
        }
    }

    /// The answer to the operations of a request: a batch's bodies as one JSON array (200),
    /// else the one operation's body with the status its outcome calls for.
    pub(super) fn operations(
        &self,
        mut outcomes: Vec<Outcome>,
        batched: bool,
        caching: &Caching,
    ) -> HttpResponse {
        if batched {
            let mut body = Vec::with_capacity(outcomes.iter().map(|o| o.body.len() + 1).sum());
            body.push(b'[');
            for (i, outcome) in outcomes.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(&outcome.body);
            }
            body.push(b']');
            return self.respond(StatusCode::OK, body, None);
        }
        let Some(outcome) = outcomes.pop() else {
            return self.bad_request("no operation");
        };
        let status = if outcome.code == guard::METHOD_NOT_ALLOWED {
            StatusCode::METHOD_NOT_ALLOWED
        } else if outcome.code == code::BAD_REQUEST
            || (outcome.request_error && self.media == Media::GraphqlResponse)
        {
            StatusCode::BAD_REQUEST
        } else if outcome.panicked {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::OK
        };
        let cacheable = self.get
            && caching.max_age > 0
            && outcome.code == "OK"
            && outcome.operation_type == Some(OperationType::Query);
        let cache = cacheable.then(|| {
            let scope = if caching.private { "private" } else { "public" };
            format!("{scope}, max-age={}", caching.max_age)
        });
        let mut res = self.respond(status, outcome.body, cache.as_deref());
        if status == StatusCode::METHOD_NOT_ALLOWED {
            res.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        res
    }

    /// A refusal before any operation ran, as a GraphQL-shaped body with its own status.
    fn refuse(&self, status: StatusCode, err: AppError) -> HttpResponse {
        let code = err.code();
        self.refuse_raw(status, guard::from_app(err), code)
    }

    /// A refusal with its own error and code.
    fn refuse_raw(&self, status: StatusCode, err: ServerError, code: &str) -> HttpResponse {
        metrics::record("none", code, self.started.elapsed().as_secs_f64());
        let body = serde_json::to_vec(&json!({ "errors": [err] })).unwrap_or_default();
        self.respond(status, body, None)
    }

    /// A BAD_REQUEST refusal (400): the request is malformed.
    fn bad_request(&self, message: impl Into<String>) -> HttpResponse {
        let mut err = ServerError::new(message, None);
        let mut ext = ErrorExtensionValues::default();
        ext.set("code", code::BAD_REQUEST);
        err.extensions = Some(ext);
        self.refuse_raw(StatusCode::BAD_REQUEST, err, code::BAD_REQUEST)
    }

    /// The response with the headers every answer carries.
    fn respond(&self, status: StatusCode, body: Vec<u8>, cache: Option<&str>) -> HttpResponse {
        let mut res = (status, body).into_response();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.media.content_type()),
        );
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_str(cache.unwrap_or("no-store"))
                .unwrap_or(HeaderValue::from_static("no-store")),
        );
        if self.get {
            h.insert(
                header::VARY,
                HeaderValue::from_static("Authorization, Accept"),
            );
        }
        res
    }
}

/// 406: the client accepts neither JSON media type.
pub(super) fn not_acceptable() -> HttpResponse {
    (
        StatusCode::NOT_ACCEPTABLE,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "accept application/graphql-response+json or application/json",
    )
        .into_response()
}
