//! Stock movements one at a time: what each mutation writes, what each refusal leaves
//! untouched (stock, ledger and idempotency keys compared byte for byte).

use serde_json::{Value, json};
use stockroom::domain::role::Role;

use crate::{
    helpers::{TestApp, error_code},
    mutations_support::{
        dump, fixture, ledger_count, movement, product_gid, reconciliation_errors, sql, stock_of,
        store_gid, transfer,
    },
};

#[tokio::test]
async fn inbound_on_a_new_pair_creates_the_row_with_reorder_point_zero() {
    let app = TestApp::spawn().await;
    let f = fixture(&app, 0).await;
    let body = movement(
        &app,
        &f.admin,
        true,
        json!({"productId": f.product_id, "storeId": f.store_ids[0], "quantity": 7, "note": "PO-1"}),
    )
    .await;
    let p = &body["data"]["recordInbound"];
    assert_eq!(p["newStock"], 7, "{body}");
    assert_eq!(p["stock"]["quantity"], 7);
    assert_eq!(p["stock"]["reorderPoint"], 0);
    assert_eq!(p["transaction"]["type"], "INBOUND");
    assert_eq!(p["transaction"]["quantity"], 7);
    assert_eq!(p["transaction"]["quantityAfter"], 7);
    assert_eq!(p["transaction"]["note"], "PO-1");
    assert_eq!(p["transaction"]["user"]["username"], "mut-admin");
    let stock = app
        .graphql_as(
            &f.admin,
            "query($p: ID!, $s: ID!) { stock(productId: $p, storeId: $s) { id } }",
            json!({"p": f.product_id, "s": f.store_ids[0]}),
        )
        .await;
    assert_eq!(
        stock["data"]["stock"]["id"], p["stock"]["id"],
        "one id everywhere"
    );
    assert!(reconciliation_errors(&app.db_url).await.is_empty());
}

#[tokio::test]
async fn outbound_removes_stock_and_records_a_negative_ledger_row() {
    let app = TestApp::spawn().await;
    let f = fixture(&app, 10).await;
    let body = movement(
        &app,
        &f.admin,
        false,
        json!({"productId": f.product_id, "storeId": f.store_ids[1], "quantity": 4}),
    )
    .await;
    let p = &body["data"]["recordOutbound"];
    assert_eq!(p["newStock"], 6, "{body}");
    assert_eq!(p["transaction"]["type"], "OUTBOUND");
    assert_eq!(p["transaction"]["quantity"], -4);
    assert_eq!(p["transaction"]["quantityAfter"], 6);
    assert_eq!(stock_of(&app.db_url, f.product, f.stores[1]).await, 6);
    assert!(reconciliation_errors(&app.db_url).await.is_empty());
}

#[tokio::test]
async fn transfer_writes_two_legs_with_one_reference_and_the_note_on_both() {
    let app = TestApp::spawn().await;
    let f = fixture(&app, 10).await;
    let body = transfer(
        &app,
        &f.admin,
        json!({"productId": f.product_id, "fromStoreId": f.store_ids[0],
               "toStoreId": f.store_ids[2], "quantity": 3, "note": "rebalance"}),
    )
    .await;
    let p = &body["data"]["transferStock"];
    assert_eq!(p["outbound"]["type"], "TRANSFER_OUT", "{body}");
    assert_eq!(p["outbound"]["quantity"], -3);
    assert_eq!(p["inbound"]["type"], "TRANSFER_IN");
    assert_eq!(p["inbound"]["quantity"], 3);
    assert_eq!(p["fromStock"]["quantity"], 7);
    assert_eq!(p["toStock"]["quantity"], 13);
    assert!(p["outbound"]["reference"].is_string());
    assert_eq!(p["outbound"]["reference"], p["inbound"]["reference"]);
    assert_eq!(p["outbound"]["note"], "rebalance");
    assert_eq!(p["inbound"]["note"], "rebalance");
    assert!(reconciliation_errors(&app.db_url).await.is_empty());
}

#[tokio::test]
async fn adjustment_records_the_difference_and_nothing_when_the_count_matches() {
    let app = TestApp::spawn().await;
    let f = fixture(&app, 10).await;
    let q = "mutation($input: AdjustStockInput!) { adjustStock(input: $input) { \
             transaction { type quantity quantityAfter note } newStock stock { quantity } } }";
    let input = |n: i32| {
        json!({"input": {"productId": f.product_id, "storeId": f.store_ids[0],
                         "countedQuantity": n, "reason": "stocktake"}})
    };
    let body = app.graphql_as(&f.admin, q, input(8)).await;
    let p = &body["data"]["adjustStock"];
    assert_eq!(
        p["transaction"],
        json!({"type": "ADJUSTMENT", "quantity": -2, "quantityAfter": 8, "note": "stocktake"}),
        "{body}"
    );
    assert_eq!(p["newStock"], 8);
    let body = app.graphql_as(&f.admin, q, input(8)).await;
    assert_eq!(
        body["data"]["adjustStock"]["transaction"],
        Value::Null,
        "{body}"
    );
    assert_eq!(body["data"]["adjustStock"]["newStock"], 8);
    let body = app.graphql_as(&f.admin, q, input(15)).await;
    assert_eq!(
        body["data"]["adjustStock"]["transaction"]["quantity"], 7,
        "{body}"
    );
    assert_eq!(ledger_count(&app.db_url, "type = 'ADJUSTMENT'").await, 2);
    assert!(reconciliation_errors(&app.db_url).await.is_empty());
}

const BATCH: &str = "mutation($input: RecordMovementsInput!) { recordMovements(input: $input) { \
                     transactions { type quantity quantityAfter note } } }";

#[tokio::test]
async fn a_batch_applies_lines_in_order_and_the_second_line_sees_the_first() {
    let app = TestApp::spawn().await;
    let f = fixture(&app, 5).await;
    let line = |dir: &str, q: i32, note: &str| {
        json!({"direction": dir, "productId": f.product_id, "storeId": f.store_ids[0],
               "quantity": q, "note": note})
    };
    let body = app
        .graphql_as(
            &f.admin,
            BATCH,
            json!({"input": {"lines": [line("INBOUND", 10, "a"), line("OUTBOUND", 12, "b"),
                                        line("OUTBOUND", 3, "c")]}}),
        )
        .await;
    let txs = &body["data"]["recordMovements"]["transactions"];
    assert_eq!(
        txs,
        &json!([
            {"type": "INBOUND", "quantity": 10, "quantityAfter": 15, "note": "a"},
            {"type": "OUTBOUND", "quantity": -12, "quantityAfter": 3, "note": "b"},
            {"type": "OUTBOUND", "quantity": -3, "quantityAfter": 0, "note": "c"},
        ]),
        "{body}"
    );
    assert!(reconciliation_errors(&app.db_url).await.is_empty());
}

/// Runs a mutation that must fail with `code` and checks nothing changed.
async fn refused(app: &TestApp, token: &str, query: &str, vars: Value, code: &str) -> Value {
    let before = dump(&app.db_url).await;
    let body = app.graphql_as(token, query, vars).await;
    assert_eq!(error_code(&body), Some(code), "{body}");
    assert_eq!(
        dump(&app.db_url).await,
        before,
        "a refusal changed data: {body}"
    );
    body
}

#[tokio::test]
async fn every_refusal_leaves_stock_ledger_and_keys_byte_for_byte_unchanged() {
    let app = TestApp::spawn().await;
    let f = fixture(&app, 10).await;
    let staff_a = app.user_token("staff-a", Role::Staff, &[f.stores[0]]).await;
    let viewer = app.user_token("viewer", Role::Viewer, &[]).await;
    let out =
        "mutation($input: StockMovementInput!) { recordOutbound(input: $input) { newStock } }";
    let inb = "mutation($input: StockMovementInput!) { recordInbound(input: $input) { newStock } }";
    let mv = |q: Value| json!({"input": {"productId": f.product_id, "storeId": f.store_ids[0], "quantity": q}});

    // A keyed movement first, so key reuse has something to clash with.
    let keyed = json!({"input": {"productId": f.product_id, "storeId": f.store_ids[0],
                                 "quantity": 1, "idempotencyKey": "k-1"}});
    let ok = app.graphql_as(&f.admin, out, keyed).await;
    assert_eq!(ok["data"]["recordOutbound"]["newStock"], 9, "{ok}");

    // INSUFFICIENT_STOCK, with integers and the field.
    let body = refused(&app, &f.admin, out, mv(json!(10)), "INSUFFICIENT_STOCK").await;
    let ext = &body["errors"][0]["extensions"];
    assert_eq!(ext["available"], 9);
    assert_eq!(ext["requested"], 10);
    assert_eq!(body["data"]["recordOutbound"], Value::Null);
    // Outbound on a pair without a row: available 0.
    let db = sql(&app.db_url).await;
    let p2: i32 = db
        .query_one(
            "INSERT INTO products (sku, name, price, category_id) SELECT 'P-2', 'Saw', 1, category_id FROM products LIMIT 1 RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let body = refused(
        &app,
        &f.admin,
        out,
        json!({"input": {"productId": product_gid(p2), "storeId": f.store_ids[0], "quantity": 1}}),
        "INSUFFICIENT_STOCK",
    )
    .await;
    assert_eq!(body["errors"][0]["extensions"]["available"], 0);
    // A transfer larger than the stock: no half of it.
    refused(
        &app,
        &f.admin,
        "mutation($input: TransferStockInput!) { transferStock(input: $input) { outbound { id } } }",
        json!({"input": {"productId": f.product_id, "fromStoreId": f.store_ids[1],
                         "toStoreId": f.store_ids[2], "quantity": 11}}),
        "INSUFFICIENT_STOCK",
    )
    .await;
    // A batch whose third line fails names that line; the first two are not kept.
    let line = |dir: &str, q: i32| json!({"direction": dir, "productId": f.product_id, "storeId": f.store_ids[1], "quantity": q});
    let body = refused(
        &app,
        &f.admin,
        BATCH,
        json!({"input": {"lines": [line("INBOUND", 5), line("OUTBOUND", 2), line("OUTBOUND", 100)]}}),
        "INSUFFICIENT_STOCK",
    )
    .await;
    assert_eq!(
        body["errors"][0]["extensions"]["field"],
        "input.lines.2.quantity"
    );
    assert_eq!(body["errors"][0]["extensions"]["available"], 13);

    // BAD_USER_INPUT: quantity <= 0, absurd quantity, wrong-type ID, same store, negative count,
    // archived product, empty key, invalid batch line.
    let body = refused(&app, &f.admin, inb, mv(json!(0)), "BAD_USER_INPUT").await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "input.quantity");
    refused(
        &app,
        &f.admin,
        inb,
        mv(json!(2_000_000_000)),
        "BAD_USER_INPUT",
    )
    .await;
    let body = refused(
        &app,
        &f.admin,
        inb,
        json!({"input": {"productId": f.store_ids[0], "storeId": f.store_ids[0], "quantity": 1}}),
        "BAD_USER_INPUT",
    )
    .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "input.productId");
    let body = refused(
        &app,
        &f.admin,
        "mutation($input: TransferStockInput!) { transferStock(input: $input) { outbound { id } } }",
        json!({"input": {"productId": f.product_id, "fromStoreId": f.store_ids[0],
                         "toStoreId": f.store_ids[0], "quantity": 1}}),
        "BAD_USER_INPUT",
    )
    .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "input.toStoreId");
    let body = refused(
        &app,
        &f.admin,
        "mutation($input: AdjustStockInput!) { adjustStock(input: $input) { newStock } }",
        json!({"input": {"productId": f.product_id, "storeId": f.store_ids[0],
                         "countedQuantity": -1, "reason": "x"}}),
        "BAD_USER_INPUT",
    )
    .await;
    assert_eq!(
        body["errors"][0]["extensions"]["field"],
        "input.countedQuantity"
    );
    let body = refused(
        &app,
        &f.admin,
        BATCH,
        json!({"input": {"lines": [line("INBOUND", 5), line("OUTBOUND", -2)]}}),
        "BAD_USER_INPUT",
    )
    .await;
    assert_eq!(
        body["errors"][0]["extensions"]["field"],
        "input.lines.1.quantity"
    );
    db.execute("UPDATE products SET archived = true WHERE id = $1", &[&p2])
        .await
        .unwrap();
    let body = refused(
        &app,
        &f.admin,
        inb,
        json!({"input": {"productId": product_gid(p2), "storeId": f.store_ids[0], "quantity": 1}}),
        "BAD_USER_INPUT",
    )
    .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "input.productId");

    // NOT_FOUND: well-formed IDs that name nothing.
    refused(
        &app,
        &f.admin,
        inb,
        json!({"input": {"productId": product_gid(99_999), "storeId": f.store_ids[0], "quantity": 1}}),
        "NOT_FOUND",
    )
    .await;
    refused(
        &app,
        &f.admin,
        inb,
        json!({"input": {"productId": f.product_id, "storeId": store_gid(99_999), "quantity": 1}}),
        "NOT_FOUND",
    )
    .await;

    // CONFLICT: the key of the first movement with another input.
    let other = json!({"input": {"productId": f.product_id, "storeId": f.store_ids[0],
                                 "quantity": 2, "idempotencyKey": "k-1"}});
    refused(&app, &f.admin, out, other, "CONFLICT").await;

    // FORBIDDEN and UNAUTHENTICATED.
    refused(&app, &viewer, inb, mv(json!(1)), "FORBIDDEN").await;
    refused(
        &app,
        &staff_a,
        inb,
        json!({"input": {"productId": f.product_id, "storeId": f.store_ids[1], "quantity": 1}}),
        "FORBIDDEN",
    )
    .await;
    let before = dump(&app.db_url).await;
    let body = app
        .graphql(
            inb,
            json!({"input": {"productId": f.product_id, "storeId": f.store_ids[0], "quantity": 1}}),
        )
        .await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
    assert_eq!(dump(&app.db_url).await, before);

    // Staff in its own store may move stock.
    let body = app.graphql_as(&staff_a, inb, mv(json!(1))).await;
    assert_eq!(body["data"]["recordInbound"]["newStock"], 10, "{body}");
    assert!(reconciliation_errors(&app.db_url).await.is_empty());
}
