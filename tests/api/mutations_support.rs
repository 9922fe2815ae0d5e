//! Shared arrangements and checks of the mutation tests: a small catalogue written straight
//! into the test database, raw SQL access, table dumps and the ledger reconciliation.

use serde_json::{Value, json};
use stockroom::{domain::role::Role, graphql::ids::NodeId};
use tokio_postgres::Client;

use crate::helpers::TestApp;

pub use crate::helpers::sql;

/// A product, three stores and tokens, with ids raw and global.
pub struct Fixture {
    pub admin: String,
    pub product: i32,
    pub product_id: String,
    pub stores: Vec<i32>,
    pub store_ids: Vec<String>,
    pub category_id: String,
}

/// Global ID of a product.
pub fn product_gid(id: i32) -> String {
    NodeId::Product(id).encode().0
}

/// Global ID of a store.
pub fn store_gid(id: i32) -> String {
    NodeId::Store(id).encode().0
}

/// Creates a category, a product with SKU `sku`, three stores and an admin token; every
/// store starts with `stock` units (through an imported ledger row, so the ledger sums).
pub async fn fixture(app: &TestApp, stock: i32) -> Fixture {
    let db = sql(&app.db_url).await;
    let cat: i32 = db
        .query_one(
            "INSERT INTO categories (name) VALUES ('Tools') RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let product: i32 = db
        .query_one(
            "INSERT INTO products (sku, name, price, category_id) VALUES ('P-1', 'Hammer', 9.50, $1) RETURNING id",
            &[&cat],
        )
        .await
        .unwrap()
        .get(0);
    let mut stores = Vec::new();
    for code in ["AAA", "BBB", "CCC"] {
        let id: i32 = db
            .query_one(
                "INSERT INTO stores (code, name) VALUES ($1, $1) RETURNING id",
                &[&code],
            )
            .await
            .unwrap()
            .get(0);
        stores.push(id);
    }
    if stock > 0 {
        for s in &stores {
            set_stock(&db, product, *s, stock).await;
        }
    }
    let admin = app.user_token("mut-admin", Role::Admin, &[]).await;
    Fixture {
        admin,
        product,
        product_id: product_gid(product),
        store_ids: stores.iter().map(|s| store_gid(*s)).collect(),
        stores,
        category_id: NodeId::Category(cat).encode().0,
    }
}

/// Gives a new pair `qty` units through one ledger row without a user (imported history).
pub async fn set_stock(db: &Client, product: i32, store: i32, qty: i32) {
    db.execute(
        "INSERT INTO stocks (product_id, store_id, quantity, reorder_point) VALUES ($1, $2, $3, 5)",
        &[&product, &store, &qty],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO inventory_transactions (type, product_id, store_id, quantity, quantity_after, created_at) \
         VALUES ('INBOUND', $1, $2, $3, $3, now() - interval '1 day')",
        &[&product, &store, &qty],
    )
    .await
    .unwrap();
}

/// The stock of a pair (0 without a row).
pub async fn stock_of(db_url: &str, product: i32, store: i32) -> i32 {
    sql(db_url)
        .await
        .query_opt(
            "SELECT quantity FROM stocks WHERE product_id = $1 AND store_id = $2",
            &[&product, &store],
        )
        .await
        .unwrap()
        .map_or(0, |r| r.get(0))
}

/// How many ledger rows match a condition.
pub async fn ledger_count(db_url: &str, condition: &str) -> i64 {
    sql(db_url)
        .await
        .query_one(
            &format!("SELECT count(*) FROM inventory_transactions WHERE {condition}"),
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// Asserts that exactly one movement by a user was recorded in `store` and that the ledger
/// reconciles with the stock (what a burst of duplicates of one idempotency key leaves).
pub async fn assert_one_movement_recorded(db_url: &str, store: i32) {
    assert_eq!(
        ledger_count(
            db_url,
            &format!("store_id = {store} AND user_id IS NOT NULL")
        )
        .await,
        1
    );
    assert!(reconciliation_errors(db_url).await.is_empty());
}

/// Pairs whose stock differs from the sum of their ledger, or whose `quantity_after` is not
/// the running sum in (created_at, id) order. Empty when everything reconciles.
pub async fn reconciliation_errors(db_url: &str) -> Vec<String> {
    let db = sql(db_url).await;
    let mut errors = Vec::new();
    for row in db
        .query(
            "SELECT s.product_id, s.store_id, s.quantity, coalesce(sum(t.quantity), 0)::int \
             FROM stocks s LEFT JOIN inventory_transactions t USING (product_id, store_id) \
             GROUP BY 1, 2, 3 HAVING s.quantity <> coalesce(sum(t.quantity), 0)",
            &[],
        )
        .await
        .unwrap()
    {
        errors.push(format!(
            "pair ({}, {}): stock {} but ledger sums to {}",
            row.get::<_, i32>(0),
            row.get::<_, i32>(1),
            row.get::<_, i32>(2),
            row.get::<_, i32>(3)
        ));
    }
    for row in db
        .query(
            "SELECT id, quantity_after, running FROM ( \
               SELECT id, quantity_after, sum(quantity) OVER (PARTITION BY product_id, store_id \
                 ORDER BY created_at, id)::int AS running FROM inventory_transactions) x \
             WHERE quantity_after <> running",
            &[],
        )
        .await
        .unwrap()
    {
        errors.push(format!(
            "ledger row {}: quantity_after {} but running sum {}",
            row.get::<_, i64>(0),
            row.get::<_, i32>(1),
            row.get::<_, i32>(2)
        ));
    }
    errors
}

/// A text dump of stocks, ledger and idempotency keys, for byte-for-byte comparisons.
pub async fn dump(db_url: &str) -> String {
    let db = sql(db_url).await;
    let mut out = String::new();
    for q in [
        "SELECT coalesce(string_agg(s::text, E'\\n' ORDER BY product_id, store_id), '') FROM stocks s",
        "SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY id), '') FROM inventory_transactions t",
        "SELECT coalesce(string_agg(k::text, E'\\n' ORDER BY user_id, key), '') FROM idempotency_keys k",
    ] {
        out.push_str(&db.query_one(q, &[]).await.unwrap().get::<_, String>(0));
        out.push_str("\n--\n");
    }
    out
}

/// The selection of a movement payload.
pub const MOVE_FIELDS: &str = "transaction { id type quantity quantityAfter note reference user { username } } newStock stock { id quantity reorderPoint }";

/// `recordOutbound` (or `recordInbound` when `inbound`) with these input fields.
pub async fn movement(app: &TestApp, token: &str, inbound: bool, input: Value) -> Value {
    let name = if inbound {
        "recordInbound"
    } else {
        "recordOutbound"
    };
    app.graphql_as(
        token,
        &format!(
            "mutation($input: StockMovementInput!) {{ {name}(input: $input) {{ {MOVE_FIELDS} }} }}"
        ),
        json!({ "input": input }),
    )
    .await
}

/// `transferStock` with these input fields.
pub async fn transfer(app: &TestApp, token: &str, input: Value) -> Value {
    app.graphql_as(
        token,
        "mutation($input: TransferStockInput!) { transferStock(input: $input) { \
           outbound { id type quantity quantityAfter note reference } \
           inbound { id type quantity quantityAfter note reference } \
           fromStock { id quantity } toStock { id quantity } } }",
        json!({ "input": input }),
    )
    .await
}
