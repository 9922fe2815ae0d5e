//! Assembles the schema: roots, limits, and the data every request shares (the pool, the
//! live hub, the fan-out numbers the limits weigh lists with, refreshed in the background).

use std::time::Duration;

use async_graphql::Schema;

use crate::{
    config::ServeSettings,
    db::{DbPool, models::idempotency},
    graphql::{
        fanout::Fanout,
        guard::Guard,
        limits::SchemaShape,
        mutation::{KeyRetention, Mutation},
        query::Query,
        subscription::Subscription,
    },
    live::LiveHub,
};

/// The stockroom schema.
pub type StockroomSchema = Schema<Query, Mutation, Subscription>;

/// Builds the schema that serves requests against `pool`.
pub fn build(pool: DbPool, settings: &ServeSettings) -> StockroomSchema {
    let limits = &settings.limits;
    let fanout = Fanout::unknown();
    fanout.spawn_refresh(
        pool.clone(),
        Duration::from_millis(limits.stats_refresh_ms.max(1)),
    );
    let shape = SchemaShape::from_sdl(&sdl()).with_fanout(fanout.clone());
    let builder = Schema::build(Query, Mutation, Subscription)
        .data(LiveHub::new(pool.clone()))
        // Limits, access rule and error codes before execution (see graphql/guard.rs);
        // async-graphql's own depth and complexity checks stay as a backstop.
        .extension(Guard::new(shape, limits, settings.public_read))
        .data(fanout)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .data(KeyRetention(idempotency::retention_of_hours(
            limits.idempotency_retention_hours,
        )))
        .data(pool);
    let builder = if settings.dev_mode {
        builder
    } else {
        builder.disable_suggestions()
    };
    builder.finish()
}

/// The SDL of the schema (what `stockroom schema` prints and `schema.graphql` holds).
pub fn sdl() -> String {
    Schema::build(Query, Mutation, Subscription).finish().sdl()
}
