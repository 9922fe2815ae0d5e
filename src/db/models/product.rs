//! Products of the catalogue.

use bigdecimal::BigDecimal;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::{db::schema::products, error::AppResult};

/// A row of `products`.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = products, check_for_backend(diesel::pg::Pg))]
pub struct Product {
    /// Primary key.
    pub id: i32,
    /// Stock-keeping unit, unique.
    pub sku: String,
    /// Display name.
    pub name: String,
    /// Free text, possibly empty.
    pub description: String,
    /// Unit price, two decimals.
    pub price: BigDecimal,
    /// The category it belongs to.
    pub category_id: i32,
    /// Archived products keep stock and history but leave default listings.
    pub archived: bool,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
}

/// The products with these ids (unknown ids are skipped).
pub async fn by_ids(conn: &mut AsyncPgConnection, ids: &[i32]) -> AppResult<Vec<Product>> {
    Ok(products::table
        .filter(products::id.eq_any(ids))
        .select(Product::as_select())
        .load(conn)
        .await?)
}

/// The product with this SKU, if any.
pub async fn by_sku(conn: &mut AsyncPgConnection, sku: &str) -> AppResult<Option<Product>> {
    Ok(products::table
        .filter(products::sku.eq(sku))
        .select(Product::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Up to `limit` non-archived products after SKU `after`, in SKU order.
pub async fn page_by_sku(
    conn: &mut AsyncPgConnection,
    after: Option<&str>,
    limit: i64,
) -> AppResult<Vec<Product>> {
    let mut query = products::table
        .filter(products::archived.eq(false))
        .select(Product::as_select())
        .order(products::sku.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(products::sku.gt(after.to_string()));
    }
    Ok(query.load(conn).await?)
}

/// How many non-archived products there are.
pub async fn count_active(conn: &mut AsyncPgConnection) -> AppResult<i64> {
    Ok(products::table
        .filter(products::archived.eq(false))
        .count()
        .get_result(conn)
        .await?)
}
