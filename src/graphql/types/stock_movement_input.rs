//! `StockMovementInput`: the argument of `recordInbound` and `recordOutbound`.

use async_graphql::{ID, InputObject};

/// One inbound or outbound movement.
#[derive(Debug, Clone, InputObject, serde::Serialize)]
pub struct StockMovementInput {
    /// The product moved.
    pub product_id: ID,
    /// The store it moves in or out of.
    pub store_id: ID,
    /// Strictly positive; the direction comes from the mutation.
    pub quantity: i32,
    /// Free text for the ledger row.
    pub note: Option<String>,
    /// Same key + same input from the same user = the first result again, no second movement.
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}
