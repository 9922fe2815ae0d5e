//! Keyset pagination: walking every connection forward (`first`/`after`) and backward
//! (`last`/`before`) yields every row exactly once in the contract's order; empty pages,
//! exactly one page, the last page and `first: 0` say truthfully whether rows follow.

use serde_json::{Value, json};

use crate::{
    helpers::TestApp,
    read_fixture::{LEDGER_ROWS, gid, ok, seed},
};

const N: i32 = 40;
const PAGE: i32 = 7;

fn name(p: i32) -> String {
    format!(
        "{} {}",
        ["Hammer", "anvil", "Chisel", "drill"][(p % 4) as usize],
        p % 30
    )
}

/// Walks a connection at `path` (e.g. `products`) of `query` (which takes $first/$after or
/// $last/$before) both ways; returns the `key` of each node forward and backward.
async fn walk(
    app: &TestApp,
    token: &str,
    query: &str,
    vars: Value,
    conn: impl Fn(&Value) -> Value,
    key: impl Fn(&Value) -> String,
    backward_too: bool,
) -> (Vec<String>, Vec<String>) {
    let mut forward = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut v = vars.clone();
        v["first"] = json!(PAGE);
        v["after"] = json!(after);
        let data = ok(app, token, query, v).await;
        let c = conn(&data);
        let nodes = c["edges"].as_array().unwrap();
        assert!(nodes.len() <= PAGE as usize);
        assert_eq!(c["pageInfo"]["hasPreviousPage"], after.is_some());
        forward.extend(nodes.iter().map(|e| key(&e["node"])));
        if c["pageInfo"]["hasNextPage"] == false {
            break;
        }
        assert_eq!(nodes.len(), PAGE as usize, "a page before the last is full");
        after = c["pageInfo"]["endCursor"].as_str().map(String::from);
        assert_eq!(c["pageInfo"]["endCursor"], nodes.last().unwrap()["cursor"]);
    }
    let mut backward = Vec::new();
    if backward_too {
        let mut before: Option<String> = None;
        loop {
            let mut v = vars.clone();
            v["last"] = json!(PAGE);
            v["before"] = json!(before);
            let data = ok(app, token, query, v).await;
            let c = conn(&data);
            let nodes = c["edges"].as_array().unwrap();
            let mut page: Vec<String> = nodes.iter().map(|e| key(&e["node"])).collect();
            page.extend(backward);
            backward = page;
            if c["pageInfo"]["hasPreviousPage"] == false {
                break;
            }
            before = c["pageInfo"]["startCursor"].as_str().map(String::from);
        }
    }
    (forward, backward)
}

#[tokio::test]
async fn products_walk_every_order_both_ways_and_yield_every_row_once_in_order() {
    let app = TestApp::spawn().await;
    seed(&app, N).await;
    let token = app.admin_token().await;
    let q = "query($first: Int, $after: String, $last: Int, $before: String, $o: ProductOrder, $f: ProductFilter) \
             { products(first: $first, after: $after, last: $last, before: $before, orderBy: $o, filter: $f) \
             { totalCount edges { cursor node { sku } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";
    let live: Vec<i32> = (1..=N).filter(|p| p % 10 != 0).collect();
    let sku = |p: &i32| format!("P-{p:03}");
    let orders: Vec<(&str, Vec<i32>)> = vec![
        ("SKU", {
            let mut v = live.clone();
            v.sort_by_key(sku);
            v
        }),
        ("NAME", {
            let mut v = live.clone();
            v.sort_by(|a, b| (name(*a).into_bytes(), a).cmp(&(name(*b).into_bytes(), b)));
            v
        }),
        ("CREATED_AT", {
            let mut v = live.clone();
            v.sort_by_key(|p| (p / 2, *p));
            v
        }),
    ];
    for (field, asc) in orders {
        for direction in ["ASC", "DESC"] {
            let mut want: Vec<String> = asc.iter().map(sku).collect();
            if direction == "DESC" {
                want.reverse();
            }
            let vars = json!({ "o": { "field": field, "direction": direction } });
            let (fwd, bwd) = walk(
                &app,
                &token,
                q,
                vars,
                |d| d["products"].clone(),
                |n| n["sku"].as_str().unwrap().to_string(),
                true,
            )
            .await;
            assert_eq!(fwd, want, "{field} {direction} forward");
            assert_eq!(bwd, want, "{field} {direction} backward");
        }
    }
    // With a filter the walk stays inside it; includeArchived brings the archived rows back.
    let (fwd, bwd) = walk(
        &app,
        &token,
        q,
        json!({ "f": { "includeArchived": true, "search": "-0" } }),
        |d| d["products"].clone(),
        |n| n["sku"].as_str().unwrap().to_string(),
        true,
    )
    .await;
    let want: Vec<String> = (1..=N).map(|p| sku(&p)).collect();
    assert_eq!(fwd, want);
    assert_eq!(bwd, want);
}

#[tokio::test]
async fn store_stocks_low_stock_stores_and_ledgers_walk_in_their_orders() {
    let app = TestApp::spawn().await;
    seed(&app, N).await;
    let token = app.admin_token().await;
    let held = |p: i32, s: i32| (p + s) % 3 != 0;
    let sku = |p: i32| format!("P-{p:03}");

    // A store's stock rows, product-SKU order, both ways.
    let q = "query($first: Int, $after: String, $last: Int, $before: String) { store(code: \"S2\") \
             { stocks(first: $first, after: $after, last: $last, before: $before) { totalCount \
             edges { cursor node { product { sku } } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }";
    let (fwd, bwd) = walk(
        &app,
        &token,
        q,
        json!({}),
        |d| d["store"]["stocks"].clone(),
        |n| n["product"]["sku"].as_str().unwrap().to_string(),
        true,
    )
    .await;
    let want: Vec<String> = (1..=N).filter(|p| held(*p, 2)).map(sku).collect();
    assert_eq!(fwd, want);
    assert_eq!(bwd, want);

    // Low stock: store code, then SKU.
    let q = "query($first: Int, $after: String) { lowStock(first: $first, after: $after) { \
             edges { cursor node { store { code } product { sku } } } pageInfo { hasNextPage hasPreviousPage endCursor } } }";
    let (fwd, _) = walk(
        &app,
        &token,
        q,
        json!({}),
        |d| d["lowStock"].clone(),
        |n| {
            format!(
                "{}/{}",
                n["store"]["code"].as_str().unwrap(),
                n["product"]["sku"].as_str().unwrap()
            )
        },
        false,
    )
    .await;
    let mut want = Vec::new();
    for s in 1..=3 {
        for p in (1..=N).filter(|p| held(*p, s) && p % 7 == 0) {
            want.push(format!("S{s}/{}", sku(p)));
        }
    }
    assert_eq!(fwd, want);

    // A product's ledger, newest first: (created_at DESC, id DESC); ids grow with (k, store).
    let q = "query($first: Int, $after: String) { product(sku: \"P-005\") { transactions(first: $first, after: $after) { \
             edges { cursor node { note store { code } } } pageInfo { hasNextPage hasPreviousPage endCursor } } } }";
    let (fwd, _) = walk(
        &app,
        &token,
        q,
        json!({}),
        |d| d["product"]["transactions"].clone(),
        |n| {
            format!(
                "{}@{}",
                n["note"].as_str().unwrap(),
                n["store"]["code"].as_str().unwrap()
            )
        },
        false,
    )
    .await;
    let mut want = Vec::new();
    for k in (1..=LEDGER_ROWS).rev() {
        for s in (1..=3).rev().filter(|s| held(5, *s)) {
            want.push(format!("row {k}@S{s}"));
        }
    }
    assert_eq!(fwd, want);

    // The whole ledger of a store through the top-level connection, newest first, every row once.
    let q = "query($first: Int, $after: String, $f: TransactionFilter) { transactions(first: $first, after: $after, filter: $f) { \
             edges { cursor node { note product { sku } } } pageInfo { hasNextPage hasPreviousPage endCursor } } }";
    let (fwd, _) = walk(
        &app,
        &token,
        q,
        json!({ "f": { "storeId": gid("Store", "3") } }),
        |d| d["transactions"].clone(),
        |n| {
            format!(
                "{}@{}",
                n["note"].as_str().unwrap(),
                n["product"]["sku"].as_str().unwrap()
            )
        },
        false,
    )
    .await;
    let mut want = Vec::new();
    for k in (1..=LEDGER_ROWS).rev() {
        for p in (1..=N).rev().filter(|p| held(*p, 3)) {
            want.push(format!("row {k}@{}", sku(p)));
        }
    }
    assert_eq!(fwd, want);

    // Stores: exactly one page, then a last page of one.
    let d = ok(&app, &token, "{ stores(first: 3) { totalCount nodes { code } pageInfo { hasNextPage hasPreviousPage } } }", json!({})).await;
    assert_eq!(
        d["stores"]["nodes"],
        json!([{"code": "S1"}, {"code": "S2"}, {"code": "S3"}])
    );
    assert_eq!(
        d["stores"]["pageInfo"],
        json!({"hasNextPage": false, "hasPreviousPage": false})
    );
    let d = ok(
        &app,
        &token,
        "{ stores(first: 2) { pageInfo { hasNextPage endCursor } } }",
        json!({}),
    )
    .await;
    assert_eq!(d["stores"]["pageInfo"]["hasNextPage"], true);
    let cursor = d["stores"]["pageInfo"]["endCursor"].clone();
    let d = ok(&app, &token, "query($c: String) { stores(first: 2, after: $c) { nodes { code } pageInfo { hasNextPage hasPreviousPage } } }", json!({ "c": cursor })).await;
    assert_eq!(d["stores"]["nodes"], json!([{"code": "S3"}]));
    assert_eq!(
        d["stores"]["pageInfo"],
        json!({"hasNextPage": false, "hasPreviousPage": true})
    );
}

#[tokio::test]
async fn first_zero_and_empty_connections_say_truthfully_whether_rows_follow() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let q = "{ products(first: 0) { totalCount edges { cursor } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } \
             stores { totalCount nodes { code } pageInfo { hasNextPage startCursor endCursor } } \
             lowStock { totalCount nodes { id } } transactions { nodes { id } pageInfo { hasNextPage } } categories { name } }";
    let d = ok(&app, &token, q, json!({})).await;
    assert_eq!(
        d,
        json!({
            "products": { "totalCount": 0, "edges": [], "pageInfo": { "hasNextPage": false, "hasPreviousPage": false, "startCursor": null, "endCursor": null } },
            "stores": { "totalCount": 0, "nodes": [], "pageInfo": { "hasNextPage": false, "startCursor": null, "endCursor": null } },
            "lowStock": { "totalCount": 0, "nodes": [] },
            "transactions": { "nodes": [], "pageInfo": { "hasNextPage": false } },
            "categories": []
        })
    );
    seed(&app, 5).await;
    let d = ok(&app, &token, "{ products(first: 0) { totalCount edges { cursor } pageInfo { hasNextPage } } \
                               all: products(first: 4) { nodes { sku } pageInfo { hasNextPage } } \
                               last: products(last: 0) { edges { cursor } pageInfo { hasPreviousPage } } }", json!({})).await;
    assert_eq!(
        d,
        json!({
            "products": { "totalCount": 5, "edges": [], "pageInfo": { "hasNextPage": true } },
            "all": { "nodes": [{"sku": "P-001"}, {"sku": "P-002"}, {"sku": "P-003"}, {"sku": "P-004"}],
                     "pageInfo": { "hasNextPage": true } },
            "last": { "edges": [], "pageInfo": { "hasPreviousPage": true } }
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn walks_yield_every_row_once_in_order_while_rows_are_being_inserted() {
    use std::sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    };

    let app = TestApp::spawn().await;
    seed(&app, N).await;
    let token = app.admin_token().await;
    let db = crate::helpers::sql(&app.db_url).await;
    let ids = |rows: Vec<tokio_postgres::Row>| -> Vec<String> {
        rows.iter().map(|r| r.get::<_, String>(0)).collect()
    };
    let original_skus = ids(db
        .query("SELECT sku FROM products WHERE NOT archived", &[])
        .await
        .unwrap());
    let original_ledger = ids(db
        .query("SELECT id::text FROM inventory_transactions", &[])
        .await
        .unwrap());

    // A writer adds products whose SKUs fall before and after any point of the walk, and
    // ledger rows (newest, so behind a newest-first walk), until the walks are done. An
    // OFFSET pagination would show rows twice as inserted rows push the others down.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, url) = (stop.clone(), app.db_url.clone());
        tokio::spawn(async move {
            let db = crate::helpers::sql(&url).await;
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let sku = format!("P-{:03}-new-{i}", (i * 7) % N + 1);
                // (The fixture set its ids by hand: these take ids far above them.)
                db.execute(
                    "INSERT INTO products (id, sku, name, price, category_id) \
                     VALUES (100000 + $2, $1, 'New', 1, 1)",
                    &[&sku, &i],
                )
                .await
                .unwrap();
                db.execute(
                    "INSERT INTO inventory_transactions \
                     (id, type, product_id, store_id, quantity, quantity_after) \
                     VALUES (10000000 + $1, 'INBOUND', 1, 1, 1, 1)",
                    &[&i],
                )
                .await
                .unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            i
        })
    };

    let q = "query($first: Int, $after: String, $last: Int, $before: String) \
             { products(first: $first, after: $after, last: $last, before: $before) \
             { edges { cursor node { sku } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";
    let (forward, backward) = walk(
        &app,
        &token,
        q,
        json!({}),
        |d| d["products"].clone(),
        |n| n["sku"].as_str().unwrap().to_string(),
        true,
    )
    .await;
    let q = "query($first: Int, $after: String) { transactions(first: $first, after: $after) { \
             edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage endCursor } } }";
    let (ledger, _) = walk(
        &app,
        &token,
        q,
        json!({}),
        |d| d["transactions"].clone(),
        |n| n["id"].as_str().unwrap().to_string(),
        false,
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let inserted = writer.await.unwrap();
    assert!(
        inserted >= 3,
        "rows were inserted during the walks: {inserted}"
    );

    // Products: strictly ascending forward, strictly descending backward (so every row at
    // most once), and every product that existed before is there.
    assert!(forward.windows(2).all(|w| w[0] < w[1]), "{forward:?}");
    assert!(backward.windows(2).all(|w| w[0] < w[1]), "{backward:?}");
    for sku in &original_skus {
        assert!(forward.contains(sku), "{sku} forward");
        assert!(backward.contains(sku), "{sku} backward");
    }
    // The ledger: strictly (created_at DESC, id DESC), every row that existed before there.
    let order: std::collections::HashMap<String, (std::time::SystemTime, i64)> = db
        .query("SELECT id, created_at FROM inventory_transactions", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let id: i64 = r.get(0);
            (gid("InventoryTransaction", &id.to_string()), (r.get(1), id))
        })
        .collect();
    let keys: Vec<(std::time::SystemTime, i64)> = ledger.iter().map(|g| order[g]).collect();
    assert!(
        keys.windows(2).all(|w| w[0] > w[1]),
        "newest first, each once"
    );
    for id in &original_ledger {
        assert!(
            ledger.contains(&gid("InventoryTransaction", id)),
            "ledger row {id}"
        );
    }
}

#[tokio::test]
async fn a_product_by_sku_answers_its_stock_rows_and_ledger_pages_as_a_product_by_id() {
    // `product(sku:)` reads the stock rows and the one ledger page it selects along with the
    // product; `product(id:)` loads them in waves. Same answers, whatever the arguments.
    let app = TestApp::spawn().await;
    seed(&app, N).await;
    let token = app.admin_token().await;
    let id = ok(
        &app,
        &token,
        "{ product(sku: \"P-005\") { id } }",
        json!({}),
    )
    .await["product"]["id"]
        .clone();
    let cursor = ok(
        &app,
        &token,
        "{ product(sku: \"P-005\") { transactions(first: 4) { pageInfo { endCursor } } } }",
        json!({}),
    )
    .await["product"]["transactions"]["pageInfo"]["endCursor"]
        .clone();
    let selections = [
        "stocks { quantity store { code } } transactions(first: $first) { edges { cursor node { id note type } } }",
        "transactions(first: $first, after: $after) { edges { node { id } } pageInfo { hasNextPage } }",
        "transactions(first: $first, type: $type) { nodes { id type } pageInfo { hasNextPage } }",
        "transactions { nodes { id } } stocks { quantity }",
        "a: transactions(first: 2) { nodes { id } } b: transactions(first: 3) { nodes { id } }",
    ];
    for selection in selections {
        for vars in [
            json!({ "first": 3, "after": cursor, "type": "INBOUND" }),
            json!({ "first": 5, "after": null, "type": "OUTBOUND" }),
        ] {
            let by = |root: &str| {
                let body = format!("{{ product({root}) {{ sku {selection} }} }}");
                let declared: Vec<&str> = [
                    ("$id", "$id: ID!"),
                    ("$first", "$first: Int"),
                    ("$after", "$after: String"),
                    ("$type", "$type: TransactionType"),
                ]
                .into_iter()
                .filter(|(name, _)| body.contains(name))
                .map(|(_, declaration)| declaration)
                .collect();
                if declared.is_empty() {
                    body
                } else {
                    format!("query({}) {body}", declared.join(", "))
                }
            };
            let mut with = vars.clone();
            with["id"] = id.clone();
            let by_sku = ok(&app, &token, &by("sku: \"P-005\""), with.clone()).await;
            let by_id = ok(&app, &token, &by("id: $id"), with).await;
            assert_eq!(by_sku, by_id, "{selection} with {vars}");
            assert_eq!(by_sku["product"]["sku"], "P-005");
        }
    }
}
