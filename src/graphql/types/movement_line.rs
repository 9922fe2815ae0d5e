//! `MovementLine`: one line of `recordMovements`.

use async_graphql::{ID, InputObject};

use crate::graphql::types::movement_direction::MovementDirection;

/// One inbound or outbound line of a batch.
#[derive(Debug, Clone, InputObject, serde::Serialize)]
pub struct MovementLine {
    /// In or out.
    pub direction: MovementDirection,
    /// The product moved.
    pub product_id: ID,
    /// The store.
    pub store_id: ID,
    /// Strictly positive.
    pub quantity: i32,
    /// Free text for the ledger row.
    pub note: Option<String>,
}
