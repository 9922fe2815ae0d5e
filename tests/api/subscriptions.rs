//! Live updates: committed stock changes reach subscribers over graphql-transport-ws, from
//! any instance on the same database, and uncommitted ones never do.

use std::time::Duration;

use serde_json::{Value, json};
use stockroom::config::ServeSettings;

use crate::helpers::{
    SilentProxy, TestApp, fresh_database,
    ws::{WsClient, until_listening, ws_connect},
};

/// Inserts a movement the way the service does (stock row and ledger row in one
/// transaction), committed or rolled back.
pub(crate) async fn movement(db_url: &str, product: i32, store: i32, delta: i32, commit: bool) {
    let client = crate::helpers::sql(db_url).await;
    let end = if commit { "COMMIT" } else { "ROLLBACK" };
    client
        .batch_execute(&format!(
            "BEGIN;
             INSERT INTO stocks (product_id, store_id, quantity) VALUES ({product}, {store}, 0)
               ON CONFLICT (product_id, store_id) DO NOTHING;
             UPDATE stocks SET quantity = quantity + {delta}
               WHERE product_id = {product} AND store_id = {store};
             INSERT INTO inventory_transactions (type, product_id, store_id, quantity, quantity_after)
               SELECT CASE WHEN {delta} > 0 THEN 'INBOUND' ELSE 'OUTBOUND' END, {product}, {store},
                      {delta}, quantity FROM stocks WHERE product_id = {product} AND store_id = {store};
             {end};"
        ))
        .await
        .unwrap();
}

pub(crate) async fn ids(app: &TestApp, token: &str) -> (String, String, String) {
    let body = app
        .graphql_as(
            token,
            r#"{ product(sku: "DEMO-001") { id } a: store(code: "AMS") { id } b: store(code: "BER") { id } }"#,
            json!({}),
        )
        .await;
    let d = &body["data"];
    (
        d["product"]["id"].as_str().unwrap().to_string(),
        d["a"]["id"].as_str().unwrap().to_string(),
        d["b"]["id"].as_str().unwrap().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_committed_change_reaches_subscribers_of_another_instance_and_a_rolled_back_one_does_not()
{
    let one = TestApp::spawn().await;
    one.seed_demo().await;
    let token = one.admin_token().await;
    let other = TestApp::spawn_on(&one.db_url, ServeSettings::default()).await;
    let (product, ams, _ber) = ids(&one, &token).await;

    let mut ws = WsClient::connect(&other, &token).await;
    ws.subscribe(
        "1",
        &format!(
            r#"subscription {{ stockChanged(storeId: "{ams}", productId: "{product}") {{
                 stock {{ id quantity product {{ sku }} store {{ code }} }}
                 transaction {{ type quantity quantityAfter }} }} }}"#
        ),
    )
    .await;
    // `other` listens (on the shared database) before anything is committed.
    until_listening(&one.db_url).await;

    let (p, s) = (1, 1);
    movement(&one.db_url, p, s, 5, false).await;
    assert!(
        ws.nothing_within(Duration::from_secs(1)).await,
        "a rollback announces nothing"
    );

    movement(&one.db_url, p, s, 5, true).await;
    let event = ws.next().await;
    assert_eq!(event["type"], "next", "{event}");
    let change = &event["payload"]["data"]["stockChanged"];
    assert_eq!(change["stock"]["product"]["sku"], "DEMO-001");
    assert_eq!(change["stock"]["store"]["code"], "AMS");
    assert_eq!(change["transaction"]["type"], "INBOUND");
    assert_eq!(change["transaction"]["quantity"], 5);
    assert_eq!(
        change["transaction"]["quantityAfter"],
        change["stock"]["quantity"]
    );

    // A change of another store does not match the filter.
    movement(&one.db_url, p, 2, 5, true).await;
    assert!(
        ws.nothing_within(Duration::from_secs(1)).await,
        "filtered out"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn low_stock_reached_fires_once_when_a_row_crosses_down_to_its_reorder_point() {
    let app = TestApp::spawn().await;
    app.seed_demo().await;
    let token = app.admin_token().await;
    let (_, ams, _) = ids(&app, &token).await;
    // Product 1 in store 1: put it well above its reorder point first.
    let client = crate::helpers::sql(&app.db_url).await;
    let row = client
        .query_one(
            "SELECT quantity, reorder_point FROM stocks WHERE product_id = 1 AND store_id = 1",
            &[],
        )
        .await
        .unwrap();
    let (quantity, reorder): (i32, i32) = (row.get(0), row.get(1));
    let above = reorder + 3 - quantity;
    if above != 0 {
        movement(&app.db_url, 1, 1, above, true).await;
    }

    let mut ws = WsClient::connect(&app, &token).await;
    ws.subscribe(
        "low",
        &format!(r#"subscription {{ lowStockReached(storeId: "{ams}") {{ quantity reorderPoint lowStock }} }}"#),
    )
    .await;
    until_listening(&app.db_url).await;

    movement(&app.db_url, 1, 1, -2, true).await; // still above: reorder + 1
    assert!(ws.nothing_within(Duration::from_secs(1)).await);
    movement(&app.db_url, 1, 1, -1, true).await; // at the reorder point: crossed
    let event = ws.next().await;
    assert_eq!(
        event["payload"]["data"]["lowStockReached"]["quantity"], reorder,
        "{event}"
    );
    assert_eq!(
        event["payload"]["data"]["lowStockReached"]["lowStock"],
        true
    );
    movement(&app.db_url, 1, 1, -1, true).await; // further down: not again
    assert!(
        ws.nothing_within(Duration::from_secs(1)).await,
        "fires once per crossing"
    );
}

/// Opens a raw graphql-transport-ws socket and returns the close code the server ends with
/// after `messages` are sent.
async fn close_code_after(app: &TestApp, messages: &[Value]) -> Option<u16> {
    let mut client = WsClient {
        socket: ws_connect(app, "/graphql/ws").await,
    };
    for m in messages {
        client.send(m.clone()).await;
    }
    client.close_code().await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_websocket_protocol_closes_with_the_contract_codes() {
    // The contract's 10 s for `connection_init` is the setting's default (checked in
    // config.rs); 2 s here keeps the test short.
    let mut settings = ServeSettings::default();
    settings.ws.init_timeout_ms = 2_000;
    let app = TestApp::spawn_with(settings).await;
    let token = app.admin_token().await;
    let init = |t: &str| json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {t}")}});
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {"query": "subscription { lowStockReached { id } }"}});

    assert_eq!(
        close_code_after(&app, &[init("sr_wrong")]).await,
        Some(4403),
        "refused init"
    );
    assert_eq!(
        close_code_after(&app, &[json!({"type": "connection_init"})]).await,
        Some(4403),
        "anonymous without public reads"
    );
    assert_eq!(
        close_code_after(&app, std::slice::from_ref(&subscribe)).await,
        Some(4401),
        "subscribe before ack"
    );
    assert_eq!(
        close_code_after(&app, &[init(&token), init(&token)]).await,
        Some(4429),
        "second init"
    );
    assert_eq!(
        close_code_after(&app, &[]).await,
        Some(4408),
        "no init within the init timeout"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_committed_while_the_listener_reconnects_still_reaches_subscribers() {
    let app = TestApp::spawn().await;
    app.seed_demo().await;
    let token = app.admin_token().await;
    let (product, ams, _ber) = ids(&app, &token).await;
    let mut ws = WsClient::subscribed_to_pair(&app, &token, &ams, &product).await;

    // Cut the instance's LISTEN connection and commit a change before it is back (it waits a
    // second before reconnecting): no notification can reach it, the ledger still can.
    let db = crate::helpers::sql(&app.db_url).await;
    let cut: i64 = db
        .query_one(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = 'stockroom-live' AND datname = current_database()) t",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(cut, 1, "the listener's connection was found and cut");
    movement(&app.db_url, 1, 1, 7, true).await;

    let event = ws.next().await;
    assert_eq!(event["type"], "next", "{event}");
    let change = &event["payload"]["data"]["stockChanged"];
    assert_eq!(change["transaction"]["quantity"], 7, "{event}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listener_whose_connection_goes_silent_reconnects_and_catches_up() {
    // The service reaches its database through a proxy that can silence every open
    // connection without closing it: a primary that vanished in a failover.
    let direct = fresh_database().await;
    let proxy = SilentProxy::start(&direct).await;
    let app = TestApp::spawn_on(&proxy.url, ServeSettings::default()).await;
    app.seed_demo().await;
    let token = app.admin_token().await;
    let (product, ams, _ber) = ids(&app, &token).await;
    let mut ws = WsClient::subscribed_to_pair(&app, &token, &ams, &product).await;

    proxy.silence();
    movement(&direct, 1, 1, 9, true).await;

    // The idle listener pings within 10 s, gives the silent connection 5 s, reconnects a
    // second later through the proxy (new connections work) and catches up from the ledger.
    let event = ws.next_within(Duration::from_secs(40)).await;
    assert_eq!(event["type"], "next", "{event}");
    let change = &event["payload"]["data"]["stockChanged"];
    assert_eq!(change["transaction"]["quantity"], 9, "{event}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_committed_without_an_announcement_reaches_subscribers_through_the_sweep() {
    let app = TestApp::spawn().await;
    app.seed_demo().await;
    let token = app.admin_token().await;
    let (product, ams, _ber) = ids(&app, &token).await;
    let mut ws = WsClient::subscribed_to_pair(&app, &token, &ams, &product).await;

    // A movement committed as the service commits one (the trigger told to leave the
    // announcement to the writer), by a writer that never announces it: an instance that
    // died between its commit and its announcement.
    let db = crate::helpers::sql(&app.db_url).await;
    db.batch_execute(
        "BEGIN;
         SET LOCAL stockroom.announce = 'after';
         UPDATE stocks SET quantity = quantity + 4 WHERE product_id = 1 AND store_id = 1;
         INSERT INTO inventory_transactions (type, product_id, store_id, quantity, quantity_after)
           SELECT 'INBOUND', 1, 1, 4, quantity FROM stocks WHERE product_id = 1 AND store_id = 1;
         COMMIT;",
    )
    .await
    .unwrap();
    assert!(
        ws.nothing_within(Duration::from_millis(300)).await,
        "no notification was sent"
    );

    // The listener's sweep finds it one to two seconds after its commit.
    let event = ws.next_within(Duration::from_secs(15)).await;
    assert_eq!(event["type"], "next", "{event}");
    let change = &event["payload"]["data"]["stockChanged"];
    assert_eq!(change["transaction"]["quantity"], 4, "{event}");
    assert!(
        ws.nothing_within(Duration::from_secs(3)).await,
        "the sweep announces a row once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_movement_the_service_commits_reaches_a_subscriber_of_another_instance_exactly_once()
{
    let one = TestApp::spawn().await;
    one.seed_demo().await;
    let token = one.admin_token().await;
    let other = TestApp::spawn_on(&one.db_url, ServeSettings::default()).await;
    let (product, ams, _ber) = ids(&one, &token).await;
    let mut ws = WsClient::connect(&other, &token).await;
    ws.subscribe(
        "1",
        &format!(
            r#"subscription {{ stockChanged(storeId: "{ams}", productId: "{product}") {{
                 transaction {{ id quantity }} }} }}"#
        ),
    )
    .await;
    until_listening(&one.db_url).await;

    // Movements announced after their commit, by `one`, many at a time: the announcer sends
    // what is waiting together, and the sweeps of `other` (one a second) must not repeat them.
    const MOVEMENTS: usize = 40;
    let mutation =
        "mutation($i: StockMovementInput!) { recordInbound(input: $i) { transaction { id } } }";
    let mut committed: Vec<String> = futures::future::join_all((0..MOVEMENTS).map(|_| {
        one.graphql_as(
            &token,
            mutation,
            json!({"i": {"productId": product, "storeId": ams, "quantity": 1}}),
        )
    }))
    .await
    .into_iter()
    .map(|body| {
        body["data"]["recordInbound"]["transaction"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}"))
            .to_string()
    })
    .collect();

    let mut announced = Vec::new();
    for _ in 0..MOVEMENTS {
        let event = ws.next().await;
        assert_eq!(event["type"], "next", "{event}");
        let transaction = &event["payload"]["data"]["stockChanged"]["transaction"];
        assert_eq!(transaction["quantity"], 1, "{event}");
        announced.push(transaction["id"].as_str().unwrap().to_string());
    }
    assert!(
        ws.nothing_within(Duration::from_secs(3)).await,
        "no movement is announced twice (three sweeps later)"
    );
    committed.sort();
    announced.sort();
    assert_eq!(announced, committed, "each committed movement, once");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sweep_kept_waiting_by_a_locked_ledger_keeps_its_connection_and_sweeps_after() {
    let app = TestApp::spawn().await;
    app.seed_demo().await;
    let token = app.admin_token().await;
    let (product, ams, _ber) = ids(&app, &token).await;
    let mut ws = WsClient::subscribed_to_pair(&app, &token, &ams, &product).await;
    let db = crate::helpers::sql(&app.db_url).await;
    let listener = "SELECT pid FROM pg_stat_activity \
                    WHERE application_name = 'stockroom-live' AND datname = current_database()";
    let pids = async |db: &tokio_postgres::Client| -> Vec<i32> {
        let rows = db.query(listener, &[]).await.unwrap();
        rows.iter().map(|r| r.get(0)).collect()
    };
    let before = pids(&db).await;

    // A bulk import holds the ledger (dropping its indexes) for longer than the listener
    // waits for any answer (5 s): its sweeps give up on the lock after a second, not on the
    // connection.
    let importer = crate::helpers::sql(&app.db_url).await;
    importer
        .batch_execute("BEGIN; LOCK TABLE inventory_transactions IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(7)).await; // the import's duration
    importer.batch_execute("COMMIT").await.unwrap();

    assert_eq!(pids(&db).await, before, "the listener kept its connection");
    movement(&app.db_url, 1, 1, 6, true).await;
    let event = ws.next().await;
    assert_eq!(event["type"], "next", "{event}");
    assert_eq!(
        event["payload"]["data"]["stockChanged"]["transaction"]["quantity"], 6,
        "{event}"
    );
    assert!(
        ws.nothing_within(Duration::from_secs(3)).await,
        "nothing replayed"
    );
}
