//! The append-only ledger of stock changes.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::inventory_transactions;

/// A row of `inventory_transactions`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = inventory_transactions, check_for_backend(diesel::pg::Pg))]
pub struct InventoryTransaction {
    /// Primary key, increasing with time of insertion.
    pub id: i64,
    /// INBOUND, OUTBOUND, TRANSFER_IN, TRANSFER_OUT or ADJUSTMENT.
    #[diesel(column_name = type_)]
    pub kind: String,
    /// The product.
    pub product_id: i32,
    /// The store.
    pub store_id: i32,
    /// Who recorded it; `None` for imported history.
    pub user_id: Option<i32>,
    /// Signed change.
    pub quantity: i32,
    /// Stock of the pair right after it.
    pub quantity_after: i32,
    /// Free text.
    pub note: Option<String>,
    /// Shared by both legs of a transfer.
    pub reference: Option<String>,
    /// When recorded.
    pub created_at: DateTime<Utc>,
}

/// The ledger row with this id, if any.
pub async fn by_id(
    conn: &mut diesel_async::AsyncPgConnection,
    id: i64,
) -> crate::error::AppResult<Option<InventoryTransaction>> {
    Ok(diesel_async::RunQueryDsl::first(
        inventory_transactions::table
            .find(id)
            .select(InventoryTransaction::as_select()),
        conn,
    )
    .await
    .optional()?)
}
