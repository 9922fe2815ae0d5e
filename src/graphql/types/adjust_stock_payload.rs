//! `AdjustStockPayload`: the result of a stocktake.

use async_graphql::SimpleObject;

use crate::graphql::types::{stock::Stock, transaction::InventoryTransaction};

/// Null transaction when the count already matched.
#[derive(SimpleObject)]
pub struct AdjustStockPayload {
    /// The ADJUSTMENT row, or null when nothing changed.
    pub transaction: Option<InventoryTransaction>,
    /// The stock after the adjustment (the counted quantity).
    pub new_stock: i32,
    /// The stock row.
    pub stock: Stock,
}
