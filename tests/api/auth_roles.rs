//! Roles × operation classes: moving stock in one's own store, in another store, editing the
//! catalogue, administering users; anonymous writes. A refused mutation changes nothing.

use serde_json::{Value, json};
use stockroom::domain::role::Role;

use crate::{
    helpers::{TestApp, error_code},
    http_support::app_with_public_read,
};

const INBOUND: &str =
    "mutation M($i: StockMovementInput!) { recordInbound(input: $i) { newStock } }";
const OUTBOUND: &str =
    "mutation M($i: StockMovementInput!) { recordOutbound(input: $i) { newStock } }";
const TRANSFER: &str =
    "mutation M($i: TransferStockInput!) { transferStock(input: $i) { toStock { quantity } } }";
const ADJUST: &str = "mutation M($i: AdjustStockInput!) { adjustStock(input: $i) { newStock } }";
const BATCH: &str =
    "mutation M($i: RecordMovementsInput!) { recordMovements(input: $i) { transactions { id } } }";
const CREATE_CATEGORY: &str =
    "mutation M($i: CreateCategoryInput!) { createCategory(input: $i) { id } }";
const CREATE_STORE: &str = "mutation M($i: CreateStoreInput!) { createStore(input: $i) { id } }";
const UPDATE_PRODUCT: &str =
    "mutation M($i: UpdateProductInput!) { updateProduct(input: $i) { name } }";
const REORDER: &str =
    "mutation M($i: SetReorderPointInput!) { setReorderPoint(input: $i) { reorderPoint } }";

/// The demo catalogue with two stores and a product stocked in both.
struct World {
    app: TestApp,
    product: String,
    store_a: String,
    store_b: String,
    store_a_db_id: i32,
    /// A VIEWER token for snapshots.
    reader: String,
}

async fn world(app: TestApp) -> World {
    app.seed_demo().await;
    let admin = app.admin_token().await;
    let body = app
        .graphql_as(
            &admin,
            "{ stores(first: 2) { nodes { id code } } products(first: 1) { nodes { id } } }",
            json!({}),
        )
        .await;
    let stores = body["data"]["stores"]["nodes"].as_array().unwrap();
    let client = crate::helpers::sql(&app.db_url).await;
    let code_a = stores[0]["code"].as_str().unwrap();
    let store_a_db_id: i32 = client
        .query_one("SELECT id FROM stores WHERE code = $1", &[&code_a])
        .await
        .unwrap()
        .get(0);
    World {
        product: body["data"]["products"]["nodes"][0]["id"]
            .as_str()
            .unwrap()
            .into(),
        store_a: stores[0]["id"].as_str().unwrap().into(),
        store_b: stores[1]["id"].as_str().unwrap().into(),
        store_a_db_id,
        reader: app.user_token("snapshot", Role::Viewer, &[]).await,
        app,
    }
}

impl World {
    /// Everything a caller could change, to compare before and after a refusal.
    async fn snapshot(&self) -> Value {
        let body = self
            .app
            .graphql_as(
                &self.reader,
                "{ products(first: 100) { nodes { name stocks { quantity reorderPoint } } }
                   stores(first: 100) { nodes { code } } categories { name }
                   transactions(first: 100) { nodes { id } } }",
                json!({}),
            )
            .await;
        body["data"].clone()
    }

    fn movement(&self, store: &str) -> Value {
        json!({ "productId": self.product, "storeId": store, "quantity": 1 })
    }
}

/// Runs a mutation; `Ok(data)` when it succeeded, `Err(code)` when it was refused.
async fn attempt(
    app: &TestApp,
    token: Option<&str>,
    query: &str,
    input: Value,
) -> Result<Value, String> {
    let vars = json!({ "i": input });
    let body = match token {
        Some(token) => app.graphql_as(token, query, vars).await,
        None => app.graphql(query, vars).await,
    };
    match error_code(&body) {
        Some(code) => Err(code.to_string()),
        None => Ok(body["data"].clone()),
    }
}

#[tokio::test]
async fn stock_moves_need_staff_and_a_scoped_staff_only_moves_in_its_stores() {
    let w = world(TestApp::spawn().await).await;
    let app = &w.app;
    let viewer = app.user_token("v", Role::Viewer, &[]).await;
    let scoped = app.user_token("s1", Role::Staff, &[w.store_a_db_id]).await;
    let staff = app.user_token("s2", Role::Staff, &[]).await;
    let manager = app.user_token("m", Role::Manager, &[]).await;
    let admin = app.user_token("a", Role::Admin, &[]).await;

    // Own store (or every store): allowed from STAFF up.
    for token in [&scoped, &staff, &manager, &admin] {
        attempt(app, Some(token), INBOUND, w.movement(&w.store_a))
            .await
            .unwrap();
    }
    for token in [&staff, &manager, &admin] {
        attempt(app, Some(token), INBOUND, w.movement(&w.store_b))
            .await
            .unwrap();
    }

    let before = w.snapshot().await;
    // A viewer moves nothing anywhere.
    for (query, input) in [
        (INBOUND, w.movement(&w.store_a)),
        (OUTBOUND, w.movement(&w.store_a)),
    ] {
        assert_eq!(
            attempt(app, Some(&viewer), query, input).await,
            Err("FORBIDDEN".into())
        );
    }
    // A scoped STAFF: nothing in another store, nor a transfer or batch that touches one.
    let transfer = json!({ "productId": w.product, "fromStoreId": w.store_a,
                           "toStoreId": w.store_b, "quantity": 1 });
    let adjust = json!({ "productId": w.product, "storeId": w.store_b,
                         "countedQuantity": 0, "reason": "count" });
    let batch = json!({ "lines": [
        { "direction": "INBOUND", "productId": w.product, "storeId": w.store_a, "quantity": 1 },
        { "direction": "INBOUND", "productId": w.product, "storeId": w.store_b, "quantity": 1 },
    ] });
    for (what, query, input) in [
        ("inbound", INBOUND, w.movement(&w.store_b)),
        ("outbound", OUTBOUND, w.movement(&w.store_b)),
        ("transfer", TRANSFER, transfer),
        ("adjust", ADJUST, adjust),
        ("batch", BATCH, batch),
    ] {
        assert_eq!(
            attempt(app, Some(&scoped), query, input).await,
            Err("FORBIDDEN".into()),
            "{what}"
        );
    }
    assert_eq!(w.snapshot().await, before, "refusals changed nothing");
}

#[tokio::test]
async fn catalogue_edits_need_manager() {
    let w = world(TestApp::spawn().await).await;
    let app = &w.app;
    let mut n = 0;
    for (role, allowed) in [
        (Role::Viewer, false),
        (Role::Staff, false),
        (Role::Manager, true),
        (Role::Admin, true),
    ] {
        let token = app
            .user_token(&format!("cat-{role}").to_lowercase(), role, &[])
            .await;
        n += 1;
        let cases = [
            (CREATE_CATEGORY, json!({ "name": format!("Category {n}") })),
            (
                CREATE_STORE,
                json!({ "code": format!("NEW{n}"), "name": format!("Store {n}") }),
            ),
            (
                UPDATE_PRODUCT,
                json!({ "id": w.product, "name": format!("Renamed {n}") }),
            ),
            (
                REORDER,
                json!({ "productId": w.product, "storeId": w.store_a, "reorderPoint": n }),
            ),
        ];
        let before = w.snapshot().await;
        for (query, input) in cases {
            let result = attempt(app, Some(&token), query, input).await;
            if allowed {
                assert!(result.is_ok(), "{role} {query}: {result:?}");
            } else {
                assert_eq!(result, Err("FORBIDDEN".into()), "{role} {query}");
            }
        }
        if !allowed {
            assert_eq!(w.snapshot().await, before, "{role}: nothing changed");
        }
    }
}

#[tokio::test]
async fn anonymous_writes_are_unauthenticated_even_with_public_reads() {
    for app in [TestApp::spawn().await, app_with_public_read().await] {
        let w = world(app).await;
        let before = w.snapshot().await;
        for (query, input) in [
            (INBOUND, w.movement(&w.store_a)),
            (CREATE_CATEGORY, json!({ "name": "Anonymous" })),
        ] {
            assert_eq!(
                attempt(&w.app, None, query, input).await,
                Err("UNAUTHENTICATED".into())
            );
        }
        assert_eq!(w.snapshot().await, before);
    }
}

#[tokio::test]
async fn user_and_token_administration_is_not_exposed_over_graphql() {
    // Users and tokens are administered with the `stockroom user|token` commands only (see
    // auth_cli); no role, ADMIN included, finds a mutation for them.
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let body = app
        .graphql_as(
            &admin,
            "{ __type(name: \"Mutation\") { fields { name } } }",
            json!({}),
        )
        .await;
    let names: Vec<&str> = body["data"]["__type"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(!names.is_empty());
    assert!(
        names
            .iter()
            .all(|n| !n.to_lowercase().contains("user") && !n.to_lowercase().contains("token")),
        "{names:?}"
    );
}

#[tokio::test]
async fn a_role_the_service_does_not_know_is_refused_never_read_as_viewer() {
    let app = TestApp::spawn().await;
    let token = app.user_token("odd", Role::Viewer, &[]).await;
    let db = crate::mutations_support::sql(&app.db_url).await;
    // Only a hand-edited database can hold such a row: the column's CHECK refuses it.
    db.batch_execute(
        "ALTER TABLE users DROP CONSTRAINT users_role_check; \
         UPDATE users SET role = 'ROOT' WHERE username = 'odd'",
    )
    .await
    .unwrap();
    let body = app
        .graphql_as(&token, "{ products(first: 1) { totalCount } }", json!({}))
        .await;
    assert_eq!(error_code(&body), Some("INTERNAL_SERVER_ERROR"), "{body}");
    assert!(body["data"].is_null(), "{body}");
    assert!(
        !body.to_string().contains("ROOT"),
        "no stored text reaches the client: {body}"
    );
}
