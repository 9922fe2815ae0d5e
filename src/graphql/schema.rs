//! Assembles the schema: roots, limits, and the data every request shares.

use async_graphql::{EmptyMutation, EmptySubscription, Schema};

use crate::{config::Limits, db::DbPool, graphql::query::Query};

/// The stockroom schema.
pub type StockroomSchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// Builds the schema that serves requests against `pool`.
pub fn build(pool: DbPool, limits: &Limits) -> StockroomSchema {
    Schema::build(Query, EmptyMutation, EmptySubscription)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .data(pool)
        .finish()
}

/// The SDL of the schema (what `stockroom schema` prints and `schema.graphql` holds).
pub fn sdl() -> String {
    Schema::build(Query, EmptyMutation, EmptySubscription)
        .finish()
        .sdl()
}
