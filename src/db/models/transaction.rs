//! The append-only ledger of stock changes.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::{
    db::{
        models::page::{Bind, Keyset, SqlBuilder, dir, keyset_range},
        schema::inventory_transactions,
    },
    domain::ledger::TransactionType,
    error::AppResult,
};

/// A row of `inventory_transactions`.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = inventory_transactions, check_for_backend(diesel::pg::Pg))]
pub struct InventoryTransaction {
    /// Primary key, increasing with time of insertion.
    pub id: i64,
    /// What kind of change.
    #[diesel(column_name = type_)]
    pub kind: TransactionType,
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

/// The sort key of a ledger row: newest first by (created_at, id).
pub type TransactionCursor = (DateTime<Utc>, i64);

/// Which ledger rows a listing shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TransactionFilter {
    /// Of this product.
    pub product_id: Option<i32>,
    /// In this store.
    pub store_id: Option<i32>,
    /// Of this type.
    pub kind: Option<TransactionType>,
    /// Recorded by this user.
    pub user_id: Option<i32>,
    /// At or after this moment.
    pub since: Option<DateTime<Utc>>,
    /// Strictly before this moment.
    pub until: Option<DateTime<Utc>>,
}

const TRANSACTION_COLUMNS: &str = "t.id, t.type AS type_, t.product_id, t.store_id, t.user_id, \
     t.quantity, t.quantity_after, t.note, t.reference, t.created_at";

fn filter_sql(sql: &mut SqlBuilder, f: &TransactionFilter) {
    if let Some(v) = f.product_id {
        sql.push(" AND t.product_id = ").bind(Bind::Int(v));
    }
    if let Some(v) = f.store_id {
        sql.push(" AND t.store_id = ").bind(Bind::Int(v));
    }
    if let Some(v) = f.kind {
        sql.push(" AND t.type = ")
            .bind(Bind::Text(v.as_str().to_string()));
    }
    if let Some(v) = f.user_id {
        sql.push(" AND t.user_id = ").bind(Bind::Int(v));
    }
    if let Some(v) = f.since {
        sql.push(" AND t.created_at >= ").bind(Bind::Ts(v));
    }
    if let Some(v) = f.until {
        sql.push(" AND t.created_at < ").bind(Bind::Ts(v));
    }
}

fn range_and_order(sql: &mut SqlBuilder, ks: &Keyset<TransactionCursor>) {
    keyset_range(sql, ks, "(t.created_at, t.id)", false, |sql, (at, id)| {
        sql.push("(")
            .bind(Bind::Ts(*at))
            .push(", ")
            .bind(Bind::BigInt(*id))
            .push(")");
    });
    let d = dir(ks.scan_ascending(false));
    sql.push(&format!(" ORDER BY t.created_at {d}, t.id {d} LIMIT "))
        .bind(Bind::BigInt(ks.fetch()));
}

/// A keyset page of the ledger rows matching `filter`, newest first.
pub async fn page(
    mut conn: &AsyncPgConnection,
    filter: &TransactionFilter,
    ks: &Keyset<TransactionCursor>,
) -> AppResult<Vec<InventoryTransaction>> {
    let mut sql = SqlBuilder::new(&format!(
        "SELECT {TRANSACTION_COLUMNS} FROM inventory_transactions t WHERE TRUE"
    ));
    filter_sql(&mut sql, filter);
    range_and_order(&mut sql, ks);
    Ok(sql.build().load(&mut conn).await?)
}

/// Whose ledger a per-parent page lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LedgerOwner {
    /// A product's rows.
    Product,
    /// A store's rows.
    Store,
}

/// The first page (newest first) of the ledger of each product or store, in one query (a
/// LATERAL join over the ids); rows come in each page's read direction.
pub async fn pages_by_owner(
    conn: &AsyncPgConnection,
    owner: LedgerOwner,
    ids: &[i32],
    kind: Option<TransactionType>,
    ks: &Keyset<TransactionCursor>,
) -> AppResult<Vec<InventoryTransaction>> {
    let mut sql = SqlBuilder::new("SELECT x.* FROM unnest(");
    sql.bind(Bind::Ints(ids.to_vec())).push("::int[]) AS k(id)");
    page_of_each(conn, sql, owner, kind, ks).await
}

/// A page of the ledger of the product with this SKU, as [`pages_by_owner`] reads it: the
/// product is found inside the statement, so it can be sent along with its own lookup.
pub async fn page_of_product_sku(
    conn: &AsyncPgConnection,
    sku: &str,
    kind: Option<TransactionType>,
    ks: &Keyset<TransactionCursor>,
) -> AppResult<Vec<InventoryTransaction>> {
    let mut sql = SqlBuilder::new("SELECT x.* FROM (SELECT id FROM products WHERE sku = ");
    sql.bind(Bind::Text(sku.to_string())).push(") AS k(id)");
    page_of_each(conn, sql, LedgerOwner::Product, kind, ks).await
}

/// Completes `sql`, which lists the owners as `k(id)`, with a page of each one's ledger.
async fn page_of_each(
    mut conn: &AsyncPgConnection,
    mut sql: SqlBuilder,
    owner: LedgerOwner,
    kind: Option<TransactionType>,
    ks: &Keyset<TransactionCursor>,
) -> AppResult<Vec<InventoryTransaction>> {
    let column = match owner {
        LedgerOwner::Product => "product_id",
        LedgerOwner::Store => "store_id",
    };
    sql.push(&format!(
        " CROSS JOIN LATERAL (SELECT {TRANSACTION_COLUMNS} \
         FROM inventory_transactions t WHERE t.{column} = k.id"
    ));
    if let Some(kind) = kind {
        sql.push(" AND t.type = ")
            .bind(Bind::Text(kind.as_str().to_string()));
    }
    range_and_order(&mut sql, ks);
    sql.push(") x");
    Ok(sql.build().load(&mut conn).await?)
}

/// The ledger rows with these ids.
pub async fn by_ids(
    mut conn: &AsyncPgConnection,
    ids: &[i64],
) -> AppResult<Vec<InventoryTransaction>> {
    Ok(inventory_transactions::table
        .filter(inventory_transactions::id.eq_any(ids))
        .select(InventoryTransaction::as_select())
        .load(&mut conn)
        .await?)
}

/// A change of stock as the ledger recorded it, in the terms of the stock triggers'
/// notifications.
#[derive(Debug, Clone, Copy, QueryableByName)]
pub struct LedgerChange {
    /// The product.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub product_id: i32,
    /// The store.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub store_id: i32,
    /// The ledger row.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub transaction_id: i64,
    /// Whether the row took the stock from above its reorder point (as it is today) to at or
    /// below it.
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub low_crossed: bool,
}

/// The statement selecting ledger rows as [`LedgerChange`]s, completed by `$rest` (its
/// `WHERE` and order).
macro_rules! ledger_changes {
    ($rest:literal) => {
        concat!(
            "SELECT t.product_id, t.store_id, t.id AS transaction_id,
                    (t.quantity_after <= st.reorder_point
                     AND t.quantity_after - t.quantity > st.reorder_point) AS low_crossed
             FROM inventory_transactions t
             JOIN stocks st ON st.product_id = t.product_id AND st.store_id = t.store_id ",
            $rest
        )
    };
}

/// The changes of the ledger rows written in the last `window` (at most `limit`), oldest
/// first, as the triggers would have announced them (the low-stock crossing against today's
/// reorder point).
pub async fn changes_within(
    conn: &mut AsyncPgConnection,
    window: std::time::Duration,
    limit: i64,
) -> AppResult<Vec<LedgerChange>> {
    Ok(diesel::sql_query(ledger_changes!(
        "WHERE t.created_at > now() - make_interval(secs => $1)
             ORDER BY t.created_at, t.id
             LIMIT $2"
    ))
    .bind::<diesel::sql_types::Double, _>(window.as_secs_f64())
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .load(conn)
    .await?)
}

/// The database's current snapshot (`pg_current_snapshot()`, as text): which transactions
/// had committed when it was taken. Handed back to [`committed_between`].
pub async fn snapshot(conn: &mut AsyncPgConnection) -> AppResult<String> {
    #[derive(QueryableByName)]
    struct Snapshot {
        #[diesel(sql_type = diesel::sql_types::Text)]
        snapshot: String,
    }
    let row: Snapshot = diesel::sql_query("SELECT pg_current_snapshot()::text AS snapshot")
        .get_result(conn)
        .await?;
    Ok(row.snapshot)
}

/// The ids of the ledger rows whose transaction committed after the snapshot `earlier` was
/// taken and before `later` was (both from [`snapshot`]), skipping transactions that wrote
/// more than 1000 rows (bulk loads, which the ledger trigger does not announce either).
/// Exact: a transaction in progress at `earlier` is found once it committed, whatever its
/// rows' ids. Rows written before the ledger carried transaction ids are never found.
pub async fn committed_between(
    conn: &mut AsyncPgConnection,
    earlier: &str,
    later: &str,
) -> AppResult<Vec<i64>> {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    let rows: Vec<Id> = diesel::sql_query(
        "SELECT id FROM (
             SELECT t.id, count(*) OVER (PARTITION BY t.xact_id) AS written
             FROM inventory_transactions t
             WHERE t.xact_id >= pg_snapshot_xmin($1::pg_snapshot)::text::bigint
               AND NOT pg_visible_in_snapshot(t.xact_id::text::xid8, $1::pg_snapshot)
               AND pg_visible_in_snapshot(t.xact_id::text::xid8, $2::pg_snapshot)
         ) w
         WHERE written <= 1000
         ORDER BY id",
    )
    .bind::<diesel::sql_types::Text, _>(earlier)
    .bind::<diesel::sql_types::Text, _>(later)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// The changes of the ledger rows `ids`, oldest first, as [`changes_within`] tells them.
pub async fn changes_of(conn: &mut AsyncPgConnection, ids: &[i64]) -> AppResult<Vec<LedgerChange>> {
    Ok(diesel::sql_query(ledger_changes!(
        "WHERE t.id = ANY($1)
             ORDER BY t.created_at, t.id"
    ))
    .bind::<diesel::sql_types::Array<diesel::sql_types::BigInt>, _>(ids)
    .load(conn)
    .await?)
}
