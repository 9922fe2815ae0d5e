//! `RecordMovementsPayload`: the ledger rows of a batch.

use async_graphql::SimpleObject;

use crate::graphql::types::transaction::InventoryTransaction;

/// All lines are applied, or none.
#[derive(SimpleObject)]
pub struct RecordMovementsPayload {
    /// One ledger row per line, in line order.
    pub transactions: Vec<InventoryTransaction>,
}
