//! Many instances on one database: two `stockroom serve` processes (the real binary, as a
//! load balancer would see them) share live updates, idempotency keys and token revocation
//! through PostgreSQL alone.

use futures::future::join_all;
use serde_json::json;

use crate::{
    helpers::{
        BIN, Served, TestApp, empty_database, error_code, post_graphql as graphql,
        until_a_session_waits_for_a_lock,
        ws::{WsClient, until_listening},
    },
    mutations_support::{
        MOVE_FIELDS, assert_one_movement_recorded, fixture, ledger_count, reconciliation_errors,
        stock_of,
    },
};

/// Two `serve` processes (A and B) on the database of `app`.
async fn two_instances(app: &TestApp) -> (Served, Served) {
    let env = [("DATABASE_URL", Some(app.db_url.as_str()))];
    let (a, b) = tokio::join!(Served::start(&env), Served::start(&env));
    (a, b)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscriber_on_one_instance_receives_a_movement_committed_through_another() {
    let app = TestApp::spawn().await;
    let f = fixture(&app, 10).await;
    let (a, b) = two_instances(&app).await;

    let mut ws = WsClient::connect_to(&a.base, &f.admin).await;
    let subscription = format!(
        r#"subscription {{ stockChanged(storeId: "{}", productId: "{}") {{
             stock {{ quantity }} transaction {{ id type quantity }} }} }}"#,
        f.store_ids[0], f.product_id
    );
    ws.subscribe("1", &subscription).await;
    // The listener starts with the first subscriber: A listens before B commits.
    until_listening(&app.db_url).await;

    let body = graphql(
        &b.base,
        &f.admin,
        &format!("mutation($input: StockMovementInput!) {{ recordInbound(input: $input) {{ {MOVE_FIELDS} }} }}"),
        json!({"input": {"productId": f.product_id, "storeId": f.store_ids[0], "quantity": 3}}),
    )
    .await;
    assert!(error_code(&body).is_none(), "{body}");
    let committed = &body["data"]["recordInbound"]["transaction"]["id"];

    let event = ws.next().await;
    assert_eq!(event["type"], "next", "{event}");
    let change = &event["payload"]["data"]["stockChanged"];
    assert_eq!(change["transaction"]["id"], *committed, "{event}");
    assert_eq!(change["transaction"]["type"], "INBOUND");
    assert_eq!(change["stock"]["quantity"], 13, "{event}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_duplicates_of_one_key_split_over_two_instances_record_one_movement_and_one_answer()
{
    let app = TestApp::spawn().await;
    let f = fixture(&app, 100).await;
    let (a, b) = two_instances(&app).await;
    let query = format!(
        "mutation($input: StockMovementInput!) {{ recordOutbound(input: $input) {{ {MOVE_FIELDS} }} }}"
    );
    let input = json!({"productId": f.product_id, "storeId": f.store_ids[1], "quantity": 5,
                       "idempotencyKey": "fleet-burst"});
    let bodies = join_all((0..20).map(|i| {
        let base = if i % 2 == 0 { &a.base } else { &b.base };
        graphql(base, &f.admin, &query, json!({ "input": input }))
    }))
    .await;
    for body in &bodies {
        assert!(error_code(body).is_none(), "{body}");
        assert_eq!(
            body["data"], bodies[0]["data"],
            "every duplicate gets the first answer"
        );
    }
    assert_eq!(bodies[0]["data"]["recordOutbound"]["newStock"], 95);
    assert_eq!(stock_of(&app.db_url, f.product, f.stores[1]).await, 95);
    assert_one_movement_recorded(&app.db_url, f.stores[1]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_revoked_through_the_cli_is_refused_by_every_instance_on_its_next_request() {
    let app = TestApp::spawn().await;
    let f = fixture(&app, 0).await;
    let (a, b) = two_instances(&app).await;
    let viewer = "{ viewer { username } }";
    for base in [&a.base, &b.base] {
        let body = graphql(base, &f.admin, viewer, json!({})).await;
        assert_eq!(body["data"]["viewer"]["username"], "mut-admin", "{body}");
    }

    crate::auth_cli::stockroom(&app, &["token", "revoke", &f.admin]).await;

    for base in [&a.base, &b.base] {
        let body = graphql(base, &f.admin, viewer, json!({})).await;
        assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn instances_started_together_apply_each_migration_once() {
    let db_url = empty_database().await;
    let migrate = || {
        tokio::process::Command::new(BIN)
            .arg("migrate")
            .env("DATABASE_URL", &db_url)
            .output()
    };
    let outs = join_all((0..4).map(|_| migrate())).await;
    let mut applied = Vec::new();
    for out in outs {
        let out = out.unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        applied.push(String::from_utf8(out.stdout).unwrap().trim().to_string());
    }
    let first = applied
        .iter()
        .filter(|a| *a != "applied 0 migration(s)")
        .count();
    assert_eq!(
        first, 1,
        "one of them migrated, the others waited: {applied:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_movement_in_flight_when_the_primary_drops_its_connections_is_unavailable_and_writes_nothing()
 {
    let app = TestApp::spawn().await;
    let f = fixture(&app, 10).await;
    // Another session holds the source row, so the transfer waits inside its transaction.
    let holder = crate::mutations_support::sql(&app.db_url).await;
    holder.batch_execute("BEGIN").await.unwrap();
    let holder_pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    holder
        .execute(
            "SELECT 1 FROM stocks WHERE product_id = $1 AND store_id = $2 FOR UPDATE",
            &[&f.product, &f.stores[0]],
        )
        .await
        .unwrap();
    let transfer = {
        let input = json!({"productId": f.product_id, "fromStoreId": f.store_ids[0],
                           "toStoreId": f.store_ids[1], "quantity": 3});
        let (base, token) = (app.base.clone(), f.admin.clone());
        tokio::spawn(async move {
            graphql(
                &base,
                &token,
                "mutation($input: TransferStockInput!) { transferStock(input: $input) { \
                   outbound { id } inbound { id } } }",
                json!({ "input": input }),
            )
            .await
        })
    };
    let admin = crate::mutations_support::sql(&app.db_url).await;
    // The transfer waits for the row lock.
    until_a_session_waits_for_a_lock(&admin).await;

    // The primary goes away for the service: every session but ours ends mid-transaction.
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> $1",
            &[&holder_pid],
        )
        .await
        .unwrap();
    let body = transfer.await.unwrap();
    assert_eq!(error_code(&body), Some("SERVICE_UNAVAILABLE"), "{body}");
    holder.batch_execute("ROLLBACK").await.unwrap();

    // Nothing of it was written, and the next movement works on fresh connections.
    assert_eq!(stock_of(&app.db_url, f.product, f.stores[0]).await, 10);
    assert_eq!(stock_of(&app.db_url, f.product, f.stores[1]).await, 10);
    assert_eq!(ledger_count(&app.db_url, "user_id IS NOT NULL").await, 0);
    let body = graphql(
        &app.base,
        &f.admin,
        &format!("mutation($input: StockMovementInput!) {{ recordOutbound(input: $input) {{ {MOVE_FIELDS} }} }}"),
        json!({"input": {"productId": f.product_id, "storeId": f.store_ids[0], "quantity": 1}}),
    )
    .await;
    assert!(error_code(&body).is_none(), "{body}");
    assert!(reconciliation_errors(&app.db_url).await.is_empty());
}
