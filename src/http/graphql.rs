//! `/graphql` over HTTP: authenticates the caller, gives each operation its own loaders and
//! runs it on the schema.

use async_graphql::{BatchRequest, BatchResponse, ServerError};
use async_graphql_axum::{GraphQLBatchRequest, GraphQLResponse, rejection::GraphQLRejection};
use axum::{
    extract::State,
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};

use crate::{
    app::AppState,
    auth::{self, Viewer},
    error::AppError,
    graphql::loaders,
    http::graphiql,
};

/// `POST /graphql`.
pub async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    req: GraphQLBatchRequest,
) -> Response {
    execute(&state, &headers, req.into_inner()).await
}

/// `GET /graphql`: GraphiQL for a browser, else a query from the URL.
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    req: Result<GraphQLBatchRequest, GraphQLRejection>,
) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    match req {
        Ok(req) if !wants_html => execute(&state, &headers, req.into_inner()).await,
        _ => graphiql::page_response(),
    }
}

/// `GET /schema.graphql`: the SDL.
pub async fn sdl(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        state.schema.sdl(),
    )
}

async fn execute(state: &AppState, headers: &HeaderMap, batch: BatchRequest) -> Response {
    let viewer = match viewer(state, headers).await {
        Ok(viewer) => viewer,
        Err(err) => return error_response(err),
    };
    let attach = |req: async_graphql::Request| {
        req.data(viewer.clone())
            .data(loaders::for_request(state.pool.clone()))
    };
    let batch = match batch {
        BatchRequest::Single(req) => BatchRequest::Single(attach(req)),
        BatchRequest::Batch(reqs) => BatchRequest::Batch(reqs.into_iter().map(attach).collect()),
    };
    GraphQLResponse::from(state.schema.execute_batch(batch).await).into_response()
}

async fn viewer(state: &AppState, headers: &HeaderMap) -> Result<Viewer, AppError> {
    let header = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or_default());
    let Some(header) = header else {
        return Ok(Viewer::default());
    };
    let mut conn = state.pool.get().await?;
    auth::authenticate(&mut conn, Some(header)).await
}

fn error_response(err: AppError) -> Response {
    let err: async_graphql::Error = err.into();
    let response = async_graphql::Response::from_errors(vec![ServerError {
        message: err.message,
        source: None,
        locations: Vec::new(),
        path: Vec::new(),
        extensions: err.extensions,
    }]);
    GraphQLResponse::from(BatchResponse::Single(response)).into_response()
}
