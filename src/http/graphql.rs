//! `/graphql` over HTTP, as the GraphQL-over-HTTP spec has it: the request checks that need no
//! document (method, media types, body size, body shape, batch size), the caller's token,
//! each operation run by the path it shares with the WebSocket (`operation.rs`: timeout,
//! panic guard, error codes, request id, metrics), the status and media type the client
//! asked for, and caching headers for GET.

use std::{collections::HashMap, time::Instant};

use async_graphql::{
    ErrorExtensionValues, Request, ServerError, Value as ConstValue, Variables,
    parser::types::OperationType,
};
use axum::{
    body::Body,
    extract::{FromRequestParts, Query, State, ws::WebSocketUpgrade},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response as HttpResponse},
};
use serde_json::{Map, Value as Json, json};

use crate::{
    app::AppState,
    auth::{Credentials, RequestCredentials},
    db::reads::Lsn,
    error::{AppError, code},
    graphql::guard::{self, Arrival, Caller},
    http::{graphiql, metrics, operation, request_id, ws},
    telemetry,
};

/// The response media type of the GraphQL-over-HTTP spec.
const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
/// The classic response media type.
const APPLICATION_JSON: &str = "application/json";
/// How the client wants the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Media {
    /// `application/graphql-response+json`: request errors get 400.
    GraphqlResponse,
    /// `application/json`: request errors get 200.
    Json,
}

impl Media {
    fn content_type(self) -> &'static str {
        match self {
            Self::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        }
    }
}

/// The media type to answer with, from `Accept`; `None` when the client accepts neither.
fn negotiate(headers: &HeaderMap) -> Option<Media> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(Media::Json);
    };
    let ranges: Vec<(String, bool)> = accept
        .split(',')
        .map(|range| {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let refused = parts.any(|p| {
                let p = p.trim().replace(' ', "");
                p == "q=0" || p == "q=0.0" || p == "q=0.00" || p == "q=0.000"
            });
            (media, !refused)
        })
        .collect();
    let accepts = |m: &str| ranges.iter().any(|(media, ok)| *ok && media == m);
    if accepts(GRAPHQL_RESPONSE_JSON) {
        Some(Media::GraphqlResponse)
    } else if accepts(APPLICATION_JSON)
        || accepts("application/*")
        || accepts("*/*")
        || accept.trim().is_empty()
    {
        Some(Media::Json)
    } else {
        None
    }
}

/// The consistency token a client sent back (`stockroom-consistency`: a mutation response's
/// `extensions.consistency`); a malformed one is ignored.
fn consistency(headers: &HeaderMap) -> Option<Lsn> {
    headers
        .get(CONSISTENCY_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(Lsn::parse)
}

/// The request header that carries a consistency token.
pub const CONSISTENCY_HEADER: &str = "stockroom-consistency";

/// What one HTTP request to `/graphql` is about, before anything runs.
struct Call<'a> {
    state: &'a AppState,
    headers: &'a HeaderMap,
    media: Media,
    request_id: String,
    get: bool,
    started: Instant,
}

impl Call<'_> {
    /// A refusal before any operation ran, as a GraphQL-shaped body with its own status.
    fn refuse(&self, status: StatusCode, err: AppError) -> HttpResponse {
        let code = err.code();
        self.refuse_raw(status, guard::from_app(err), code)
    }

    fn refuse_raw(&self, status: StatusCode, err: ServerError, code: &str) -> HttpResponse {
        metrics::record("none", code, self.started.elapsed().as_secs_f64());
        let body = serde_json::to_vec(&json!({ "errors": [err] })).unwrap_or_default();
        self.respond(status, body, None)
    }

    fn bad_request(&self, message: impl Into<String>) -> HttpResponse {
        let mut err = ServerError::new(message, None);
        let mut ext = ErrorExtensionValues::default();
        ext.set("code", code::BAD_REQUEST);
        err.extensions = Some(ext);
        self.refuse_raw(StatusCode::BAD_REQUEST, err, code::BAD_REQUEST)
    }

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

/// `POST /graphql`.
pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Body) -> HttpResponse {
    let Some(media) = negotiate(&headers) else {
        return not_acceptable();
    };
    let call = Call {
        state: &state,
        headers: &headers,
        media,
        request_id: request_id::of(&headers),
        get: false,
        started: Instant::now(),
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let mut params = content_type.split(';').map(str::trim);
    let json_body = params.next() == Some(APPLICATION_JSON)
        && params.all(|p| {
            p.strip_prefix("charset=")
                .is_none_or(|c| c.trim_matches('"').eq_ignore_ascii_case("utf-8"))
        });
    if !json_body {
        return call.refuse_raw(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ServerError::new("the body must be application/json", None),
            "UNSUPPORTED_MEDIA_TYPE",
        );
    }
    let max = state.settings.limits.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let bytes = match declared {
        Some(len) if len > max => None,
        _ => axum::body::to_bytes(body, max).await.ok(),
    };
    let Some(bytes) = bytes else {
        return call.refuse_raw(
            StatusCode::PAYLOAD_TOO_LARGE,
            ServerError::new(format!("the body is over the limit of {max} bytes"), None),
            "PAYLOAD_TOO_LARGE",
        );
    };
    let json: Json = match serde_json::from_slice(&bytes) {
        Ok(json) => json,
        Err(_) => return call.bad_request("the body is not valid JSON"),
    };
    let (items, batched) = match json {
        Json::Array(items) => (items, true),
        other => (vec![other], false),
    };
    if batched && items.is_empty() {
        return call.bad_request("an empty batch");
    }
    let max_batch = state.settings.limits.max_batch;
    if items.len() > max_batch {
        return call.refuse(
            StatusCode::BAD_REQUEST,
            AppError::QueryTooComplex {
                message: format!("the batch is over the limit of {max_batch} operations"),
                limit: max_batch,
            },
        );
    }
    let mut requests = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        match request_from_json(item, false) {
            Ok(req) => requests.push(req),
            Err(msg) if batched => return call.bad_request(format!("operation {i}: {msg}")),
            Err(msg) => return call.bad_request(msg),
        }
    }
    call.run(requests, batched).await
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

async fn get_query(state: &AppState, parts: &Parts) -> HttpResponse {
    let headers = &parts.headers;
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_html {
        return graphiql::page_response(headers);
    }
    let Some(media) = negotiate(headers) else {
        return not_acceptable();
    };
    let call = Call {
        state,
        headers,
        media,
        request_id: request_id::of(headers),
        get: true,
        started: Instant::now(),
    };
    let Ok(Query(params)) = Query::<HashMap<String, String>>::try_from_uri(&parts.uri) else {
        return call.bad_request("the query string is malformed");
    };
    let mut object = Map::new();
    if let Some(query) = params.get("query") {
        object.insert("query".into(), Json::String(query.clone()));
    }
    if let Some(name) = params.get("operationName").filter(|n| !n.is_empty()) {
        object.insert("operationName".into(), Json::String(name.clone()));
    }
    for key in ["variables", "extensions"] {
        if let Some(raw) = params.get(key).filter(|v| !v.is_empty()) {
            match serde_json::from_str::<Json>(raw) {
                Ok(value) => {
                    object.insert(key.into(), value);
                }
                Err(_) => return call.bad_request(format!("`{key}` is not valid JSON")),
            }
        }
    }
    match request_from_json(Json::Object(object), true) {
        Ok(req) => call.run(vec![req], false).await,
        Err(msg) => call.bad_request(msg),
    }
}

fn not_acceptable() -> HttpResponse {
    (
        StatusCode::NOT_ACCEPTABLE,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "accept application/graphql-response+json or application/json",
    )
        .into_response()
}

/// A GraphQL request from its JSON object; the error says what is wrong with its shape.
fn request_from_json(item: Json, get: bool) -> Result<Request, String> {
    let Json::Object(mut object) = item else {
        return Err("the request must be a JSON object".into());
    };
    let extensions = match object.remove("extensions") {
        None | Some(Json::Null) => Map::new(),
        Some(Json::Object(map)) => map,
        Some(_) => return Err("`extensions` must be an object".into()),
    };
    let persisted = extensions.contains_key("persistedQuery");
    let query = match object.remove("query") {
        Some(Json::String(query)) => query,
        None | Some(Json::Null) if persisted => String::new(),
        None | Some(Json::Null) => return Err("the request has no `query`".into()),
        Some(_) => return Err("`query` must be a string".into()),
    };
    let operation_name = match object.remove("operationName") {
        None | Some(Json::Null) => None,
        Some(Json::String(name)) => Some(name),
        Some(_) => return Err("`operationName` must be a string".into()),
    };
    let variables = match object.remove("variables") {
        None | Some(Json::Null) => Variables::default(),
        Some(value @ Json::Object(_)) => Variables::from_json(value),
        Some(_) if get => return Err("`variables` must be a JSON object".into()),
        Some(_) => return Err("`variables` must be an object".into()),
    };
    let mut request = Request::new(query).variables(variables);
    if let Some(name) = operation_name {
        request = request.operation_name(name);
    }
    for (key, value) in extensions {
        request.extensions.insert(
            key,
            ConstValue::from_json(value).unwrap_or(ConstValue::Null),
        );
    }
    Ok(request)
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
        let max_age = self.state.settings.limits.get_max_age_seconds;
        let cacheable = self.get
            && max_age > 0
            && outcome.code == "OK"
            && outcome.operation_type == Some(OperationType::Query);
        let cache = cacheable.then(|| {
            let scope = if credentials.sent() {
                "private"
            } else {
                "public"
            };
            format!("{scope}, max-age={max_age}")
        });
        let mut res = self.respond(status, outcome.body, cache.as_deref());
        if status == StatusCode::METHOD_NOT_ALLOWED {
            res.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        res
    }

    /// Runs one operation (see `operation.rs`) and shapes its body.
    async fn execute(&self, request: Request, credentials: &RequestCredentials) -> Outcome {
        let arrival = Arrival {
            caller: Caller::Http(credentials),
            get: self.get,
            consistency: consistency(self.headers),
        };
        // `Span::none()` unless traces are exported.
        let span = telemetry::operation_span(self.headers);
        let finished =
            operation::run_once(self.state, request, arrival, &self.request_id, span).await;
        // Straight to bytes: no intermediate `serde_json::Value` of the whole result.
        let body = serde_json::to_vec(&finished.body()).unwrap_or_default();
        Outcome {
            body,
            code: finished.code,
            request_error: finished.request_error,
            operation_type: finished.operation_type,
            panicked: finished.panicked,
        }
    }
}

/// One operation's result.
struct Outcome {
    /// Its JSON body.
    body: Vec<u8>,
    /// The first error's code, or `OK`.
    code: String,
    /// Stopped before execution (parse, validation, limits).
    request_error: bool,
    operation_type: Option<OperationType>,
    panicked: bool,
}

/// `GET /schema.graphql`: the SDL.
pub async fn sdl(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        state.gate.schema().sdl(),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers_choose_the_response_media_type() {
        let with = |accept: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT, HeaderValue::from_str(accept).unwrap());
            negotiate(&h)
        };
        assert_eq!(negotiate(&HeaderMap::new()), Some(Media::Json));
        assert_eq!(with("*/*"), Some(Media::Json));
        assert_eq!(
            with("application/graphql-response+json, application/json;q=0.9"),
            Some(Media::GraphqlResponse)
        );
        assert_eq!(
            with("application/graphql-response+json;q=0, application/json"),
            Some(Media::Json)
        );
        assert_eq!(with("text/csv"), None);
    }
}
