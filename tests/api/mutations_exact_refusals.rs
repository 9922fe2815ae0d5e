//! Refusals with exact numbers and first-time rows under concurrency: INSUFFICIENT_STOCK
//! quotes the stock read under the row's lock (so `available < requested`, for single
//! movements, transfers and every line of a batch), concurrent first counts and a reorder
//! point racing a first inbound leave one row and one ledger entry, and a movement that
//! outlives the request timeout is answered with its real outcome.

use std::{sync::Arc, time::Duration};

use futures::future::join_all;
use serde_json::{Value, json};
use stockroom::config::ServeSettings;

use crate::{
    helpers::{TestApp, error_code, until_a_session_waits_for_a_lock},
    mutations_support::{fixture, ledger_count, movement, reconciliation_errors, sql, stock_of},
};

/// Every INSUFFICIENT_STOCK error of a response body quotes less than it was asked for.
fn check_refusals(body: &Value, refusals: &mut usize) -> Result<(), String> {
    for err in body["errors"].as_array().into_iter().flatten() {
        let ext = &err["extensions"];
        match ext["code"].as_str() {
            Some("INSUFFICIENT_STOCK") => {
                *refusals += 1;
                let (available, requested) = (ext["available"].as_i64(), ext["requested"].as_i64());
                match (available, requested) {
                    (Some(a), Some(r)) if a < r => {}
                    _ => return Err(format!("a refusal with available >= requested: {err}")),
                }
            }
            other => return Err(format!("unexpected error {other:?}: {err}")),
        }
    }
    Ok(())
}

/// One movement of the burst, with a payload that needs no further SQL.
async fn burst_movement(
    app: &TestApp,
    token: &str,
    kind: usize,
    product: &str,
    stores: &[String],
) -> Value {
    let (store, other) = (&stores[0], &stores[1]);
    let (query, input) = match kind {
        0 => (
            "mutation($input: StockMovementInput!) { recordInbound(input: $input) { newStock } }",
            json!({"productId": product, "storeId": store, "quantity": 1}),
        ),
        1 => (
            "mutation($input: StockMovementInput!) { recordOutbound(input: $input) { newStock } }",
            json!({"productId": product, "storeId": store, "quantity": 2}),
        ),
        2 => (
            "mutation($input: TransferStockInput!) { transferStock(input: $input) { \
             fromStock { quantity } } }",
            json!({"productId": product, "fromStoreId": store, "toStoreId": other, "quantity": 2}),
        ),
        _ => (
            "mutation($input: RecordMovementsInput!) { recordMovements(input: $input) { \
             transactions { quantity } } }",
            json!({"lines": [
                {"direction": "INBOUND", "productId": product, "storeId": other, "quantity": 1},
                {"direction": "OUTBOUND", "productId": product, "storeId": store, "quantity": 2}
            ]}),
        ),
    };
    app.graphql_as(token, query, json!({ "input": input }))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn insufficient_stock_during_a_burst_of_inbounds_quotes_a_locked_quantity_below_the_request()
{
    let app = Arc::new(TestApp::spawn().await);
    let f = fixture(&app, 0).await;
    let mut refusals = 0;
    for round in 0..30 {
        let tasks = (0..16).map(|i| {
            let app = app.clone();
            let token = f.admin.clone();
            let (product, stores) = (f.product_id.clone(), f.store_ids.clone());
            // Half inbounds of 1; outbounds, transfers and batch lines of 2.
            let kind = match (i + round) % 6 {
                0 | 2 | 4 => 0,
                1 => 1,
                3 => 2,
                _ => 3,
            };
            tokio::spawn(async move { burst_movement(&app, &token, kind, &product, &stores).await })
        });
        for body in join_all(tasks).await {
            check_refusals(&body.unwrap(), &mut refusals).unwrap();
        }
    }
    assert!(refusals > 0, "the burst refused nothing: it proves nothing");
    assert!(reconciliation_errors(&app.db_url).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_concurrent_first_counts_on_a_pair_without_a_row_end_at_the_count_with_one_ledger_row()
 {
    let app = Arc::new(TestApp::spawn().await);
    let f = fixture(&app, 0).await;
    for (store, store_id) in f.stores.iter().zip(&f.store_ids) {
        let results = join_all((0..30).map(|_| {
            let app = app.clone();
            let token = f.admin.clone();
            let input = json!({"productId": f.product_id, "storeId": store_id,
                               "countedQuantity": 10, "reason": "first count"});
            tokio::spawn(async move {
                app.graphql_as(
                    &token,
                    "mutation($input: AdjustStockInput!) { adjustStock(input: $input) { \
                     transaction { id } newStock } }",
                    json!({ "input": input }),
                )
                .await
            })
        }))
        .await;
        for body in results {
            let body = body.unwrap();
            assert_eq!(error_code(&body), None, "{body}");
            assert_eq!(body["data"]["adjustStock"]["newStock"], 10, "{body}");
        }
        assert_eq!(stock_of(&app.db_url, f.product, *store).await, 10);
        let rows = ledger_count(
            &app.db_url,
            &format!("type = 'ADJUSTMENT' AND store_id = {store}"),
        )
        .await;
        assert_eq!(rows, 1, "one count writes the ledger, the others match it");
    }
    assert!(reconciliation_errors(&app.db_url).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reorder_point_set_while_a_first_inbound_arrives_keeps_both() {
    let app = Arc::new(TestApp::spawn().await);
    let f = fixture(&app, 0).await;
    let db = sql(&app.db_url).await;
    // More stores: more first-time pairs to race on.
    let mut stores = f.store_ids.clone();
    for i in 0..12 {
        let id: i32 = db
            .query_one(
                "INSERT INTO stores (code, name) VALUES ($1, $1) RETURNING id",
                &[&format!("R{i:02}")],
            )
            .await
            .unwrap()
            .get(0);
        stores.push(crate::mutations_support::store_gid(id));
    }
    let mut tasks = Vec::new();
    for store in &stores {
        for inbound in [true, false] {
            let app = app.clone();
            let token = f.admin.clone();
            let (product, store) = (f.product_id.clone(), store.clone());
            tasks.push(tokio::spawn(async move {
                if inbound {
                    movement(&app, &token, true, json!({"productId": product, "storeId": store, "quantity": 5})).await
                } else {
                    app.graphql_as(
                        &token,
                        "mutation($input: SetReorderPointInput!) { setReorderPoint(input: $input) { id } }",
                        json!({"input": {"productId": product, "storeId": store, "reorderPoint": 7}}),
                    )
                    .await
                }
            }));
        }
    }
    for body in join_all(tasks).await {
        let body = body.unwrap();
        assert_eq!(error_code(&body), None, "{body}");
    }
    let rows = db
        .query(
            "SELECT quantity, reorder_point FROM stocks WHERE product_id = $1",
            &[&f.product],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), stores.len());
    for row in rows {
        assert_eq!((row.get::<_, i32>(0), row.get::<_, i32>(1)), (5, 7));
    }
    assert_eq!(
        ledger_count(&app.db_url, "type = 'INBOUND'").await,
        i64::try_from(stores.len()).unwrap()
    );
    assert!(reconciliation_errors(&app.db_url).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_movement_that_outlives_the_request_timeout_is_answered_with_its_outcome() {
    const TIMEOUT_MS: u64 = 2000;
    let mut settings = ServeSettings::default();
    settings.limits.request_timeout_ms = TIMEOUT_MS;
    let app = Arc::new(TestApp::spawn_with(settings).await);
    let f = fixture(&app, 10).await;
    let user: i32 = sql(&app.db_url)
        .await
        .query_one("SELECT id FROM users WHERE username = 'mut-admin'", &[])
        .await
        .unwrap()
        .get(0);
    // Two other transactions hold up the movement's two statements in turn, each for less
    // than the statement timeout (the request timeout), together for longer.
    let key_holder = sql(&app.db_url).await;
    key_holder.batch_execute("BEGIN").await.unwrap();
    key_holder
        .execute(
            "INSERT INTO idempotency_keys (user_id, key, fingerprint, result) \
             VALUES ($1, 'slow-1', '\\x00', 'null')",
            &[&user],
        )
        .await
        .unwrap();
    let row_holder = sql(&app.db_url).await;
    row_holder.batch_execute("BEGIN").await.unwrap();
    row_holder
        .execute(
            "SELECT 1 FROM stocks WHERE product_id = $1 AND store_id = $2 FOR UPDATE",
            &[&f.product, &f.stores[0]],
        )
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let request = {
        let app = app.clone();
        let input = json!({"productId": f.product_id, "storeId": f.store_ids[0],
                           "quantity": 3, "idempotencyKey": "slow-1"});
        let token = f.admin.clone();
        tokio::spawn(async move { movement(&app, &token, false, input).await })
    };
    let watcher = sql(&app.db_url).await;
    until_a_session_waits_for_a_lock(&watcher).await;
    // The locks are held on purpose past the request timeout: these waits are the test.
    tokio::time::sleep(Duration::from_millis(TIMEOUT_MS * 6 / 10)).await;
    key_holder.batch_execute("ROLLBACK").await.unwrap();
    tokio::time::sleep(Duration::from_millis(TIMEOUT_MS * 7 / 10)).await;
    row_holder.batch_execute("COMMIT").await.unwrap();
    let body = request.await.unwrap();
    assert!(
        started.elapsed() > Duration::from_millis(TIMEOUT_MS),
        "the movement did outlive the request timeout"
    );
    assert_eq!(error_code(&body), None, "{body}");
    assert_eq!(body["data"]["recordOutbound"]["newStock"], 7, "{body}");
    assert_eq!(stock_of(&app.db_url, f.product, f.stores[0]).await, 7);
    assert_eq!(ledger_count(&app.db_url, "type = 'OUTBOUND'").await, 1);
}
