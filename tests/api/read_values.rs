//! The read API returns what was inserted: every field of the contract's object types, the
//! category tree, derived values (totals, low stock, quantity at a moment), global IDs and
//! `node`/`nodes`, filters, and the refusals of bad arguments.

use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, error_code},
    read_fixture::{LEDGER_ROWS, gid, ok, seed},
};

/// Products in the fixture of these tests.
const N: i32 = 30;

fn held(p: i32, s: i32) -> bool {
    (p + s) % 3 != 0
}
fn qty(p: i32, s: i32, k: i64) -> i64 {
    1 + (i64::from(p + s) + k) % 5
}
fn stock(p: i32, s: i32) -> i64 {
    (1..=LEDGER_ROWS).map(|k| qty(p, s, k)).sum()
}
fn category(p: i32) -> i32 {
    [3, 2, 4, 5][(p % 4) as usize]
}
fn archived(p: i32) -> bool {
    p % 10 == 0
}
fn sku(p: i32) -> String {
    format!("P-{p:03}")
}
fn ts(s: &str) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(s).unwrap()
}
fn at(v: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    ts(v.as_str().unwrap())
}

async fn setup() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    seed(&app, N).await;
    let token = app.admin_token().await;
    (app, token)
}

#[tokio::test]
async fn a_product_its_stock_rows_and_its_ledger_read_back_exactly_as_inserted() {
    let (app, token) = setup().await;
    let q = r#"query($s2: ID!, $s3: ID!) { product(sku: "P-007") {
        id sku name description price archived createdAt updatedAt totalQuantity
        category { id name parent { name parent { name } } }
        stocks { id quantity reorderPoint lowStock updatedAt product { sku } store { id code name }
                 at3: quantityAt(at: "2026-02-01T03:00:00Z")
                 offset: quantityAt(at: "2026-02-01T05:00:00+02:00")
                 before: quantityAt(at: "2026-01-31T00:00:00Z")
                 after: quantityAt(at: "2030-01-01T00:00:00Z") }
        s2: stock(storeId: $s2) { id }
        s3: stock(storeId: $s3) { id quantity }
        transactions(first: 3) { edges { cursor node { id type quantity quantityAfter note
            reference createdAt user { username displayName role } store { code } product { sku } } }
            pageInfo { hasNextPage hasPreviousPage startCursor endCursor } }
        inbound: transactions(type: INBOUND, first: 1) { nodes { type } }
        outbound: transactions(type: OUTBOUND) { nodes { id } pageInfo { hasNextPage } }
    } }"#;
    let data = ok(
        &app,
        &token,
        q,
        json!({ "s2": gid("Store", "2"), "s3": gid("Store", "3") }),
    )
    .await;
    let p = &data["product"];
    assert_eq!(p["id"], gid("Product", "7"));
    assert_eq!(p["sku"], "P-007");
    assert_eq!(p["name"], "drill 7");
    assert_eq!(p["description"], "Description 7");
    assert_eq!(p["price"], "10.50");
    assert_eq!(p["archived"], false);
    assert_eq!(at(&p["createdAt"]), ts("2026-01-01T03:00:00Z"));
    assert_eq!(at(&p["updatedAt"]), ts("2026-01-05T00:07:00Z"));
    assert_eq!(p["totalQuantity"], stock(7, 1) + stock(7, 3));
    assert_eq!(p["category"]["id"], gid("Category", "5"));
    assert_eq!(p["category"]["name"], "Aardvark");
    assert_eq!(p["category"]["parent"]["name"], "Alpha");
    assert_eq!(p["category"]["parent"]["parent"], Value::Null);

    let stocks = p["stocks"].as_array().unwrap();
    assert_eq!(stocks.len(), 2, "held in S1 and S3 only: {stocks:?}");
    for (row, s) in stocks.iter().zip([1, 3]) {
        assert_eq!(row["id"], gid("Stock", &format!("7:{s}")));
        assert_eq!(row["quantity"], stock(7, s));
        assert_eq!(row["reorderPoint"], 1000);
        assert_eq!(row["lowStock"], true);
        assert_eq!(at(&row["updatedAt"]), ts("2026-03-01T00:00:00Z"));
        assert_eq!(row["product"]["sku"], "P-007");
        assert_eq!(row["store"]["id"], gid("Store", &s.to_string()));
        assert_eq!(row["store"]["code"], format!("S{s}"));
        let upto3: i64 = (1..=3).map(|k| qty(7, s, k)).sum();
        assert_eq!(row["at3"], upto3, "a row at exactly `at` counts");
        assert_eq!(row["offset"], upto3, "+02:00 is converted");
        assert_eq!(row["before"], 0, "0 before the first row");
        assert_eq!(row["after"], stock(7, s));
    }
    assert_eq!(stocks[0]["store"]["name"], "Store One");
    assert_eq!(p["s2"], Value::Null, "never held in S2");
    assert_eq!(p["s3"]["id"], gid("Stock", "7:3"));
    assert_eq!(p["s3"]["quantity"], stock(7, 3));

    // Newest first; ties on createdAt broken by id DESC (ids grow with (k, product, store)).
    let tx = &p["transactions"];
    let edges = tx["edges"].as_array().unwrap();
    let expect = [(12, 3), (12, 1), (11, 3)];
    for (edge, (k, s)) in edges.iter().zip(expect) {
        let n = &edge["node"];
        assert_eq!(n["type"], "INBOUND");
        assert_eq!(n["quantity"], qty(7, s, k));
        let after: i64 = (1..=k).map(|j| qty(7, s, j)).sum();
        assert_eq!(n["quantityAfter"], after);
        assert_eq!(n["note"], format!("row {k}"));
        assert_eq!(n["reference"], Value::Null);
        assert_eq!(
            at(&n["createdAt"]),
            ts("2026-02-01T00:00:00Z") + chrono::Duration::hours(k)
        );
        assert_eq!(n["user"]["username"], "clerk");
        assert_eq!(n["user"]["displayName"], "Clerk Kent");
        assert_eq!(n["user"]["role"], "STAFF");
        assert_eq!(n["store"]["code"], format!("S{s}"));
        assert_eq!(n["product"]["sku"], "P-007");
    }
    assert_eq!(edges.len(), 3);
    assert_eq!(tx["pageInfo"]["hasNextPage"], true);
    assert_eq!(tx["pageInfo"]["hasPreviousPage"], false);
    assert_eq!(tx["pageInfo"]["startCursor"], edges[0]["cursor"]);
    assert_eq!(tx["pageInfo"]["endCursor"], edges[2]["cursor"]);
    assert_eq!(p["inbound"]["nodes"][0]["type"], "INBOUND");
    assert_eq!(p["outbound"]["nodes"], json!([]));
    assert_eq!(p["outbound"]["pageInfo"]["hasNextPage"], false);

    // The ledger row and the stock row have one identity everywhere.
    let tx_id = edges[0]["node"]["id"].clone();
    let q = r#"query($t: ID!, $st: ID!, $s1: ID!) {
        t: node(id: $t) { id ... on InventoryTransaction { quantity product { sku } } }
        st: node(id: $st) { id ... on Stock { quantity } }
        one: stock(productId: $p, storeId: $s1) { id }
        store(id: $s1) { stocks(first: 100) { nodes { id } } }
        lowStock(storeId: $s1, first: 100) { nodes { id } }
    }"#
    .replace("$p", &format!("\"{}\"", gid("Product", "7")));
    let data = ok(
        &app,
        &token,
        &q,
        json!({ "t": tx_id, "st": gid("Stock", "7:1"), "s1": gid("Store", "1") }),
    )
    .await;
    assert_eq!(data["t"]["id"], tx_id);
    assert_eq!(data["t"]["quantity"], qty(7, 3, 12));
    assert_eq!(data["t"]["product"]["sku"], "P-007");
    assert_eq!(data["st"]["quantity"], stock(7, 1));
    let id71 = json!(gid("Stock", "7:1"));
    assert_eq!(data["one"]["id"], id71);
    assert!(
        data["store"]["stocks"]["nodes"]
            .as_array()
            .unwrap()
            .contains(&json!({"id": id71}))
    );
    assert!(
        data["lowStock"]["nodes"]
            .as_array()
            .unwrap()
            .contains(&json!({"id": id71}))
    );
}

#[tokio::test]
async fn the_category_tree_three_levels_deep_reads_with_parents_children_products_and_totals() {
    let (app, token) = setup().await;
    let tree = ok(
        &app,
        &token,
        "{ categories { name children { name children { name } } } \
         gamma: category(id: \"GAMMA\") { name parent { name parent { name parent { name } } } children { name } } }"
            .replace("GAMMA", &gid("Category", "3"))
            .as_str(),
        json!({}),
    )
    .await;
    let q = r#"query($alpha: ID!, $beta: ID!, $s1: ID!) {
        alpha: category(id: $alpha) { id name parent { name } totalQuantity s1: totalQuantity(storeId: $s1)
            own: products { totalCount nodes { sku } }
            all: products(first: 50, includeDescendants: true) { totalCount nodes { sku } } }
        beta: category(id: $beta) { totalQuantity
            own: products(first: 50) { totalCount nodes { sku } }
            all: products(first: 50, includeDescendants: true) { totalCount nodes { sku } } }
    }"#;
    let data = ok(
        &app,
        &token,
        q,
        json!({ "alpha": gid("Category", "1"), "beta": gid("Category", "2"), "s1": gid("Store", "1") }),
    )
    .await;
    assert_eq!(
        tree["categories"],
        json!([
            { "name": "Alpha", "children": [
                { "name": "Aardvark", "children": [] },
                { "name": "Beta", "children": [
                    { "name": "Gamma" }
                ] }
            ] },
            { "name": "Delta", "children": [] }
        ])
    );
    assert_eq!(
        tree["gamma"],
        json!({ "name": "Gamma", "children": [],
                "parent": { "name": "Beta", "parent": { "name": "Alpha", "parent": null } } })
    );
    let in_subtree = |p: i32, cats: &[i32]| cats.contains(&category(p));
    let total = |cats: &[i32], stores: &[i32]| -> i64 {
        (1..=N)
            .filter(|p| in_subtree(*p, cats))
            .flat_map(|p| stores.iter().map(move |s| (p, *s)))
            .filter(|(p, s)| held(*p, *s))
            .map(|(p, s)| stock(p, s))
            .sum()
    };
    let listed = |cats: &[i32]| -> Vec<String> {
        (1..=N)
            .filter(|p| in_subtree(*p, cats) && !archived(*p))
            .map(sku)
            .collect()
    };
    let a = &data["alpha"];
    assert_eq!(a["id"], gid("Category", "1"));
    assert_eq!(a["parent"], Value::Null);
    // Archived products' stock counts in the totals.
    assert_eq!(a["totalQuantity"], total(&[1, 2, 3, 5], &[1, 2, 3]));
    assert_eq!(a["s1"], total(&[1, 2, 3, 5], &[1]));
    assert_eq!(a["own"]["totalCount"], 0);
    assert_eq!(a["own"]["nodes"], json!([]));
    let all = listed(&[1, 2, 3, 5]);
    assert_eq!(a["all"]["totalCount"], all.len());
    let skus: Vec<&str> = a["all"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["sku"].as_str().unwrap())
        .collect();
    assert_eq!(skus, all);
    let b = &data["beta"];
    assert_eq!(b["totalQuantity"], total(&[2, 3], &[1, 2, 3]));
    assert_eq!(b["own"]["totalCount"], listed(&[2]).len());
    assert_eq!(
        b["own"]["nodes"],
        json!(
            listed(&[2])
                .iter()
                .map(|s| json!({"sku": s}))
                .collect::<Vec<_>>()
        )
    );
    assert_eq!(
        b["all"]["nodes"],
        json!(
            listed(&[2, 3])
                .iter()
                .map(|s| json!({"sku": s}))
                .collect::<Vec<_>>()
        )
    );
}

#[tokio::test]
async fn users_stores_low_stock_and_ledger_filters_read_back_as_inserted() {
    let (app, token) = setup().await;
    let q = r#"query($u: ID!, $s1: ID!, $p7: ID!, $delta: ID!) {
        user: node(id: $u) { id ... on User { username displayName role stores { code } } }
        store(code: "S1") { id code name
            low: stocks(first: 100, filter: {lowStock: true}) { totalCount nodes { product { sku } lowStock } }
            delta: stocks(first: 100, filter: {categoryId: $delta}) { totalCount nodes { product { sku } } }
            transactions(first: 2, type: INBOUND) { nodes { store { code } } pageInfo { hasNextPage } } }
        lowStock(first: 100) { totalCount nodes { store { code } product { sku } } }
        lowS1: lowStock(storeId: $s1) { totalCount }
        window: transactions(first: 100, filter: {productId: $p7, since: "2026-02-01T03:00:00Z", until: "2026-02-01T05:00:00Z"}) { nodes { createdAt store { code } } }
        byUser: transactions(first: 1, filter: {userId: $u, type: INBOUND, storeId: $s1}) { nodes { user { username } store { code } } }
        none: transactions(filter: {type: OUTBOUND}) { nodes { id } }
        stores { totalCount nodes { code name } }
    }"#;
    let data = ok(
        &app,
        &token,
        q,
        json!({ "u": gid("User", "100"), "s1": gid("Store", "1"), "p7": gid("Product", "7"),
                "delta": gid("Category", "4") }),
    )
    .await;
    assert_eq!(data["user"]["id"], gid("User", "100"));
    assert_eq!(data["user"]["username"], "clerk");
    assert_eq!(data["user"]["displayName"], "Clerk Kent");
    assert_eq!(data["user"]["role"], "STAFF");
    assert_eq!(
        data["user"]["stores"],
        json!([{ "code": "S1" }, { "code": "S2" }])
    );
    let s = &data["store"];
    assert_eq!(s["id"], gid("Store", "1"));
    assert_eq!(s["name"], "Store One");
    let low: Vec<String> = (1..=N)
        .filter(|p| held(*p, 1) && p % 7 == 0)
        .map(sku)
        .collect();
    assert_eq!(s["low"]["totalCount"], low.len());
    assert_eq!(
        s["low"]["nodes"],
        json!(
            low.iter()
                .map(|k| json!({"product": {"sku": k}, "lowStock": true}))
                .collect::<Vec<_>>()
        )
    );
    let delta: Vec<String> = (1..=N)
        .filter(|p| held(*p, 1) && category(*p) == 4)
        .map(sku)
        .collect();
    assert_eq!(s["delta"]["totalCount"], delta.len());
    assert_eq!(
        s["delta"]["nodes"],
        json!(
            delta
                .iter()
                .map(|k| json!({"product": {"sku": k}}))
                .collect::<Vec<_>>()
        )
    );
    assert_eq!(
        s["transactions"]["nodes"],
        json!([{"store": {"code": "S1"}}, {"store": {"code": "S1"}}])
    );
    assert_eq!(s["transactions"]["pageInfo"]["hasNextPage"], true);
    let mut all_low = Vec::new();
    for st in 1..=3 {
        for p in (1..=N).filter(|p| held(*p, st) && p % 7 == 0) {
            all_low.push(json!({"store": {"code": format!("S{st}")}, "product": {"sku": sku(p)}}));
        }
    }
    assert_eq!(data["lowStock"]["totalCount"], all_low.len());
    assert_eq!(data["lowStock"]["nodes"], json!(all_low));
    assert_eq!(data["lowS1"]["totalCount"], low.len());
    // since inclusive, until exclusive: k = 3 and 4, newest first, S3 before S1 on ties.
    let window: Vec<(String, String)> = data["window"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                at(&n["createdAt"]).to_rfc3339(),
                n["store"]["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let h = |k: i64| (ts("2026-02-01T00:00:00Z") + chrono::Duration::hours(k)).to_rfc3339();
    assert_eq!(
        window,
        vec![
            (h(4), "S3".into()),
            (h(4), "S1".into()),
            (h(3), "S3".into()),
            (h(3), "S1".into())
        ]
    );
    assert_eq!(data["byUser"]["nodes"][0]["user"]["username"], "clerk");
    assert_eq!(data["byUser"]["nodes"][0]["store"]["code"], "S1");
    assert_eq!(data["none"]["nodes"], json!([]));
    assert_eq!(data["stores"]["totalCount"], 3);
    assert_eq!(
        data["stores"]["nodes"],
        json!([{"code": "S1", "name": "Store One"}, {"code": "S2", "name": "Store Two"}, {"code": "S3", "name": "Store Three"}])
    );
}

#[tokio::test]
async fn product_search_is_a_case_insensitive_substring_of_sku_or_name_and_archived_are_left_out() {
    let (app, token) = setup().await;
    let q = r#"query($f: ProductFilter) { products(first: 100, filter: $f) { totalCount nodes { sku archived } } }"#;
    let skus = |v: &Value| -> Vec<String> {
        v["products"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["sku"].as_str().unwrap().to_string())
            .collect()
    };
    let run = |f: Value| {
        let app = &app;
        let token = &token;
        async move { ok(app, token, q, json!({ "f": f })).await }
    };
    let d = run(json!({ "search": "ANVIL" })).await;
    let want: Vec<String> = (1..=N)
        .filter(|p| p % 4 == 1 && !archived(*p))
        .map(sku)
        .collect();
    assert_eq!(skus(&d), want);
    assert_eq!(d["products"]["totalCount"], want.len());
    let d = run(json!({ "search": "p-00" })).await;
    assert_eq!(skus(&d), (1..=9).map(sku).collect::<Vec<_>>());
    let d = run(json!({ "search": "%" })).await;
    assert_eq!(skus(&d), Vec::<String>::new(), "% is taken literally");
    let d = run(json!({ "includeArchived": true })).await;
    assert_eq!(d["products"]["totalCount"], N);
    let d = run(json!({ "search": "010", "includeArchived": true })).await;
    assert_eq!(
        d["products"]["nodes"],
        json!([{ "sku": "P-010", "archived": true }])
    );
    let d = run(json!({ "categoryId": gid("Category", "2"), "includeDescendants": true })).await;
    let want: Vec<String> = (1..=N)
        .filter(|p| [2, 3].contains(&category(*p)) && !archived(*p))
        .map(sku)
        .collect();
    assert_eq!(skus(&d), want);
    let d = run(json!({ "categoryId": gid("Category", "2") })).await;
    let want: Vec<String> = (1..=N)
        .filter(|p| category(*p) == 2 && !archived(*p))
        .map(sku)
        .collect();
    assert_eq!(skus(&d), want);
}

#[tokio::test]
async fn bad_arguments_are_bad_user_input_naming_the_argument_and_unknown_ids_are_null() {
    let (app, token) = setup().await;
    let store = gid("Store", "1");
    let cases: Vec<(String, Option<&str>)> = vec![
        (
            "{ products(first: 101) { totalCount } }".into(),
            Some("first"),
        ),
        (
            "{ products(first: -1) { totalCount } }".into(),
            Some("first"),
        ),
        (
            "{ products(last: 101) { totalCount } }".into(),
            Some("last"),
        ),
        (
            "{ products(after: \"garbage\") { totalCount } }".into(),
            Some("after"),
        ),
        (
            "{ products(before: \"\") { totalCount } }".into(),
            Some("before"),
        ),
        (
            "{ stores(first: 1000) { totalCount } }".into(),
            Some("first"),
        ),
        (
            "{ lowStock(after: \"bm9wZQ\") { totalCount } }".into(),
            Some("after"),
        ),
        (
            "{ transactions(first: 500) { nodes { id } } }".into(),
            Some("first"),
        ),
        (
            "{ product(sku: \"P-001\") { transactions(first: 101) { nodes { id } } } }".into(),
            Some("first"),
        ),
        (
            format!("{{ store(id: \"{store}\") {{ stocks(last: -3) {{ totalCount }} }} }}"),
            Some("last"),
        ),
        ("{ product(sku: \"\") { id } }".into(), Some("sku")),
        ("{ store(code: \"\") { id } }".into(), Some("code")),
        ("{ product { id } }".into(), None),
        (
            format!(
                "{{ product(id: \"{}\", sku: \"P-001\") {{ id }} }}",
                gid("Product", "1")
            ),
            None,
        ),
        (
            format!("{{ product(id: \"{store}\") {{ id }} }}"),
            Some("id"),
        ),
        ("{ node(id: \"not-an-id\") { id } }".into(), Some("id")),
        (
            format!("{{ node(id: \"{}\") {{ id }} }}", gid("Product", "abc")),
            Some("id"),
        ),
        (
            format!("{{ stock(productId: \"{store}\", storeId: \"{store}\") {{ id }} }}"),
            Some("productId"),
        ),
        (
            format!("{{ products(filter: {{categoryId: \"{store}\"}}) {{ totalCount }} }}"),
            Some("filter.categoryId"),
        ),
    ];
    for (q, field) in cases {
        let body = app.graphql_as(&token, &q, json!({})).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{q}: {body}");
        if let Some(field) = field {
            assert_eq!(
                body["errors"][0]["extensions"]["field"], field,
                "{q}: {body}"
            );
        }
    }
    // A cursor of one order is refused by another.
    let d = ok(
        &app,
        &token,
        "{ products(first: 1, orderBy: {field: NAME}) { pageInfo { endCursor } } }",
        json!({}),
    )
    .await;
    let cursor = d["products"]["pageInfo"]["endCursor"]
        .as_str()
        .unwrap()
        .to_string();
    let body = app
        .graphql_as(
            &token,
            "query($c: String) { products(after: $c) { totalCount } }",
            json!({ "c": cursor }),
        )
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    // A DateTime without an offset is refused.
    let body = app
        .graphql_as(
            &token,
            "{ product(sku: \"P-001\") { stocks { quantityAt(at: \"2026-02-01T03:00:00\") } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_array(), "{body}");
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");

    // Well-formed IDs naming nothing are null, never an object of another type.
    let q = r#"query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"#;
    let ids = [
        gid("Product", "1"),
        gid("Product", "9999"),
        gid("Stock", "1:2"),
        gid("Stock", "1:1"),
        gid("InventoryTransaction", "999999"),
        gid("Category", "3"),
        gid("User", "100"),
        gid("Store", "77"),
    ];
    let d = ok(&app, &token, q, json!({ "ids": ids })).await;
    let types: Vec<Value> = d["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["__typename"].clone())
        .collect();
    assert_eq!(
        types,
        vec![
            json!("Product"),
            Value::Null,
            Value::Null,
            json!("Stock"),
            Value::Null,
            json!("Category"),
            json!("User"),
            Value::Null
        ]
    );
    assert_eq!(d["nodes"][0]["id"], ids[0]);
    assert_eq!(d["nodes"][3]["id"], ids[3]);
    let d = ok(
        &app,
        &token,
        "{ product(sku: \"NOPE\") { id } store(code: \"NOPE\") { id } }",
        json!({}),
    )
    .await;
    assert_eq!(d, json!({ "product": null, "store": null }));
}
