//! HTTP routes: GraphQL, GraphiQL, the console, health, metrics and the SDL; CORS, the
//! panic guard, and request ids with the access log (`request_id.rs`) around all of them.

pub mod bundled;
pub mod console;
pub mod deadline;
pub mod graphiql;
pub mod graphql;
pub mod health;
pub mod metrics;
pub mod operation;
pub mod request_id;
pub mod ws;

use axum::{
    Router,
    http::{HeaderValue, Method, header},
    routing::get,
};
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::{AllowOrigin, CorsLayer},
};

use crate::app::AppState;

/// The service's router.
pub fn router(state: AppState) -> Router {
    let cors = cors(
        &state.settings.cors_origins,
        state.settings.cors_max_age_seconds,
    );
    let read_timeout = state.settings.connections.read_timeout();
    let router = Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/graphql/ws", get(ws::upgrade))
        .route("/graphiql", get(graphiql::page))
        .route("/graphiql/assets/{file}", get(graphiql::asset))
        .route("/console", get(console::page))
        .route("/console/assets/{file}", get(console::asset))
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .route("/metrics", get(metrics::render))
        .route("/schema.graphql", get(graphql::sdl))
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            read_timeout,
            deadline::read_body_within,
        ))
        // A panic anywhere answers 500 and leaves the server running.
        .layer(CatchPanicLayer::new());
    let router = match cors {
        Some(cors) => router.layer(cors),
        None => router,
    };
    // Around CORS too, so a preflight is logged and carries an id.
    request_id::layer(router)
}

/// CORS for the configured origins (`*` = any); none configured = no CORS headers at all.
fn cors(origins: &[String], max_age_seconds: u64) -> Option<CorsLayer> {
    let origins: Vec<&str> = origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .collect();
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.contains(&"*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect::<Vec<_>>(),
        )
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                header::HeaderName::from_static(graphql::CONSISTENCY_HEADER),
            ])
            .expose_headers([header::HeaderName::from_static(request_id::HEADER)])
            .max_age(std::time::Duration::from_secs(max_age_seconds)),
    )
}
