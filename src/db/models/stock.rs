//! Stock rows: how many of a product one store holds, and its reorder point.

use chrono::{DateTime, Utc};
use diesel::{
    prelude::*,
    sql_types::{Integer, Timestamptz},
};

use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::{
    db::{
        models::{
            page::{
                Bind, CountRow, KeyTotal, Keyset, SqlBuilder, dir, keyset_range, sku_page_tail,
            },
            product,
            reference::Tables,
            row_time::RowTime,
        },
        schema::stocks,
    },
    error::AppResult,
};

/// A row of `stocks`; its identity is the (product, store) pair.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
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
    pub updated_at: RowTime,
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

/// Which stock rows of a store a listing shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct StockFilter {
    /// Only rows with quantity <= reorder point.
    pub low_stock: Option<bool>,
    /// Only products of this category.
    pub category_id: Option<i32>,
}

const STOCK_COLUMNS: &str =
    "st.product_id, st.store_id, st.quantity, st.reorder_point, st.updated_at";

/// The SQL types of [`STOCK_COLUMNS`], in order (what [`Stock`] is read from by position).
type StockSql = (Integer, Integer, Integer, Integer, Timestamptz);

fn stock_filter_sql(sql: &mut SqlBuilder, filter: &StockFilter) {
    match filter.low_stock {
        Some(true) => {
            sql.push(" AND st.quantity <= st.reorder_point");
        }
        Some(false) => {
            sql.push(" AND st.quantity > st.reorder_point");
        }
        None => {}
    }
    if let Some(category_id) = filter.category_id {
        sql.push(" AND p.category_id = ")
            .bind(Bind::Int(category_id));
    }
}

/// A stock row with its product, read in the same statement (the product's SKU is the row's
/// sort key in a store's listing), by position: [`STOCK_COLUMNS`], then the product's.
#[derive(Debug, Clone, Queryable)]
pub struct SkuStock {
    /// The row.
    pub stock: Stock,
    /// Its product.
    pub product: product::Product,
}

/// Which stores [`pages_by_store`] reads pages of.
#[derive(Debug, Clone, Copy)]
pub enum Stores<'a> {
    /// These stores (a loader wave's).
    Ids(&'a [i32]),
    /// The store with this code, found inside the statement, so that its page can be sent
    /// along with the store's own lookup.
    Code(&'a str),
}

/// One keyset page (product-SKU order) of stock rows per store with their products, in one
/// query; rows come in each page's read direction.
pub async fn pages_by_store(
    mut conn: &AsyncPgConnection,
    stores: Stores<'_>,
    filter: &StockFilter,
    ks: &Keyset<String>,
) -> AppResult<Vec<SkuStock>> {
    let mut sql = SqlBuilder::new("SELECT x.* FROM ");
    match stores {
        Stores::Ids(ids) => sql
            .push("unnest(")
            .bind(Bind::Ints(ids.to_vec()))
            .push("::int[]) AS k(store_id)"),
        Stores::Code(code) => sql
            .push("(SELECT id AS store_id FROM stores WHERE code = ")
            .bind(Bind::Text(code.to_string()))
            .push(") AS k"),
    };
    sql.push(&format!(
        " CROSS JOIN LATERAL (SELECT {STOCK_COLUMNS}, {} \
         FROM stocks st JOIN products p ON p.id = st.product_id WHERE st.store_id = k.store_id",
        product::PRODUCT_COLUMNS
    ));
    stock_filter_sql(&mut sql, filter);
    sku_page_tail(&mut sql, ks);
    // By position: the row's and the product's columns share names (`updated_at`).
    Ok(sql
        .build_as::<(StockSql, product::ProductSql)>()
        .load(&mut conn)
        .await?)
}

/// How many stock rows of each store match `filter`.
pub async fn counts_by_store(
    mut conn: &AsyncPgConnection,
    store_ids: &[i32],
    filter: &StockFilter,
) -> AppResult<Vec<KeyTotal>> {
    let mut sql = SqlBuilder::new(
        "SELECT st.store_id AS key, count(*) AS total FROM stocks st \
         JOIN products p ON p.id = st.product_id WHERE st.store_id = ANY(",
    );
    sql.bind(Bind::Ints(store_ids.to_vec())).push(")");
    stock_filter_sql(&mut sql, filter);
    sql.push(" GROUP BY st.store_id");
    Ok(sql.build().load(&mut conn).await?)
}

/// The sort key of a low-stock row: store code, then product SKU.
pub type LowStockCursor = (String, String);

/// A low-stock row with its sort key.
#[derive(Debug, QueryableByName)]
pub struct LowStockRow {
    /// The store's code.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub code: String,
    /// The product's SKU.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub sku: String,
    /// The row.
    #[diesel(embed)]
    pub stock: Stock,
}

/// A keyset page of the rows at or below their reorder point (store code, then SKU). Each store
/// is walked in SKU order through the products' SKU index (a LATERAL per store, stores in code
/// order), so a page reads about as many rows as it returns.
pub async fn low_stock_page(
    mut conn: &AsyncPgConnection,
    store_id: Option<i32>,
    ks: &Keyset<LowStockCursor>,
) -> AppResult<Vec<LowStockRow>> {
    let mut sql = SqlBuilder::new(&format!(
        "SELECT s.code, x.* FROM stores s CROSS JOIN LATERAL (SELECT p.sku, {STOCK_COLUMNS} \
         FROM products p JOIN stocks st ON st.product_id = p.id AND st.store_id = s.id \
         WHERE st.quantity <= st.reorder_point"
    ));
    keyset_range(&mut sql, ks, "(s.code, p.sku)", true, |sql, (code, sku)| {
        sql.push("(")
            .bind(Bind::Text(code.clone()))
            .push(", ")
            .bind(Bind::Text(sku.clone()))
            .push(")");
    });
    let d = dir(ks.scan_ascending(true));
    sql.push(&format!(" ORDER BY p.sku {d} LIMIT "))
        .bind(Bind::BigInt(ks.fetch()))
        .push(") x WHERE TRUE");
    if let Some(store_id) = store_id {
        sql.push(" AND s.id = ").bind(Bind::Int(store_id));
    }
    if let Some((code, _)) = &ks.after {
        sql.push(" AND s.code >= ").bind(Bind::Text(code.clone()));
    }
    sql.push(&format!(" ORDER BY s.code {d}, x.sku {d} LIMIT "))
        .bind(Bind::BigInt(ks.fetch()));
    Ok(sql.build().load(&mut conn).await?)
}

/// How many rows are at or below their reorder point.
pub async fn low_stock_count(
    mut conn: &AsyncPgConnection,
    store_id: Option<i32>,
) -> AppResult<i64> {
    let mut sql = SqlBuilder::new(
        "SELECT count(*) AS count FROM stocks st WHERE st.quantity <= st.reorder_point",
    );
    if let Some(store_id) = store_id {
        sql.push(" AND st.store_id = ").bind(Bind::Int(store_id));
    }
    let row: CountRow = sql.build().get_result(&mut conn).await?;
    Ok(row.count)
}

/// The stock rows of these (product, store) pairs that exist.
pub async fn by_pairs(mut conn: &AsyncPgConnection, pairs: &[(i32, i32)]) -> AppResult<Vec<Stock>> {
    let mut sql = SqlBuilder::new(&format!("SELECT {STOCK_COLUMNS} FROM unnest("));
    sql.bind(Bind::Ints(pairs.iter().map(|p| p.0).collect()))
        .push("::int[], ")
        .bind(Bind::Ints(pairs.iter().map(|p| p.1).collect()))
        .push(
            "::int[]) AS k(product_id, store_id) \
             JOIN stocks st ON st.product_id = k.product_id AND st.store_id = k.store_id",
        );
    Ok(sql.build().load(&mut conn).await?)
}

/// The stock rows of these products, in no particular order: no join and no sort, for a
/// caller that puts them in [`by_products`]' order itself ([`order_by_store_code`]). The
/// join with `stores` and the sort were most of a product page's database time (0.45 of
/// 1.1 ms for 50 products, 500 rows).
pub async fn of_products(
    mut conn: &AsyncPgConnection,
    product_ids: &[i32],
) -> AppResult<Vec<Stock>> {
    let mut sql = SqlBuilder::new(&format!(
        "SELECT {STOCK_COLUMNS} FROM stocks st WHERE st.product_id = ANY("
    ));
    sql.bind(Bind::Ints(product_ids.to_vec())).push(")");
    Ok(sql.build_as::<StockSql>().load(&mut conn).await?)
}

/// Puts `rows` in [`by_products`]' order (by product, then store code, then store id) with
/// the store codes of `tables`; `false`, leaving them as they were, when a row's store is
/// not in `tables` (created after the tables' version).
pub fn order_by_store_code(rows: &mut [Stock], tables: &Tables) -> bool {
    if !rows.iter().all(|r| tables.store_rank(r.store_id).is_some()) {
        return false;
    }
    // Codes are unique, so a store's rank in code order stands for (code, id).
    rows.sort_by_cached_key(|r| (r.product_id, tables.store_rank(r.store_id)));
    true
}

/// The stock rows of these products, each product's in store-code order.
pub async fn by_products(conn: &AsyncPgConnection, product_ids: &[i32]) -> AppResult<Vec<Stock>> {
    products_rows(conn, |sql| {
        sql.push("= ANY(")
            .bind(Bind::Ints(product_ids.to_vec()))
            .push(")");
    })
    .await
}

/// The stock rows of the product with this SKU, as [`by_products`] reads them: the product
/// is found inside the statement, so it can be sent along with the product's own lookup.
pub async fn by_product_sku(conn: &AsyncPgConnection, sku: &str) -> AppResult<Vec<Stock>> {
    products_rows(conn, |sql| {
        sql.push("= (SELECT id FROM products WHERE sku = ")
            .bind(Bind::Text(sku.to_string()))
            .push(")");
    })
    .await
}

/// The stock rows of the products `which` picks (it completes `st.product_id …`), each
/// product's in store-code order.
async fn products_rows(
    mut conn: &AsyncPgConnection,
    which: impl FnOnce(&mut SqlBuilder),
) -> AppResult<Vec<Stock>> {
    let mut sql = SqlBuilder::new(&format!(
        "SELECT {STOCK_COLUMNS} FROM stocks st JOIN stores s ON s.id = st.store_id \
         WHERE st.product_id "
    ));
    which(&mut sql);
    sql.push(" ORDER BY st.product_id, s.code, s.id");
    Ok(sql.build_as::<StockSql>().load(&mut conn).await?)
}

/// Each product's stock summed over all stores (products without rows are left out).
pub async fn totals_by_product(
    mut conn: &AsyncPgConnection,
    product_ids: &[i32],
) -> AppResult<Vec<KeyTotal>> {
    let mut sql = SqlBuilder::new(
        "SELECT product_id AS key, sum(quantity)::bigint AS total FROM stocks WHERE product_id = ANY(",
    );
    sql.bind(Bind::Ints(product_ids.to_vec()))
        .push(") GROUP BY product_id");
    Ok(sql.build().load(&mut conn).await?)
}

/// A pair's quantity at a moment, by the position of the question in the batch.
#[derive(Debug, QueryableByName)]
pub struct QuantityAt {
    /// 1-based position of the (product, store, at) question.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub n: i64,
    /// quantity_after of the last ledger row at or before the moment; 0 before the first.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub quantity: i32,
}

/// For each (product, store, moment): the stock as it stood then, from the ledger.
pub async fn quantities_at(
    mut conn: &AsyncPgConnection,
    questions: &[(i32, i32, DateTime<Utc>)],
) -> AppResult<Vec<QuantityAt>> {
    let mut sql = SqlBuilder::new(
        "SELECT k.n, COALESCE((SELECT t.quantity_after FROM inventory_transactions t \
         WHERE t.product_id = k.p AND t.store_id = k.s AND t.created_at <= k.at \
         ORDER BY t.created_at DESC, t.id DESC LIMIT 1), 0) AS quantity FROM unnest(",
    );
    sql.bind(Bind::Ints(questions.iter().map(|q| q.0).collect()))
        .push("::int[], ")
        .bind(Bind::Ints(questions.iter().map(|q| q.1).collect()))
        .push("::int[], ")
        .bind(Bind::Tss(questions.iter().map(|q| q.2).collect()))
        .push("::timestamptz[]) WITH ORDINALITY AS k(p, s, at, n)");
    Ok(sql.build().load(&mut conn).await?)
}

// ---------------------------------------------------------------- writes (reorder points)

/// Sets the reorder point of a (product, store) pair, creating an empty row when the store
/// never held the product; NOT_FOUND for an unknown product or store.
pub async fn set_reorder_point(
    conn: &mut AsyncPgConnection,
    product_id: i32,
    store_id: i32,
    reorder_point: crate::domain::quantity::StockLevel,
) -> AppResult<Stock> {
    use crate::db::schema::{products, stores};
    let product_exists: bool =
        diesel::select(diesel::dsl::exists(products::table.find(product_id)))
            .get_result(conn)
            .await?;
    if !product_exists {
        return Err(crate::error::AppError::Missing(
            crate::error::Missing::Product,
        ));
    }
    let store_exists: bool = diesel::select(diesel::dsl::exists(stores::table.find(store_id)))
        .get_result(conn)
        .await?;
    if !store_exists {
        return Err(crate::error::AppError::Missing(
            crate::error::Missing::Store,
        ));
    }
    Ok(diesel::insert_into(stocks::table)
        .values((
            stocks::product_id.eq(product_id),
            stocks::store_id.eq(store_id),
            stocks::reorder_point.eq(reorder_point.get()),
        ))
        .on_conflict((stocks::product_id, stocks::store_id))
        .do_update()
        .set((
            stocks::reorder_point.eq(reorder_point.get()),
            stocks::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Stock::as_returning())
        .get_result(conn)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(product_id: i32, store_id: i32) -> Stock {
        Stock {
            product_id,
            store_id,
            quantity: 0,
            reorder_point: 0,
            updated_at: RowTime::default(),
        }
    }

    #[test]
    fn rows_are_ordered_by_product_then_store_code_and_left_alone_for_an_unknown_store() {
        let tables = Tables::of_stores(&[(1, "Z1"), (2, "S2"), (9, "A9")]);
        let mut rows = vec![
            row(2, 1),
            row(1, 2),
            row(2, 9),
            row(1, 1),
            row(1, 9),
            row(2, 2),
        ];
        assert!(order_by_store_code(&mut rows, &tables));
        let order: Vec<_> = rows.iter().map(|r| (r.product_id, r.store_id)).collect();
        assert_eq!(order, [(1, 9), (1, 2), (1, 1), (2, 9), (2, 2), (2, 1)]);
        let mut rows = vec![row(2, 1), row(1, 3)];
        assert!(!order_by_store_code(&mut rows, &tables));
        assert_eq!(rows[0].product_id, 2);
    }
}
