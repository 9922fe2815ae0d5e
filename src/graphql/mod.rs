//! The GraphQL API: schema assembly, root objects, loaders, pagination, global IDs and one
//! file per GraphQL type under `types/`.
//!
//! Resolvers are thin: they parse arguments into domain values, check access, call a model
//! function (or a loader) and wrap the rows in wire types. They never build SQL.

pub mod fanout;
pub mod guard;
pub mod ids;
pub mod limits;
pub mod loaders;
pub mod mutation;
pub mod pagination;
pub mod prefetch;
pub mod query;
pub mod render;
pub mod schema;
pub mod subscription;
pub mod types;
pub mod wave;

use async_graphql::Context;

use crate::{
    db::{DbConn, DbPool, reads::ReadSource},
    error::AppResult,
};

/// A pooled connection of its own for a resolver that writes (SERVICE_UNAVAILABLE after the
/// pool's wait timeout).
pub async fn conn(ctx: &Context<'_>) -> AppResult<DbConn> {
    Ok(ctx.data_unchecked::<DbPool>().get().await?)
}

/// Where the current request reads (shared connections of the node chosen for it): use
/// with [`with_read!`](crate::with_read).
pub fn reads<'a>(ctx: &Context<'a>) -> &'a ReadSource {
    ctx.data_unchecked::<ReadSource>()
}

/// The loaders of the current request.
pub fn loaders<'a>(ctx: &Context<'a>) -> &'a loaders::Loaders {
    ctx.data_unchecked::<loaders::Loaders>()
}
