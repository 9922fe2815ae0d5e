//! Assembles the schema: roots, limits, and the data every request shares.

use async_graphql::{EmptyMutation, Schema};

use crate::{
    config::Limits,
    db::DbPool,
    graphql::{query::Query, subscription::Subscription},
    live::LiveHub,
};

/// The stockroom schema.
pub type StockroomSchema = Schema<Query, EmptyMutation, Subscription>;

/// Builds the schema that serves requests against `pool`.
pub fn build(pool: DbPool, limits: &Limits) -> StockroomSchema {
    Schema::build(Query, EmptyMutation, Subscription)
        .data(LiveHub::new(pool.clone()))
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .data(pool)
        .finish()
}

/// The SDL of the schema (what `stockroom schema` prints and `schema.graphql` holds).
pub fn sdl() -> String {
    Schema::build(Query, EmptyMutation, Subscription)
        .finish()
        .sdl()
}
