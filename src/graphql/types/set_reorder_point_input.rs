//! `SetReorderPointInput`: the argument of `setReorderPoint`.

use async_graphql::{ID, InputObject};

/// The threshold at or below which a stock row is low.
#[derive(Debug, Clone, InputObject)]
pub struct SetReorderPointInput {
    /// The product.
    pub product_id: ID,
    /// The store.
    pub store_id: ID,
    /// Not negative.
    pub reorder_point: i32,
}
