//! `TransferStockPayload`: both legs of a transfer and both stock rows.

use async_graphql::SimpleObject;

use crate::graphql::types::{stock::Stock, transaction::InventoryTransaction};

/// The two ledger rows (sharing one reference) and the two stock rows.
#[derive(SimpleObject)]
pub struct TransferStockPayload {
    /// The TRANSFER_OUT leg.
    pub outbound: InventoryTransaction,
    /// The TRANSFER_IN leg.
    pub inbound: InventoryTransaction,
    /// The source store's row after the transfer.
    pub from_stock: Stock,
    /// The destination store's row after the transfer.
    pub to_stock: Stock,
}
