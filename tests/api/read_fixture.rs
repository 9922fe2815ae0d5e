//! A deterministic catalogue for the read API tests, written with set-based SQL.
//!
//! - categories: Alpha (1) > Beta (2) > Gamma (3), Alpha > Aardvark (5), and the root Delta (4);
//! - stores S1, S2, S3 (ids 1..3); user `clerk` (id 100, STAFF in S2 and S1);
//! - `n` products `P-001`… (id = number), category `[3, 2, 4, 5][id % 4]`, every tenth archived,
//!   names with duplicates (ties broken by id), `created_at` shared by pairs of products;
//! - each product held in the two stores with `(product + store) % 3 <> 0`, with 12 INBOUND
//!   ledger rows per pair (quantity `1 + (p + s + k) % 5` at `2026-02-01 + k hours`, so a store's
//!   rows tie on `created_at`), the stock row summing them; reorder point 1000 (low) when
//!   `product % 7 = 0`, else 0.

use serde_json::Value;

use crate::helpers::TestApp;

/// Ledger rows per (product, store) pair.
pub const LEDGER_ROWS: i64 = 12;

/// Inserts the catalogue with `n` products.
pub async fn seed(app: &TestApp, n: i32) {
    seed_with(app, n, LEDGER_ROWS).await;
}

/// Inserts the catalogue with `n` products and `ledger_rows` ledger rows per pair.
pub async fn seed_with(app: &TestApp, n: i32, ledger_rows: i64) {
    let sql = format!(
        r#"
INSERT INTO categories (id, parent_id, name) VALUES
    (1, NULL, 'Alpha'), (2, 1, 'Beta'), (3, 2, 'Gamma'), (4, NULL, 'Delta'), (5, 1, 'Aardvark');
INSERT INTO stores (id, code, name) VALUES (1, 'S1', 'Store One'), (2, 'S2', 'Store Two'), (3, 'S3', 'Store Three');
INSERT INTO users (id, username, display_name, role) VALUES (100, 'clerk', 'Clerk Kent', 'STAFF');
INSERT INTO user_stores (user_id, store_id) VALUES (100, 2), (100, 1);
INSERT INTO products (id, sku, name, description, price, category_id, archived, created_at, updated_at)
SELECT g, format('P-%s', lpad(g::text, greatest(3, length(g::text)), '0')),
       (ARRAY['Hammer', 'anvil', 'Chisel', 'drill'])[1 + g % 4] || ' ' || (g % 30),
       'Description ' || g, g * 1.5, (ARRAY[3, 2, 4, 5])[1 + g % 4], g % 10 = 0,
       timestamptz '2026-01-01 00:00:00+00' + (g / 2) * interval '1 hour',
       timestamptz '2026-01-05 00:00:00+00' + g * interval '1 minute'
FROM generate_series(1, {n}) AS g;
INSERT INTO inventory_transactions (type, product_id, store_id, user_id, quantity, quantity_after, note, created_at)
SELECT 'INBOUND', p, s, 100, 1 + (p + s + k) % 5,
       sum(1 + (p + s + k) % 5) OVER (PARTITION BY p, s ORDER BY k),
       'row ' || k, timestamptz '2026-02-01 00:00:00+00' + k * interval '1 hour'
FROM generate_series(1, {n}) AS p, generate_series(1, 3) AS s, generate_series(1, {ledger_rows}) AS k
WHERE (p + s) % 3 <> 0
ORDER BY k, p, s;
INSERT INTO stocks (product_id, store_id, quantity, reorder_point, updated_at)
SELECT product_id, store_id, sum(quantity), CASE WHEN product_id % 7 = 0 THEN 1000 ELSE 0 END,
       timestamptz '2026-03-01 00:00:00+00'
FROM inventory_transactions GROUP BY product_id, store_id;
ANALYZE;
"#
    );
    crate::helpers::admin_execute(&app.db_url, &sql).await;
}

/// Runs a query as `token` and fails the test on any error.
pub async fn ok(app: &TestApp, token: &str, query: &str, vars: Value) -> Value {
    let body = app.graphql_as(token, query, vars).await;
    assert!(body.get("errors").is_none(), "errors: {body}");
    body["data"].clone()
}

/// The global ID of an object, as the API encodes it (`Type:key` in base64url).
pub fn gid(kind: &str, key: &str) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    URL_SAFE_NO_PAD.encode(format!("{kind}:{key}"))
}
