//! `AdjustStockInput`: the argument of `adjustStock` (a stocktake).

use async_graphql::{ID, InputObject};

/// A counted quantity for one (product, store).
#[derive(Debug, Clone, InputObject, serde::Serialize)]
pub struct AdjustStockInput {
    /// The product counted.
    pub product_id: ID,
    /// The store where it was counted.
    pub store_id: ID,
    /// The counted quantity (stocktake); the ledger records the difference.
    pub counted_quantity: i32,
    /// Why; becomes the ledger row's note.
    pub reason: String,
    /// Same key + same input from the same user = the first result again.
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}
