//! Assembles the schema: roots, limits, and the data every request shares (the pool, the
//! live hub, the fan-out numbers the limits weigh lists with, refreshed in the background).

use std::time::Duration;

use async_graphql::{Schema, ValidationMode};

use crate::{
    config::ServeSettings,
    db::{DbPool, models::idempotency, reads::Reads},
    graphql::{
        fanout::Fanout,
        guard::{Gate, Schemas},
        limits::SchemaShape,
        mutation::{KeyRetention, Mutation},
        query::Query,
        render::RenderPages,
        subscription::Subscription,
    },
    live::LiveHub,
};

/// The stockroom schema.
pub type StockroomSchema = Schema<Query, Mutation, Subscription>;

/// Builds the gate and the schema behind it that serve requests against `pool` (writes) and
/// `reads`: limits, access rule and error codes are checked before execution (see
/// graphql/guard.rs).
pub fn build(pool: DbPool, reads: Reads, settings: &ServeSettings) -> Gate {
    let limits = &settings.limits;
    let fanout = Fanout::unknown();
    fanout.spawn_refresh(
        pool.clone(),
        Duration::from_millis(limits.stats_refresh_ms.max(1)),
    );
    let shape =
        SchemaShape::from_sdl(&sdl()).with_fanout(fanout.clone(), limits.fanout_first_read_wait());
    let live = LiveHub::new(pool.clone());
    let schemas = Schemas {
        strict: builder(pool.clone(), live.clone(), fanout.clone(), settings).finish(),
        trusting: builder(pool.clone(), live.clone(), fanout.clone(), settings)
            .validation_mode(ValidationMode::Fast)
            .finish(),
        refusing: builder(pool.clone(), live, fanout, settings)
            .extension(Gate::refuser())
            .finish(),
    };
    Gate::new(schemas, pool, reads, shape, limits, settings.public_read)
}

/// The schema's builder: roots and shared data; async-graphql's own depth and complexity
/// checks stay as a backstop behind the gate's.
fn builder(
    pool: DbPool,
    live: LiveHub,
    fanout: Fanout,
    settings: &ServeSettings,
) -> async_graphql::SchemaBuilder<Query, Mutation, Subscription> {
    let limits = &settings.limits;
    let builder = Schema::build(Query, Mutation::default(), Subscription)
        .data(live)
        .data(fanout)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .data(KeyRetention(idempotency::retention_of_hours(
            limits.idempotency_retention_hours,
        )))
        .data(settings.movements.clone())
        .data(RenderPages(settings.render_pages))
        .data(pool);
    if settings.dev_mode {
        builder
    } else {
        builder.disable_suggestions()
    }
}

/// The SDL of the schema (what `stockroom schema` prints and `schema.graphql` holds).
pub fn sdl() -> String {
    Schema::build(Query, Mutation::default(), Subscription)
        .finish()
        .sdl()
}
