//! Request decoding for `/graphql`: a POST's JSON body (one operation or a batch) or a GET's
//! query string becomes async-graphql requests, within the body and batch limits; anything
//! malformed becomes a [`Refusal`] that says what is wrong, before any operation runs.

use std::collections::HashMap;

use async_graphql::{Request, Value as ConstValue, Variables};
use axum::{
    body::Body,
    extract::Query,
    http::{HeaderMap, Uri, header},
};
use serde_json::{Map, Value as Json};

use super::negotiation;
use crate::{config::Limits, db::reads::Lsn};

/// The request header that carries a consistency token.
pub const CONSISTENCY_HEADER: &str = "stockroom-consistency";

/// Why a request is refused before any operation runs.
#[derive(Debug)]
pub(super) enum Refusal {
    /// The POST body is not `application/json` (415).
    UnsupportedMediaType,
    /// The body is over `max` bytes (413).
    TooLarge {
        /// The body limit.
        max: usize,
    },
    /// The batch holds more than `max` operations (QUERY_TOO_COMPLEX).
    BatchTooLarge {
        /// The batch limit.
        max: usize,
    },
    /// The body or query string is malformed (BAD_REQUEST); the message says how.
    BadRequest(String),
}

/// The operations of one HTTP request.
pub(super) struct Decoded {
    /// The requests, in the client's order.
    pub(super) requests: Vec<Request>,
    /// Whether they came as a JSON array (answered with an array).
    pub(super) batched: bool,
}

/// The operations of a `POST /graphql`: its JSON body, one request object or a batch.
pub(super) async fn post(
    headers: &HeaderMap,
    body: Body,
    limits: &Limits,
) -> Result<Decoded, Refusal> {
    if !negotiation::json_body(headers) {
        return Err(Refusal::UnsupportedMediaType);
    }
    let max = limits.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let bytes = match declared {
        Some(len) if len > max => None,
        _ => axum::body::to_bytes(body, max).await.ok(),
    };
    let bytes = bytes.ok_or(Refusal::TooLarge { max })?;
    let json: Json = serde_json::from_slice(&bytes)
        .map_err(|_| Refusal::BadRequest("the body is not valid JSON".into()))?;
    let (items, batched) = match json {
        Json::Array(items) => (items, true),
        other => (vec![other], false),
    };
    if batched && items.is_empty() {
        return Err(Refusal::BadRequest("an empty batch".into()));
    }
    if items.len() > limits.max_batch {
        return Err(Refusal::BatchTooLarge {
            max: limits.max_batch,
        });
    }
    let mut requests = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        match request_from_json(item, false) {
            Ok(req) => requests.push(req),
            Err(msg) if batched => {
                return Err(Refusal::BadRequest(format!("operation {i}: {msg}")));
            }
            Err(msg) => return Err(Refusal::BadRequest(msg)),
        }
    }
    Ok(Decoded { requests, batched })
}

/// The operation of a `GET /graphql` from its query string (`query`, `operationName`, and
/// `variables` and `extensions` as JSON).
pub(super) fn get(uri: &Uri) -> Result<Request, Refusal> {
    let bad = |message: String| Refusal::BadRequest(message);
    let Ok(Query(params)) = Query::<HashMap<String, String>>::try_from_uri(uri) else {
        return Err(bad("the query string is malformed".into()));
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
            let value = serde_json::from_str::<Json>(raw)
                .map_err(|_| bad(format!("`{key}` is not valid JSON")))?;
            object.insert(key.into(), value);
        }
    }
    request_from_json(Json::Object(object), true).map_err(bad)
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

/// The consistency token a client sent back (`stockroom-consistency`: a mutation response's
/// `extensions.consistency`); a malformed one is ignored.
pub(super) fn consistency(headers: &HeaderMap) -> Option<Lsn> {
    headers
        .get(CONSISTENCY_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(Lsn::parse)
}
