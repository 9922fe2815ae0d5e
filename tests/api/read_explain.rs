//! The list queries of the read API are served by indexes: on twenty thousand generated
//! products (and their stock rows and ledger, ANALYZEd), the plan of each list query — written
//! here as the model functions build it, with literal values — has no sequential scan of
//! `products`, `stocks` or `inventory_transactions`.
//!
//! `totalCount` and subtree totals are left out on purpose: they aggregate every matching
//! row, which a sequential scan does best on large matches (the ledger has no `totalCount`).

use crate::{helpers::TestApp, read_fixture::seed_with};

/// Products generated for the plans (with two ledger rows per stock row).
const PRODUCTS: i32 = 20_000;
/// Products in the catalogue the search plan is checked on.
const LARGE_CATALOGUE: i32 = 300_000;

const COLUMNS: &str = "p.id, p.sku, p.name, p.description, p.price, p.category_id, p.archived, p.created_at, p.updated_at";
const STOCK: &str = "st.product_id, st.store_id, st.quantity, st.reorder_point, st.updated_at";
const LEDGER: &str = "t.id, t.type AS type_, t.product_id, t.store_id, t.user_id, t.quantity, t.quantity_after, t.note, t.reference, t.created_at";

fn list_queries() -> Vec<(&'static str, String)> {
    let ids = "ARRAY[1, 2, 3, 500, 1200, 2999]::int[]";
    vec![
        ("products by SKU, after a cursor", format!(
            "SELECT {COLUMNS} FROM products p WHERE TRUE AND NOT p.archived AND p.sku > 'P-1000' ORDER BY p.sku ASC LIMIT 21")),
        ("products by SKU, last/before", format!(
            "SELECT {COLUMNS} FROM products p WHERE TRUE AND NOT p.archived AND p.sku < 'P-2000' ORDER BY p.sku DESC LIMIT 21")),
        ("products by name DESC, after a cursor", format!(
            "SELECT {COLUMNS} FROM products p WHERE TRUE AND NOT p.archived AND (p.name, p.id) < ('drill 5', 500) ORDER BY p.name DESC, p.id DESC LIMIT 21")),
        ("products by creation", format!(
            "SELECT {COLUMNS} FROM products p WHERE TRUE AND NOT p.archived AND (p.created_at, p.id) > ('2026-01-02 00:00:00+00', 48) ORDER BY p.created_at ASC, p.id ASC LIMIT 21")),
        ("products of a category subtree", format!(
            "SELECT {COLUMNS} FROM products p WHERE TRUE AND NOT p.archived AND p.category_id IN (WITH RECURSIVE t(id) AS (SELECT 2::int UNION ALL SELECT c.id FROM categories c JOIN t ON c.parent_id = t.id) SELECT id FROM t) ORDER BY p.sku ASC LIMIT 21")),
        ("Category.products pages (LATERAL)", format!(
            "WITH RECURSIVE t(root, id) AS (SELECT r, r FROM unnest(ARRAY[2, 4]::int[]) AS r UNION ALL SELECT t.root, c.id FROM t JOIN categories c ON c.parent_id = t.id) \
             SELECT r.root, x.* FROM unnest(ARRAY[2, 4]::int[]) AS r(root) CROSS JOIN LATERAL (SELECT {COLUMNS} FROM products p \
             WHERE p.category_id IN (SELECT t.id FROM t WHERE t.root = r.root) AND NOT p.archived AND p.sku > 'P-0100' ORDER BY p.sku ASC LIMIT 21) x")),
        ("Store.stocks pages (LATERAL)", format!(
            "SELECT x.* FROM unnest(ARRAY[1, 2]::int[]) AS k(store_id) CROSS JOIN LATERAL (SELECT p.sku, {STOCK} FROM stocks st \
             JOIN products p ON p.id = st.product_id WHERE st.store_id = k.store_id AND p.sku > 'P-1500' ORDER BY p.sku ASC LIMIT 21) x")),
        ("lowStock across stores, after a cursor", format!(
            "SELECT s.code, x.* FROM stores s CROSS JOIN LATERAL (SELECT p.sku, {STOCK} FROM products p \
             JOIN stocks st ON st.product_id = p.id AND st.store_id = s.id WHERE st.quantity <= st.reorder_point \
             AND (s.code, p.sku) > ('S2', 'P-1400') ORDER BY p.sku ASC LIMIT 21) x WHERE TRUE AND s.code >= 'S2' \
             ORDER BY s.code ASC, x.sku ASC LIMIT 21")),
        ("lowStock of one store", format!(
            "SELECT s.code, x.* FROM stores s CROSS JOIN LATERAL (SELECT p.sku, {STOCK} FROM products p \
             JOIN stocks st ON st.product_id = p.id AND st.store_id = s.id WHERE st.quantity <= st.reorder_point \
             ORDER BY p.sku ASC LIMIT 21) x WHERE TRUE AND s.id = 2 ORDER BY s.code ASC, x.sku ASC LIMIT 21")),
        ("Product.stocks", format!(
            "SELECT {STOCK} FROM stocks st JOIN stores s ON s.id = st.store_id WHERE st.product_id = ANY({ids}) ORDER BY st.product_id, s.code, s.id")),
        ("stock(productId, storeId) / node(Stock)", format!(
            "SELECT {STOCK} FROM unnest(ARRAY[1, 7]::int[], ARRAY[1, 2]::int[]) AS k(product_id, store_id) JOIN stocks st ON st.product_id = k.product_id AND st.store_id = k.store_id")),
        ("Product.totalQuantity", format!(
            "SELECT product_id AS key, sum(quantity)::bigint AS total FROM stocks WHERE product_id = ANY({ids}) GROUP BY product_id")),
        ("Product.transactions pages (LATERAL)", format!(
            "SELECT x.* FROM unnest({ids}) AS k(id) CROSS JOIN LATERAL (SELECT {LEDGER} FROM inventory_transactions t WHERE t.product_id = k.id \
             ORDER BY t.created_at DESC, t.id DESC LIMIT 11) x")),
        ("Store.transactions pages (LATERAL, after a cursor)", format!(
            "SELECT x.* FROM unnest(ARRAY[1, 2, 3]::int[]) AS k(id) CROSS JOIN LATERAL (SELECT {LEDGER} FROM inventory_transactions t WHERE t.store_id = k.id \
             AND (t.created_at, t.id) < ('2026-02-01 06:00:00+00', 40000) ORDER BY t.created_at DESC, t.id DESC LIMIT 21) x")),
        ("transactions, no filter", format!(
            "SELECT {LEDGER} FROM inventory_transactions t WHERE TRUE ORDER BY t.created_at DESC, t.id DESC LIMIT 21")),
        ("transactions of a user in a window", format!(
            "SELECT {LEDGER} FROM inventory_transactions t WHERE TRUE AND t.user_id = 100 AND t.created_at >= '2026-02-01 03:00:00+00' AND t.created_at < '2026-02-01 05:00:00+00' ORDER BY t.created_at DESC, t.id DESC LIMIT 21")),
        ("transactions of a product and store", format!(
            "SELECT {LEDGER} FROM inventory_transactions t WHERE TRUE AND t.product_id = 700 AND t.store_id = 2 ORDER BY t.created_at DESC, t.id DESC LIMIT 21")),
        ("Stock.quantityAt", "SELECT k.n, COALESCE((SELECT t.quantity_after FROM inventory_transactions t WHERE t.product_id = k.p AND t.store_id = k.s AND t.created_at <= k.at \
             ORDER BY t.created_at DESC, t.id DESC LIMIT 1), 0) AS quantity FROM unnest(ARRAY[1, 5]::int[], ARRAY[1, 2]::int[], ARRAY['2026-02-01 05:00:00+00', '2026-02-01 06:00:00+00']::timestamptz[]) WITH ORDINALITY AS k(p, s, at, n)".to_string()),
    ]
}

/// The plans (one entry per query) that scan `products`, `stocks` or the ledger sequentially.
async fn sequential_scans(
    client: &tokio_postgres::Client,
    queries: &[(&'static str, String)],
) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, sql) in queries {
        let rows = client.query(&format!("EXPLAIN {sql}"), &[]).await.unwrap();
        let plan: Vec<String> = rows.iter().map(|r| r.get::<_, String>(0)).collect();
        let seq = plan.iter().any(|l| {
            ["products", "stocks", "inventory_transactions"]
                .iter()
                .any(|t| l.contains(&format!("Seq Scan on {t} ")))
        });
        if std::env::var("SHOW_PLANS").is_ok() {
            eprintln!("== {name}\n{}", plan.join("\n"));
        }
        if seq {
            problems.push(format!("{name}:\n{}", plan.join("\n")));
        }
    }
    problems
}

/// The same plans on a database of your own, e.g. gen.py's `--scale 10` imported with
/// `stockroom import`: `STOCKROOM_EXPLAIN_DATABASE_URL=postgres://… cargo test --test api
/// read_explain` (skipped without it: the data set takes minutes to make).
#[tokio::test]
async fn every_list_query_is_served_by_an_index_on_an_imported_data_set_when_one_is_given() {
    let Ok(url) = std::env::var("STOCKROOM_EXPLAIN_DATABASE_URL") else {
        eprintln!("STOCKROOM_EXPLAIN_DATABASE_URL is not set: nothing to check");
        return;
    };
    let client = crate::helpers::sql(&url).await;
    let mut queries = list_queries();
    queries.push((
        "products search (trigram)",
        format!(
            "SELECT {COLUMNS} FROM products p WHERE TRUE AND NOT p.archived AND \
             (lower(p.sku) LIKE '%12345%' OR lower(p.name) LIKE '%12345%') ORDER BY p.sku ASC LIMIT 21"
        ),
    ));
    let problems = sequential_scans(&client, &queries).await;
    assert!(
        problems.is_empty(),
        "sequential scans:\n{}",
        problems.join("\n\n")
    );
}

#[tokio::test]
async fn every_list_query_of_the_read_api_is_served_by_an_index_on_large_tables() {
    let app = TestApp::spawn().await;
    seed_with(&app, PRODUCTS, 2).await;
    let client = crate::helpers::sql(&app.db_url).await;
    let problems = sequential_scans(&client, &list_queries()).await;
    assert!(
        problems.is_empty(),
        "sequential scans:\n{}",
        problems.join("\n\n")
    );

    // Search: on tens of thousands of narrow rows a sequential scan is the cheaper plan and
    // PostgreSQL rightly takes it; on a catalogue of a few hundred thousand the trigram indexes
    // on lower(sku) and lower(name) serve the substring match.
    crate::helpers::admin_execute(
        &app.db_url,
        &format!(
            "INSERT INTO products (id, sku, name, price, category_id) \
             SELECT g, 'X-' || g, 'Extra ' || g, 1, 4 FROM generate_series({}, {}) AS g; ANALYZE products;",
            PRODUCTS + 1,
            LARGE_CATALOGUE
        ),
    )
    .await;
    let sql = format!(
        "EXPLAIN SELECT {COLUMNS} FROM products p WHERE TRUE AND NOT p.archived AND \
         (lower(p.sku) LIKE '%12345%' OR lower(p.name) LIKE '%12345%') ORDER BY p.sku ASC LIMIT 21"
    );
    let plan: Vec<String> = client
        .query(&sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect();
    if std::env::var("SHOW_PLANS").is_ok() {
        eprintln!("== products search (trigram)\n{}", plan.join("\n"));
    }
    assert!(
        plan.iter().any(|l| l.contains("products_sku_trgm_idx"))
            && plan.iter().any(|l| l.contains("products_name_trgm_idx")),
        "search plan:\n{}",
        plan.join("\n")
    );
}
