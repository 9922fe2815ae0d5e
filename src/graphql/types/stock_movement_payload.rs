//! `StockMovementPayload`: what `recordInbound` and `recordOutbound` return.

use async_graphql::SimpleObject;

use crate::graphql::types::{stock::Stock, transaction::InventoryTransaction};

/// The ledger row written and the stock row it left.
#[derive(SimpleObject)]
pub struct StockMovementPayload {
    /// The ledger row.
    pub transaction: InventoryTransaction,
    /// The stock of the pair right after the movement.
    pub new_stock: i32,
    /// The stock row (same ID as everywhere else).
    pub stock: Stock,
}
