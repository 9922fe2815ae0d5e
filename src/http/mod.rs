//! HTTP routes: GraphQL, GraphiQL, health, and the SDL.

pub mod graphiql;
pub mod graphql;
pub mod health;
pub mod ws;

use axum::{Router, routing::get};

use crate::app::AppState;

/// The service's router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/graphql/ws", get(ws::upgrade))
        .route("/graphiql", get(graphiql::page))
        .route("/graphiql/assets/{file}", get(graphiql::asset))
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .route("/schema.graphql", get(graphql::sdl))
        .with_state(state)
}
