//! Idempotency keys: replays return the first result, reuse with another input is CONFLICT,
//! concurrent retries record one movement, and expired keys are cleaned up.

use std::sync::Arc;

use async_graphql::ID;
use futures::future::join_all;
use serde_json::json;
use stockroom::{
    db::models::idempotency, domain::role::Role,
    graphql::types::stock_movement_input::StockMovementInput,
};

use crate::{
    helpers::{TestApp, error_code},
    mutations_support::{
        assert_one_movement_recorded, fixture, ledger_count, movement, reconciliation_errors, sql,
    },
};

#[tokio::test]
async fn a_sequential_replay_returns_the_first_result_and_records_nothing() {
    let app = TestApp::spawn().await;
    let f = fixture(&app, 10).await;
    let input = json!({"productId": f.product_id, "storeId": f.store_ids[0], "quantity": 3,
                       "note": "order 7", "idempotencyKey": "order-7"});
    let first = movement(&app, &f.admin, false, input.clone()).await;
    // Someone else moves stock in between; the replay still answers with the first result.
    let other = json!({"productId": f.product_id, "storeId": f.store_ids[0], "quantity": 1});
    movement(&app, &f.admin, false, other).await;
    let again = movement(&app, &f.admin, false, input).await;
    assert_eq!(
        first["data"]["recordOutbound"]["transaction"],
        again["data"]["recordOutbound"]["transaction"],
        "{first} {again}"
    );
    assert_eq!(again["data"]["recordOutbound"]["newStock"], 7);
    assert_eq!(ledger_count(&app.db_url, "note = 'order 7'").await, 1);
}

#[tokio::test]
async fn the_same_key_with_another_input_or_mutation_is_a_conflict() {
    let app = TestApp::spawn().await;
    let f = fixture(&app, 10).await;
    let base = json!({"productId": f.product_id, "storeId": f.store_ids[0], "quantity": 3,
                      "idempotencyKey": "k"});
    assert!(error_code(&movement(&app, &f.admin, false, base.clone()).await).is_none());
    let mut other_note = base.clone();
    other_note["note"] = json!("changed");
    let body = movement(&app, &f.admin, false, other_note).await;
    assert_eq!(error_code(&body), Some("CONFLICT"), "{body}");
    let body = movement(&app, &f.admin, true, base.clone()).await;
    assert_eq!(
        error_code(&body),
        Some("CONFLICT"),
        "another mutation: {body}"
    );
    // Keys are scoped to the user: another user's same key is a new movement.
    let staff = app.user_token("staff", Role::Staff, &[]).await;
    let body = movement(&app, &staff, false, base).await;
    assert_eq!(body["data"]["recordOutbound"]["newStock"], 4, "{body}");
}

#[tokio::test]
async fn keys_stored_with_a_version_1_fingerprint_still_replay_and_new_ones_hash_the_command() {
    let app = TestApp::spawn().await;
    let f = fixture(&app, 10).await;
    let input = json!({"productId": f.product_id, "storeId": f.store_ids[0], "quantity": 3,
                       "idempotencyKey": "before-v2"});
    let first = movement(&app, &f.admin, false, input.clone()).await;
    assert!(error_code(&first).is_none(), "{first}");
    let db = sql(&app.db_url).await;
    let stored: Vec<u8> = db
        .query_one(
            "SELECT fingerprint FROM idempotency_keys WHERE key = 'before-v2'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        (stored.len(), stored[0]),
        (33, 2),
        "version 2: a tag and SHA-256"
    );
    // What a release before version 2 stored for this request: the hash of its GraphQL input.
    let v1 = idempotency::legacy_fingerprint(
        "recordOutbound",
        &StockMovementInput {
            product_id: ID(f.product_id.clone()),
            store_id: ID(f.store_ids[0].clone()),
            quantity: 3,
            note: None,
            idempotency_key: None,
        },
    )
    .unwrap();
    db.execute(
        "UPDATE idempotency_keys SET fingerprint = $1 WHERE key = 'before-v2'",
        &[&v1],
    )
    .await
    .unwrap();
    let again = movement(&app, &f.admin, false, input.clone()).await;
    assert_eq!(
        first["data"]["recordOutbound"]["transaction"],
        again["data"]["recordOutbound"]["transaction"],
        "{again}"
    );
    assert_eq!(ledger_count(&app.db_url, "quantity = -3").await, 1);
    let mut other = input;
    other["quantity"] = json!(4);
    let body = movement(&app, &f.admin, false, other).await;
    assert_eq!(error_code(&body), Some("CONFLICT"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_replays_of_one_key_record_exactly_one_movement() {
    let app = Arc::new(TestApp::spawn().await);
    let f = fixture(&app, 100).await;
    let input = json!({"productId": f.product_id, "storeId": f.store_ids[1], "quantity": 5,
                       "idempotencyKey": "burst"});
    let bodies = join_all((0..50).map(|_| {
        let (app, token, input) = (app.clone(), f.admin.clone(), input.clone());
        tokio::spawn(async move { movement(&app, &token, false, input).await })
    }))
    .await;
    let ids: Vec<_> = bodies
        .into_iter()
        .map(|b| {
            let b = b.unwrap();
            assert!(error_code(&b).is_none(), "{b}");
            assert_eq!(b["data"]["recordOutbound"]["newStock"], 95, "{b}");
            b["data"]["recordOutbound"]["transaction"]["id"].clone()
        })
        .collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one transaction id for all"
    );
    assert_one_movement_recorded(&app.db_url, f.stores[1]).await;
}

#[tokio::test]
async fn keys_older_than_the_retention_are_deleted_in_batches() {
    let app = TestApp::spawn().await;
    let f = fixture(&app, 10).await;
    for k in ["a", "b", "c"] {
        let input = json!({"productId": f.product_id, "storeId": f.store_ids[0], "quantity": 1,
                           "idempotencyKey": k});
        assert!(error_code(&movement(&app, &f.admin, false, input).await).is_none());
    }
    let db = sql(&app.db_url).await;
    db.execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '2 days' WHERE key <> 'c'",
        &[],
    )
    .await
    .unwrap();
    let mut conn = app.pool.get().await.unwrap();
    let retention = std::time::Duration::from_secs(24 * 3600);
    assert_eq!(
        idempotency::delete_expired(&mut conn, retention, 1)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        idempotency::delete_expired(&mut conn, retention, 10)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        idempotency::delete_expired(&mut conn, retention, 10)
            .await
            .unwrap(),
        0
    );
    let left: i64 = db
        .query_one("SELECT count(*) FROM idempotency_keys", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 1);
}

#[tokio::test]
async fn transfers_and_adjustments_replay_their_first_result_too() {
    let app = TestApp::spawn().await;
    let f = fixture(&app, 10).await;
    let transfer = "mutation($input: TransferStockInput!) { transferStock(input: $input) { \
                    outbound { id } inbound { id } fromStock { quantity } } }";
    let vars = json!({"input": {"productId": f.product_id, "fromStoreId": f.store_ids[0],
                                "toStoreId": f.store_ids[1], "quantity": 4, "idempotencyKey": "t"}});
    let first = app.graphql_as(&f.admin, transfer, vars.clone()).await;
    let again = app.graphql_as(&f.admin, transfer, vars).await;
    assert_eq!(first["data"], again["data"], "{first} {again}");
    assert_eq!(ledger_count(&app.db_url, "reference IS NOT NULL").await, 2);

    let adjust = "mutation($input: AdjustStockInput!) { adjustStock(input: $input) { \
                  transaction { id } newStock } }";
    let vars = json!({"input": {"productId": f.product_id, "storeId": f.store_ids[2],
                                "countedQuantity": 10, "reason": "count", "idempotencyKey": "a"}});
    let first = app.graphql_as(&f.admin, adjust, vars.clone()).await;
    assert_eq!(
        first["data"]["adjustStock"],
        json!({"transaction": null, "newStock": 10}),
        "{first}"
    );
    let again = app.graphql_as(&f.admin, adjust, vars).await;
    assert_eq!(first["data"], again["data"], "{again}");
    assert!(reconciliation_errors(&app.db_url).await.is_empty());
}

#[tokio::test]
async fn a_key_older_than_the_retention_is_a_new_key_even_before_the_cleanup_deletes_it() {
    let app = TestApp::spawn().await;
    let f = fixture(&app, 10).await;
    let input = json!({"productId": f.product_id, "storeId": f.store_ids[0], "quantity": 2,
                       "note": "old order", "idempotencyKey": "old-order"});
    let first = movement(&app, &f.admin, false, input.clone()).await;
    assert_eq!(first["data"]["recordOutbound"]["newStock"], 8, "{first}");
    let db = sql(&app.db_url).await;
    db.execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours'",
        &[],
    )
    .await
    .unwrap();
    // Past the retention (24 hours) the key is forgotten: the same request moves stock again,
    // and the key now remembers the second movement.
    let second = movement(&app, &f.admin, false, input.clone()).await;
    assert_eq!(second["data"]["recordOutbound"]["newStock"], 6, "{second}");
    assert_ne!(
        first["data"]["recordOutbound"]["transaction"]["id"],
        second["data"]["recordOutbound"]["transaction"]["id"]
    );
    let third = movement(&app, &f.admin, false, input).await;
    assert_eq!(
        third["data"]["recordOutbound"]["transaction"],
        second["data"]["recordOutbound"]["transaction"],
        "{third}"
    );
    assert_eq!(ledger_count(&app.db_url, "note = 'old order'").await, 2);
    // Another input under an expired key is no conflict either.
    db.execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours'",
        &[],
    )
    .await
    .unwrap();
    let other = json!({"productId": f.product_id, "storeId": f.store_ids[0], "quantity": 1,
                       "idempotencyKey": "old-order"});
    let body = movement(&app, &f.admin, false, other).await;
    assert_eq!(body["data"]["recordOutbound"]["newStock"], 5, "{body}");
    assert!(reconciliation_errors(&app.db_url).await.is_empty());
}
