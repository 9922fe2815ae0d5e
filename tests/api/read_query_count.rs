//! Nested reads cost a constant number of SQL statements whatever the page size: every
//! relation goes through a per-request DataLoader (one query per relation per wave), and
//! nested pages are one LATERAL query for all parents.

use serde_json::json;

use crate::{
    helpers::TestApp,
    read_fixture::{gid, ok, seed},
};

/// The statements one request costs: the fewest of five runs. A loader gathers keys for a few
/// milliseconds; on a machine busy with other work a wave can be cut in two by the scheduler,
/// which costs one statement more now and then. An N+1 shows in every run, so the fewest is
/// the request's real cost.
async fn cost(
    app: &TestApp,
    counter: &crate::helpers::QueryCounter,
    token: &str,
    query: &str,
    vars: serde_json::Value,
) -> usize {
    let mut best = usize::MAX;
    for _ in 0..5 {
        best = best.min(cost_once(app, counter, token, query, vars.clone()).await);
    }
    best
}

/// The statements one run of a request costs.
async fn cost_once(
    app: &TestApp,
    counter: &crate::helpers::QueryCounter,
    token: &str,
    query: &str,
    vars: serde_json::Value,
) -> usize {
    let before = counter.get();
    ok(app, token, query, vars).await;
    if std::env::var("SHOW_SQL").is_ok() {
        eprintln!("--- {}", counter.log()[before..].join("\n--- "));
    }
    counter.get() - before
}

const SHAPES: &[(&str, &str)] = &[
    (
        "a: product page with category name and all stocks with store name",
        "query($n: Int) { products(first: $n) { totalCount nodes { sku category { name } \
         stocks { quantity store { name } } } } }",
    ),
    (
        "b: a store's first N stock rows with product sku, name and category name",
        "query($n: Int) { store(code: \"S1\") { stocks(first: $n) { totalCount nodes { quantity \
         product { sku name category { name } } } } } }",
    ),
    (
        "c: a product by SKU with its stocks and its latest transactions",
        "query($n: Int) { product(sku: \"P-001\") { stocks { quantity store { code } } \
         transactions(first: $n) { nodes { quantity user { username } } } } }",
    ),
    (
        "d: a product page with totals, parent categories, the 3 latest transactions and stocks with quantityAt",
        "query($n: Int) { products(first: $n) { nodes { totalQuantity \
         category { parent { name } } transactions(first: 3) { nodes { quantity user { username } \
         store { code } } } stocks { lowStock quantityAt(at: \"2026-02-01T05:00:00Z\") \
         product { sku } } } } }",
    ),
    (
        "d1: a product page by name in one category with the 3 latest transactions of each",
        "query($n: Int) { products(first: $n, orderBy: {field: NAME}, filter: {categoryId: \"CAT2\"}) \
         { nodes { transactions(first: 3) { nodes { quantity user { username } store { code } } } } } }",
    ),
    (
        "d2: a store's stock page with each row's quantity at a past moment",
        "query($n: Int) { store(code: \"S2\") { stocks(first: $n) { nodes { \
         quantityAt(at: \"2026-02-01T05:00:00Z\") lowStock product { sku } } } } }",
    ),
    (
        "e: the category tree with subtree products, counts and totals",
        "query($n: Int) { categories { name totalQuantity children { name totalQuantity(storeId: \
         \"STORE1\") products(first: $n, includeDescendants: true) { totalCount nodes { sku \
         category { parent { name } } } } children { name products(first: $n) { nodes { sku } } } } } }",
    ),
    (
        "f: the ledger with product, store and user (and the user's stores)",
        "query($n: Int) { transactions(first: $n) { nodes { quantity product { sku category \
         { name } } store { code } user { username stores { code } } } } }",
    ),
    (
        "g: stores with their stock pages and ledger pages",
        "query($n: Int) { stores(first: $n) { totalCount nodes { code stocks(first: 5, filter: \
         {lowStock: false}) { totalCount nodes { product { sku } } } transactions(first: 2) \
         { nodes { product { sku } } } } } }",
    ),
    (
        "h: low stock across stores with product and store",
        "query($n: Int) { lowStock(first: $n) { totalCount nodes { quantity product { sku } \
         store { code } } } }",
    ),
];

#[tokio::test]
async fn nested_reads_cost_the_same_number_of_queries_for_page_sizes_1_10_and_100() {
    // Pages of 100 under pages nest past the default complexity limit, which is not what
    // this test is about.
    let mut settings = stockroom::config::ServeSettings::default();
    settings.limits.max_complexity = 10_000_000;
    let (app, counter) = TestApp::spawn_counting(settings).await;
    seed(&app, 150).await;
    let token = app.admin_token().await;
    let store1 = gid("Store", "1");
    // The first request of a token may also record its last use: warm up.
    ok(&app, &token, "{ viewer { username } }", json!({})).await;
    let mut report = Vec::new();
    for (name, query) in SHAPES {
        let query = query
            .replace("STORE1", &store1)
            .replace("CAT2", &gid("Category", "2"));
        let mut costs = Vec::new();
        for n in [1, 10, 100] {
            costs.push(cost(&app, &counter, &token, &query, json!({ "n": n })).await);
        }
        report.push(format!("{name}: {costs:?}"));
        assert!(
            costs.iter().all(|c| *c == costs[0]),
            "{name}: statements for page sizes 1, 10, 100 = {costs:?}"
        );
    }
    // `nodes` of many IDs of several types: one query per type (3N ids, at most 100).
    let mut costs = Vec::new();
    for n in [1, 10, 33] {
        let ids: Vec<String> = (1..=n)
            .flat_map(|i| {
                [
                    gid("Product", &i.to_string()),
                    gid("Stock", &format!("{i}:1")),
                    gid("InventoryTransaction", &i.to_string()),
                ]
            })
            .collect();
        let q = "query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Product { sku category { name } } \
                 ... on Stock { quantity store { code } } ... on InventoryTransaction { quantity } } }";
        costs.push(cost(&app, &counter, &token, q, json!({ "ids": ids })).await);
    }
    report.push(format!(
        "i: nodes of 3N mixed IDs (N = 1, 10, 33): {costs:?}"
    ));
    assert!(costs.iter().all(|c| *c == costs[0]), "nodes: {costs:?}");
    eprintln!(
        "SQL statements per request (page sizes 1, 10, 100):\n{}",
        report.join("\n")
    );
}

#[tokio::test]
async fn a_store_stock_page_reads_its_products_in_its_own_statement() {
    let (app, counter) = TestApp::spawn_counting(stockroom::config::ServeSettings::default()).await;
    seed(&app, 30).await;
    let token = app.admin_token().await;
    ok(&app, &token, "{ viewer { username } }", json!({})).await;
    let query = "{ store(code: \"S1\") { stocks(first: 20) { nodes { quantity product { sku name \
                 category { name } } } } } }";
    // The fewest of five runs (see `cost`).
    let mut fewest: Option<Vec<String>> = None;
    for _ in 0..5 {
        let before = counter.get();
        let data = ok(&app, &token, query, json!({})).await;
        let nodes = data["store"]["stocks"]["nodes"].as_array().unwrap().clone();
        assert!(!nodes.is_empty(), "{data}");
        assert!(
            nodes.iter().all(|n| n["product"]["sku"].is_string()),
            "{data}"
        );
        let statements = counter.log()[before..].to_vec();
        if fewest.as_ref().is_none_or(|f| statements.len() < f.len()) {
            fewest = Some(statements);
        }
    }
    let statements = fewest.unwrap();
    // The token check and the page with the products: the store and the categories come
    // from the copy of the reference tables the token check vouched for.
    assert_eq!(statements.len(), 2, "{statements:#?}");
    assert!(
        statements.iter().all(|s| !s.contains("FROM \"products\"")),
        "the products were loaded again: {statements:#?}"
    );
    assert!(
        statements
            .iter()
            .all(|s| !s.contains("FROM \"stores\"") && !s.contains("FROM \"categories\"")),
        "a store or a category was read from the database: {statements:#?}"
    );
}
