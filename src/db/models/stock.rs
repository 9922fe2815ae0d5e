//! Stock rows: how many of a product one store holds, and its reorder point.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::stocks;

/// A row of `stocks`; its identity is the (product, store) pair.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = stocks, check_for_backend(diesel::pg::Pg))]
pub struct Stock {
    /// The product.
    pub product_id: i32,
    /// The store.
    pub store_id: i32,
    /// On hand, never negative.
    pub quantity: i32,
    /// At or below this the row is low on stock.
    pub reorder_point: i32,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
}

impl Stock {
    /// Whether the row is at or below its reorder point.
    pub fn is_low(&self) -> bool {
        self.quantity <= self.reorder_point
    }
}

/// The stock row of one (product, store) pair, if any.
pub async fn by_pair(
    conn: &mut diesel_async::AsyncPgConnection,
    product_id: i32,
    store_id: i32,
) -> crate::error::AppResult<Option<Stock>> {
    Ok(diesel_async::RunQueryDsl::first(
        stocks::table
            .find((product_id, store_id))
            .select(Stock::as_select()),
        conn,
    )
    .await
    .optional()?)
}
