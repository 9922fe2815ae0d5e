//! `TransferStockInput`: the argument of `transferStock`.

use async_graphql::{ID, InputObject};

/// Moves stock of one product from one store to another.
#[derive(Debug, Clone, InputObject, serde::Serialize)]
pub struct TransferStockInput {
    /// The product moved.
    pub product_id: ID,
    /// Where it leaves.
    pub from_store_id: ID,
    /// Where it arrives (another store).
    pub to_store_id: ID,
    /// Strictly positive.
    pub quantity: i32,
    /// Free text, written on both legs.
    pub note: Option<String>,
    /// Same key + same input from the same user = the first result again.
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}
