//! `StockChange`: what `stockChanged` delivers.

use async_graphql::SimpleObject;

use crate::graphql::types::{stock::Stock, transaction::InventoryTransaction};

/// A committed change of a stock row, with the ledger row that made it (null when none was
/// written, e.g. a new reorder point).
#[derive(SimpleObject)]
pub struct StockChange {
    /// The stock row as it stands after the change.
    pub stock: Stock,
    /// The ledger row of the change, if one was written.
    pub transaction: Option<InventoryTransaction>,
}
