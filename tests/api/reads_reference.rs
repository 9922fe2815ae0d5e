//! Stores and categories served from the process's copy of them are never older than the
//! database was when the request's token check ran: whoever changed them (another instance,
//! another tool, an earlier operation of the same batch), the very next read sees it.

use serde_json::json;

use crate::{
    helpers::{TestApp, sql},
    http_support::post_json,
    read_fixture::{gid, ok, seed},
};

/// Names a store (by code), a stock row's store and a product's category.
const NAMES: &str = "{ store(code: \"S1\") { name } product(sku: \"P-001\") { category { name } \
                     stocks { store { code name } } } }";

/// The names `NAMES` reads: the store's, store S1's on the product's stock rows, the category's.
fn names(data: &serde_json::Value) -> (String, Vec<String>, String) {
    let stocks = data["product"]["stocks"].as_array().unwrap();
    let on_rows = stocks
        .iter()
        .filter(|s| s["store"]["code"] == "S1")
        .map(|s| s["store"]["name"].as_str().unwrap().to_string())
        .collect();
    (
        data["store"]["name"].as_str().unwrap().to_string(),
        on_rows,
        data["product"]["category"]["name"]
            .as_str()
            .unwrap()
            .to_string(),
    )
}

#[tokio::test]
async fn a_store_or_category_renamed_by_another_writer_is_read_renamed_by_the_very_next_request() {
    let app = TestApp::spawn().await;
    seed(&app, 4).await;
    let token = app.admin_token().await;
    // Another instance of the service on the same database.
    let other = TestApp::spawn_on(&app.db_url, stockroom::config::ServeSettings::default()).await;
    let db = sql(&app.db_url).await;
    for round in 0..3 {
        // Twice, so the second read is served from the copy the first one brought.
        for _ in 0..2 {
            let (store, on_rows, category) = names(&ok(&app, &token, NAMES, json!({})).await);
            let expected = if round == 0 {
                "Store One".to_string()
            } else {
                format!("Store One {round}")
            };
            assert_eq!(store, expected);
            assert_eq!(on_rows, vec![expected.clone()]);
            let expected = if round == 0 {
                "Beta".to_string()
            } else {
                format!("Beta {round}")
            };
            assert_eq!(category, expected);
        }
        let next = round + 1;
        if next % 2 == 1 {
            // Another tool, behind the service's back.
            db.batch_execute(&format!(
                "UPDATE stores SET name = 'Store One {next}' WHERE code = 'S1';
                 UPDATE categories SET name = 'Beta {next}' WHERE id = 2"
            ))
            .await
            .unwrap();
        } else {
            // The other instance.
            let renamed = other
                .graphql_as(
                    &token,
                    "mutation($s: UpdateStoreInput!, $c: UpdateCategoryInput!) { \
                     updateStore(input: $s) { name } updateCategory(input: $c) { name } }",
                    json!({
                        "s": { "id": gid("Store", "1"), "name": format!("Store One {next}") },
                        "c": { "id": gid("Category", "2"), "name": format!("Beta {next}") },
                    }),
                )
                .await;
            assert!(renamed.get("errors").is_none(), "{renamed}");
        }
    }
}

#[tokio::test]
async fn a_query_after_a_mutation_in_one_batch_reads_what_the_mutation_wrote() {
    let app = TestApp::spawn().await;
    seed(&app, 4).await;
    let token = app.admin_token().await;
    let read = json!({ "query": "{ store(code: \"S1\") { name } product(sku: \"P-001\") \
                                 { stocks { store { code name } } } }" });
    // Bring the copy in.
    ok(&app, &token, NAMES, json!({})).await;
    let batch = json!([
        read,
        {
            "query": "mutation($s: UpdateStoreInput!) { updateStore(input: $s) { name } }",
            "variables": { "s": { "id": gid("Store", "1"), "name": "Renamed" } },
        },
        read,
    ]);
    let res = post_json(&app, Some(&token), None, &batch).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let items = res.body.as_array().unwrap();
    assert_eq!(
        items[0]["data"]["store"]["name"], "Store One",
        "{}",
        res.text
    );
    assert_eq!(items[2]["data"]["store"]["name"], "Renamed", "{}", res.text);
    let on_rows: Vec<&serde_json::Value> = items[2]["data"]["product"]["stocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["store"]["code"] == "S1")
        .map(|s| &s["store"]["name"])
        .collect();
    assert_eq!(on_rows, vec!["Renamed"], "{}", res.text);
}

#[tokio::test]
async fn reference_tables_too_large_to_keep_are_read_from_the_database_and_stay_exact() {
    let app = TestApp::spawn().await;
    seed(&app, 4).await;
    let token = app.admin_token().await;
    let db = sql(&app.db_url).await;
    let max = stockroom::db::models::reference::MAX_ROWS;
    db.batch_execute(&format!(
        "INSERT INTO categories (id, parent_id, name) SELECT 1000 + g, 4, 'filler ' || g \
         FROM generate_series(1, {max}) g"
    ))
    .await
    .unwrap();
    for name in ["Beta", "Beta again"] {
        db.execute("UPDATE categories SET name = $1 WHERE id = 2", &[&name])
            .await
            .unwrap();
        for _ in 0..2 {
            let (store, _, category) = names(&ok(&app, &token, NAMES, json!({})).await);
            assert_eq!((store.as_str(), category.as_str()), ("Store One", name));
        }
    }
}

#[tokio::test]
async fn without_its_version_row_every_request_still_authenticates_and_reads_the_database() {
    let app = TestApp::spawn().await;
    seed(&app, 4).await;
    let token = app.admin_token().await;
    ok(&app, &token, NAMES, json!({})).await;
    let db = sql(&app.db_url).await;
    db.batch_execute(
        "DELETE FROM reference_version; UPDATE stores SET name = 'Gone' WHERE code = 'S1'",
    )
    .await
    .unwrap();
    let (store, on_rows, _) = names(&ok(&app, &token, NAMES, json!({})).await);
    assert_eq!(
        (store.as_str(), on_rows),
        ("Gone", vec!["Gone".to_string()])
    );
}

#[tokio::test]
async fn a_products_stock_rows_are_in_store_code_order_from_the_copy_and_from_the_database() {
    let app = TestApp::spawn().await;
    seed(&app, 4).await;
    let token = app.admin_token().await;
    let db = sql(&app.db_url).await;
    // Codes in another order than ids: store 1 sorts last, a new store 9 first, and every
    // product is stocked at store 9.
    db.batch_execute(
        "UPDATE stores SET code = 'Z1' WHERE id = 1;
         INSERT INTO stores (id, code, name) VALUES (9, 'A9', 'Store Nine');
         INSERT INTO stocks (product_id, store_id, quantity) SELECT id, 9, 1 FROM products",
    )
    .await
    .unwrap();
    let codes = |product: &serde_json::Value| -> Vec<String> {
        product["stocks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["store"]["code"].as_str().unwrap().to_string())
            .collect()
    };
    let page = "{ products(first: 10, orderBy: {field: SKU, direction: ASC}) { edges { node { \
                id stocks { store { code } } } } } }";
    // Twice: the first request brings the copy the second orders by.
    for _ in 0..2 {
        let data = ok(&app, &token, page, json!({})).await;
        let edges = data["products"]["edges"].as_array().unwrap();
        assert_eq!(edges.len(), 4, "{data}");
        for edge in edges {
            let node = &edge["node"];
            let listed = codes(node);
            let mut sorted = listed.clone();
            sorted.sort();
            assert_eq!(listed, sorted);
            assert_eq!(listed.first().map(String::as_str), Some("A9"));
            // A mutation reads without the copy, in the database's order: the same list.
            let updated = app
                .graphql_as(
                    &token,
                    "mutation($i: UpdateProductInput!) { updateProduct(input: $i) { \
                     stocks { store { code } } } }",
                    json!({ "i": { "id": node["id"] } }),
                )
                .await;
            assert!(updated.get("errors").is_none(), "{updated}");
            assert_eq!(codes(&updated["data"]["updateProduct"]), listed);
        }
    }
}

/// Every store, two at a time by cursor, and the category tree two levels down.
const LISTS: &str = "query($after: String) { stores(first: 2, after: $after) { edges { node { \
                     code } } pageInfo { hasNextPage endCursor } } categories { id name \
                     children { id name children { id name } } } }";

/// The store codes of a walk through `stores` with [`LISTS`], the category tree of its first
/// page (both the same in three walks), and the fewest statements each page cost.
async fn walk_lists(
    app: &TestApp,
    counter: &crate::helpers::QueryCounter,
    token: &str,
) -> (Vec<String>, serde_json::Value, Vec<usize>) {
    let mut fewest: Vec<usize> = Vec::new();
    let mut walked: Option<(Vec<String>, serde_json::Value)> = None;
    for _ in 0..3 {
        let (mut codes, mut tree, mut costs, mut after) = (Vec::new(), None, Vec::new(), None);
        loop {
            let before = counter.get();
            let data = ok(app, token, LISTS, json!({ "after": after })).await;
            costs.push(counter.get() - before);
            let page = &data["stores"];
            for edge in page["edges"].as_array().unwrap() {
                codes.push(edge["node"]["code"].as_str().unwrap().to_string());
            }
            tree.get_or_insert(data["categories"].clone());
            if page["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = Some(page["pageInfo"]["endCursor"].clone());
        }
        fewest = if fewest.is_empty() {
            costs
        } else {
            fewest.iter().zip(costs).map(|(a, b)| (*a).min(b)).collect()
        };
        let this = (codes, tree.unwrap());
        match &walked {
            Some(first) => assert_eq!(&this, first, "a later walk listed otherwise"),
            None => walked = Some(this),
        }
    }
    let (codes, tree) = walked.unwrap();
    (codes, tree, fewest)
}

#[tokio::test]
async fn store_and_category_lists_come_from_the_copy_in_the_databases_order_for_no_statement() {
    let (app, counter) = TestApp::spawn_counting(stockroom::config::ServeSettings::default()).await;
    seed(&app, 4).await;
    let token = app.admin_token().await;
    let db = sql(&app.db_url).await;
    // Codes and names in another order than ids; a lowercase code sorts after every capital
    // (byte order, `COLLATE "C"`); two roots and two children share a name (then id order).
    db.batch_execute(
        "UPDATE stores SET code = 'Z1' WHERE id = 1;
         INSERT INTO stores (id, code, name) VALUES (9, 'A9', 'Nine'), (8, 'a8', 'Eight');
         INSERT INTO categories (id, parent_id, name) VALUES (7, 1, 'Beta'), (6, NULL, 'Alpha')",
    )
    .await
    .unwrap();
    let cat = |id: &str, name: &str, children: serde_json::Value| json!({ "id": gid("Category", id), "name": name, "children": children });
    let leaf = |id: &str, name: &str| json!({ "id": gid("Category", id), "name": name });
    let expected_tree = json!([
        cat(
            "1",
            "Alpha",
            json!([
                cat("5", "Aardvark", json!([])),
                cat("2", "Beta", json!([leaf("3", "Gamma")])),
                cat("7", "Beta", json!([])),
            ])
        ),
        cat("6", "Alpha", json!([])),
        cat("4", "Delta", json!([])),
    ]);
    let expected_codes = ["A9", "S2", "S3", "Z1", "a8"];

    let (codes, tree, costs) = walk_lists(&app, &counter, &token).await;
    assert_eq!(codes, expected_codes);
    assert_eq!(tree, expected_tree);
    // The token check only: lists, children and their cursors come from the copy.
    assert_eq!(costs, vec![1, 1, 1], "{:#?}", counter.log());

    // Another writer adds a store and a category: the very next request lists them.
    db.batch_execute(
        "INSERT INTO stores (id, code, name) VALUES (10, 'B10', 'Ten');
         INSERT INTO categories (id, parent_id, name) VALUES (11, 6, 'Omega')",
    )
    .await
    .unwrap();
    let (codes, tree, _) = walk_lists(&app, &counter, &token).await;
    assert_eq!(codes, ["A9", "B10", "S2", "S3", "Z1", "a8"]);
    assert_eq!(tree[1]["children"], json!([cat("11", "Omega", json!([]))]));

    // Without a copy (no version row) the database answers: the same lists.
    db.batch_execute("DELETE FROM reference_version")
        .await
        .unwrap();
    let (from_db, tree_from_db, costs) = walk_lists(&app, &counter, &token).await;
    assert_eq!(from_db, codes);
    assert_eq!(tree_from_db, tree);
    assert!(costs.iter().all(|c| *c > 1), "{costs:?}");
}
