//! The demo catalogue of a first run: two-level categories, 50 products, 3 stores, stock
//! rows and a ledger history that sums to them (set-based SQL over several tables; the
//! orchestration, with the `admin` user and its token, is in `crate::seed`).

use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};

use crate::error::AppResult;

/// Set-based SQL for the catalogue; `:admin` is replaced by the admin user's id.
const DEMO_SQL: &str = r#"
INSERT INTO categories (name) VALUES ('Garden'), ('Hardware'), ('Kitchen');
INSERT INTO categories (parent_id, name)
SELECT c.id, c.name || ' ' || v.sub
FROM categories c CROSS JOIN (VALUES ('Essentials'), ('Tools')) AS v(sub)
WHERE c.parent_id IS NULL;
INSERT INTO stores (code, name) VALUES
    ('AMS', 'Amsterdam Store'), ('BER', 'Berlin Warehouse'), ('CPH', 'Copenhagen Store');
INSERT INTO products (sku, name, description, price, category_id)
SELECT format('DEMO-%s', lpad(g::text, 3, '0')),
       (ARRAY['Compact', 'Classic', 'Premium', 'Eco', 'Rugged'])[1 + g % 5] || ' '
           || (ARRAY['Hammer', 'Planter', 'Kettle', 'Lamp', 'Shelf', 'Bucket', 'Wrench',
                     'Drill', 'Hose', 'Pan'])[1 + g % 10] || ' ' || g,
       'Demo product number ' || g || '.',
       ((g * 137) % 9000 + 199) / 100.0,
       (SELECT id FROM categories WHERE parent_id IS NOT NULL ORDER BY id OFFSET (g % 6) LIMIT 1)
FROM generate_series(1, 50) AS g;
WITH pairs AS (
    SELECT p.id AS pid, s.id AS sid, row_number() OVER (ORDER BY p.id, s.id) AS n
    FROM products p CROSS JOIN stores s
    WHERE (p.id + s.id) % 4 <> 0
), events AS (
    SELECT pid, sid, 'INBOUND' AS t, (20 + (n * 7) % 80)::int AS q,
           now() - interval '30 days' + n * interval '1 minute' AS at, 'PO-' || (1000 + n) AS note
    FROM pairs
    UNION ALL
    SELECT pid, sid, 'OUTBOUND', (-(1 + n % 15))::int,
           now() - interval '10 days' + n * interval '1 minute', NULL
    FROM pairs WHERE n % 3 = 0
)
INSERT INTO inventory_transactions
    (type, product_id, store_id, user_id, quantity, quantity_after, note, created_at)
SELECT t, pid, sid, :admin, q, sum(q) OVER (PARTITION BY pid, sid ORDER BY at), note, at
FROM events ORDER BY at;
INSERT INTO stocks (product_id, store_id, quantity, reorder_point, updated_at)
SELECT product_id, store_id, sum(quantity), 10 + (product_id % 3) * 20, max(created_at)
FROM inventory_transactions GROUP BY product_id, store_id;
"#;

/// Inserts the demo catalogue, its ledger rows made by the user `admin_id`. The caller holds
/// the transaction (the catalogue is seeded together with its admin).
pub async fn insert_catalogue(conn: &mut AsyncPgConnection, admin_id: i32) -> AppResult<()> {
    conn.batch_execute(&DEMO_SQL.replace(":admin", &admin_id.to_string()))
        .await?;
    Ok(())
}
