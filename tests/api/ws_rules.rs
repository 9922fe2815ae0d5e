//! The WebSocket obeys the rules HTTP does: the token is checked again (on every `subscribe`
//! and periodically), messages are capped at the body limit, operations get the request
//! timeout, error codes, request ids and metrics, subscriptions per connection and
//! connections are capped, `complete` stops a stream at once, a live event costs the same
//! SQL whatever the number of subscribers, and silent clients are dropped.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use stockroom::{config::ServeSettings, db::models::token, domain::role::Role};
use tokio_tungstenite::tungstenite::{self, Message};

use crate::{
    helpers::{
        TestApp,
        ws::{WAIT, WsClient as Client, until_delivering},
    },
    mutations_support::sql,
    subscriptions::{ids, movement},
};

/// The subscription every test uses: changes of one store's rows, with the store and the
/// product of each (and the reorder point, which [`until_delivering`] changes).
fn stock_changed(store: &str) -> String {
    format!(
        r#"subscription {{ stockChanged(storeId: "{store}") {{
             stock {{ quantity reorderPoint store {{ code }} product {{ sku }} }}
             transaction {{ quantity }} }} }}"#
    )
}

/// The demo's first product in its first store (AMS) and its second (BER).
const AMS_ROW: (i32, i32) = (1, 1);
const BER_ROW: (i32, i32) = (1, 2);

/// A VIEWER's token and its id.
async fn viewer_token(app: &TestApp) -> (String, i32) {
    let clear = app.user_token("watcher", Role::Viewer, &[]).await;
    let mut conn = app.pool.get().await.unwrap();
    let row = token::find(&mut conn, &clear).await.unwrap().unwrap();
    (clear, row.id)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_revoked_since_connection_init_closes_the_socket_with_4403_at_the_next_subscribe() {
    let app = TestApp::spawn().await;
    let (clear, id) = viewer_token(&app).await;
    let mut ws = Client::connect(&app, &clear).await;
    let payload = ws.run("1", "{ viewer { username } }").await;
    assert_eq!(
        payload["data"]["viewer"]["username"], "watcher",
        "{payload}"
    );

    let mut conn = app.pool.get().await.unwrap();
    token::revoke(&mut conn, id).await.unwrap();
    ws.subscribe("2", "{ viewer { username } }").await;
    assert_eq!(ws.close_code().await, Some(4403));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_deleted_while_subscriptions_run_closes_the_socket_with_4403_within_the_recheck_interval()
 {
    let mut settings = ServeSettings::default();
    settings.ws.token_recheck_ms = 300;
    let app = TestApp::spawn_with(settings).await;
    app.seed_demo().await;
    let (clear, id) = viewer_token(&app).await;
    let (_, ams, _) = ids(&app, &clear).await;
    let mut ws = Client::connect(&app, &clear).await;
    ws.subscribe("1", &stock_changed(&ams)).await;
    assert!(
        ws.nothing_within(Duration::from_millis(700)).await,
        "still valid"
    );

    sql(&app.db_url)
        .await
        .execute("DELETE FROM api_tokens WHERE id = $1", &[&id])
        .await
        .unwrap();
    let deleted = Instant::now();
    assert_eq!(ws.close_code().await, Some(4403));
    assert!(
        deleted.elapsed() < Duration::from_secs(3),
        "closed after {:?}",
        deleted.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_over_the_body_limit_closes_the_socket_with_1009_and_one_at_the_limit_is_answered()
 {
    let mut settings = ServeSettings::default();
    settings.limits.max_body_bytes = 64 * 1024;
    let app = TestApp::spawn_with(settings).await;
    let token = app.admin_token().await;
    let mut ws = Client::connect(&app, &token).await;

    // A ping padded with whitespace to exactly the limit is a message like any other.
    let ping = r#"{"type":"ping"}"#;
    let at_limit = format!(
        "{}{}",
        &ping[..ping.len() - 1],
        " ".repeat(64 * 1024 - ping.len()) + "}"
    );
    assert_eq!(at_limit.len(), 64 * 1024);
    ws.socket.send(Message::text(at_limit)).await.unwrap();
    let pong = tokio::time::timeout(WAIT, ws.socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(pong, Message::text(r#"{"type":"pong"}"#));

    let over = format!(
        "{}{}",
        &ping[..ping.len() - 1],
        " ".repeat(64 * 1024 + 1 - ping.len()) + "}"
    );
    ws.socket.send(Message::text(over)).await.unwrap();
    assert_eq!(ws.close_code().await, Some(1009));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscription_over_the_cap_gets_an_error_with_its_limit_and_the_socket_stays_usable() {
    let mut settings = ServeSettings::default();
    settings.ws.max_subscriptions_per_connection = 3;
    let app = TestApp::spawn_with(settings).await;
    app.seed_demo().await;
    let token = app.admin_token().await;
    let (_, ams, _) = ids(&app, &token).await;
    let mut ws = Client::connect(&app, &token).await;
    for id in ["1", "2", "3"] {
        ws.subscribe(id, &stock_changed(&ams)).await;
    }
    ws.subscribe("4", &stock_changed(&ams)).await;
    let error = ws.next().await;
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["id"], "4");
    assert_eq!(
        error["payload"][0]["extensions"]["code"],
        "QUERY_TOO_COMPLEX"
    );
    assert_eq!(error["payload"][0]["extensions"]["limit"], 3);

    // Still open: one completed, another operation runs (the refused id is free to use).
    ws.complete("1").await;
    let payload = ws.run("4", "{ viewer { username } }").await;
    assert_eq!(payload["data"]["viewer"]["username"], "test-admin");
    // And the two subscriptions left still deliver.
    until_delivering(&app.db_url, AMS_ROW, &mut [(&mut ws, &["2", "3"])]).await;
    movement(&app.db_url, 1, 1, 2, true).await;
    let mut delivered: Vec<String> = Vec::new();
    for _ in 0..2 {
        let event = ws.next().await;
        assert_eq!(event["type"], "next", "{event}");
        delivered.push(event["id"].as_str().unwrap().to_string());
    }
    delivered.sort();
    assert_eq!(delivered, ["2", "3"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upgrade_beyond_the_connection_cap_is_answered_503_until_a_connection_closes() {
    let mut settings = ServeSettings::default();
    settings.ws.max_connections = 2;
    let app = TestApp::spawn_with(settings).await;
    let token = app.admin_token().await;
    let first = Client::connect(&app, &token).await;
    let _second = Client::connect(&app, &token).await;

    let refused = try_upgrade(&app).await;
    assert_eq!(refused, Err(503));

    drop(first);
    let deadline = Instant::now() + WAIT;
    while try_upgrade(&app).await.is_err() {
        assert!(Instant::now() < deadline, "the slot was not given back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Opens a WebSocket; `Err(status)` when the upgrade is refused.
async fn try_upgrade(app: &TestApp) -> Result<(), u16> {
    use tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{}/graphql/ws", app.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    match tokio_tungstenite::connect_async(req).await {
        Ok(_) => Ok(()),
        Err(tungstenite::Error::Http(res)) => Err(res.status().as_u16()),
        Err(err) => panic!("{err}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn complete_stops_a_stream_at_once_and_a_reused_id_gets_only_the_new_streams_events() {
    let app = TestApp::spawn().await;
    app.seed_demo().await;
    let token = app.admin_token().await;
    let (_, ams, ber) = ids(&app, &token).await;
    let mut ws = Client::connect(&app, &token).await;
    ws.subscribe("1", &stock_changed(&ams)).await;
    until_delivering(&app.db_url, AMS_ROW, &mut [(&mut ws, &["1"])]).await;
    ws.complete("1").await;
    ws.subscribe("1", &stock_changed(&ber)).await;
    until_delivering(&app.db_url, BER_ROW, &mut [(&mut ws, &["1"])]).await;

    movement(&app.db_url, 1, 1, 4, true).await; // AMS: the completed stream's
    assert!(
        ws.nothing_within(Duration::from_secs(1)).await,
        "the completed stream delivered"
    );
    movement(&app.db_url, 1, 2, 6, true).await; // BER: the new stream's
    let event = ws.next().await;
    assert_eq!(event["type"], "next", "{event}");
    assert_eq!(event["id"], "1");
    let change = &event["payload"]["data"]["stockChanged"];
    assert_eq!(change["stock"]["store"]["code"], "BER", "{event}");
    assert_eq!(change["transaction"]["quantity"], 6);
    movement(&app.db_url, 1, 1, 4, true).await;
    assert!(ws.nothing_within(Duration::from_secs(1)).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_movement_costs_the_same_statements_with_forty_subscribers_as_with_one() {
    let (app, counter) = TestApp::spawn_counting(ServeSettings::default()).await;
    app.seed_demo().await;
    let token = app.admin_token().await;
    let (_, ams, _) = ids(&app, &token).await;

    // Statements the server sends for one movement, once `subscribers` subscriptions (spread
    // over two connections) are listening.
    async fn statements(
        app: &TestApp,
        counter: &crate::helpers::QueryCounter,
        token: &str,
        ams: &str,
        subscribers: usize,
    ) -> (usize, Vec<String>) {
        let [mut even, mut odd] = [
            Client::connect(app, token).await,
            Client::connect(app, token).await,
        ];
        let ids: Vec<String> = (0..subscribers).map(|i| i.to_string()).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let even_ids: Vec<&str> = ids.iter().copied().step_by(2).collect();
        let odd_ids: Vec<&str> = ids.iter().copied().skip(1).step_by(2).collect();
        for id in &even_ids {
            even.subscribe(id, &stock_changed(ams)).await;
        }
        for id in &odd_ids {
            odd.subscribe(id, &stock_changed(ams)).await;
        }
        until_delivering(
            &app.db_url,
            AMS_ROW,
            &mut [(&mut even, &even_ids), (&mut odd, &odd_ids)],
        )
        .await;
        let mut sockets = [even, odd];
        let before = counter.get();
        let log_before = counter.log().len();
        movement(&app.db_url, 1, 1, 3, true).await;
        for i in 0..subscribers {
            let event = sockets[i % 2].next().await;
            assert_eq!(event["type"], "next", "{event}");
            assert_eq!(
                event["payload"]["data"]["stockChanged"]["transaction"]["quantity"], 3,
                "{event}"
            );
        }
        // A window for statements sent after the events (none should be: that is the test).
        tokio::time::sleep(Duration::from_millis(200)).await;
        (counter.get() - before, counter.log()[log_before..].to_vec())
    }

    let (one, log_one) = statements(&app, &counter, &token, &ams, 1).await;
    let (forty, log_forty) = statements(&app, &counter, &token, &ams, 40).await;
    assert!(one <= 4, "one subscriber: {one} statements: {log_one:#?}");
    assert_eq!(
        forty, one,
        "forty subscribers: {log_forty:#?}, one: {log_one:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_answers_nothing_is_closed_with_4408_and_one_that_answers_pings_stays() {
    let mut settings = ServeSettings::default();
    settings.ws.ping_interval_ms = 200;
    settings.ws.idle_timeout_ms = 1000;
    let app = TestApp::spawn_with(settings).await;
    let token = app.admin_token().await;
    let mut silent = Client::connect(&app, &token).await;
    let mut answering = Client::connect(&app, &token).await;

    // The answering client reads (its library answers every ping with a pong) for 2.5 s.
    let started = Instant::now();
    let mut pings = 0;
    while started.elapsed() < Duration::from_millis(2500) {
        if let Ok(msg) =
            tokio::time::timeout(Duration::from_millis(100), answering.socket.next()).await
        {
            match msg.unwrap().unwrap() {
                Message::Ping(_) => pings += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert!(pings >= 5, "{pings} pings");
    let payload = answering.run("1", "{ viewer { username } }").await;
    assert_eq!(payload["data"]["viewer"]["username"], "test-admin");

    // The silent one read nothing, so it answered nothing: closed.
    assert_eq!(silent.close_code().await, Some(4408));
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_over_the_socket_carry_their_codes_and_an_internal_one_the_request_id() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let mut ws = Client::connect(&app, &token).await;

    let payload = ws
        .run("1", "{ products(first: 1000) { nodes { id } } }")
        .await;
    assert_eq!(
        payload["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{payload}"
    );
    let payload = ws.run("2", "{ products { nope } }").await;
    assert_eq!(
        payload["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "{payload}"
    );
    assert!(
        payload.get("data").is_none(),
        "a request error has no data: {payload}"
    );

    // A failure the server did not foresee: the SQL meets a renamed column.
    sql(&app.db_url)
        .await
        .batch_execute("ALTER TABLE stores RENAME COLUMN name TO name_gone")
        .await
        .unwrap();
    let payload = ws.run("3", "{ stores(first: 1) { nodes { name } } }").await;
    let err = &payload["errors"][0];
    assert_eq!(
        err["extensions"]["code"], "INTERNAL_SERVER_ERROR",
        "{payload}"
    );
    let request_id = err["extensions"]["requestId"]
        .as_str()
        .expect("a requestId");
    assert!(
        err["message"].as_str().unwrap().contains(request_id),
        "{payload}"
    );
    assert!(!payload.to_string().contains("name_gone"), "{payload}");
}

#[tokio::test(flavor = "multi_thread")]
async fn operations_over_the_socket_are_counted_in_the_metrics() {
    let app = TestApp::spawn().await;
    app.seed_demo().await;
    let token = app.admin_token().await;
    let (_, ams, _) = ids(&app, &token).await;
    let count = |metrics: &str, labels: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with("stockroom_graphql_requests_total{") && l.contains(labels))
            .and_then(|l| l.rsplit(' ').next())
            .map_or(0.0, |v| v.parse().unwrap())
    };
    let queries = r#"operation_type="query",code="OK""#;
    let subscriptions = r#"operation_type="subscription",code="OK""#;
    let before = app.get("/metrics").await.1;

    let mut ws = Client::connect(&app, &token).await;
    ws.run("1", "{ viewer { username } }").await;
    ws.subscribe("2", &stock_changed(&ams)).await;
    until_delivering(&app.db_url, AMS_ROW, &mut [(&mut ws, &["2"])]).await;
    ws.complete("2").await;

    let deadline = Instant::now() + WAIT;
    loop {
        let after = app.get("/metrics").await.1;
        if count(&after, queries) > count(&before, queries)
            && count(&after, subscriptions) > count(&before, subscriptions)
        {
            break;
        }
        assert!(Instant::now() < deadline, "not counted: {after}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_request_timeout_applies_over_the_socket() {
    let mut settings = ServeSettings::default();
    settings.limits.request_timeout_ms = 500;
    let app = TestApp::spawn_with(settings).await;
    let token = app.admin_token().await;
    let mut ws = Client::connect(&app, &token).await;
    let holder = sql(&app.db_url).await;
    holder
        .batch_execute("BEGIN; LOCK TABLE products IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let started = Instant::now();
    let payload = ws.run("1", "{ products { nodes { id } } }").await;
    assert_eq!(
        payload["errors"][0]["extensions"]["code"], "SERVICE_UNAVAILABLE",
        "{payload}"
    );
    assert_eq!(
        payload["errors"][0]["extensions"]["limit"], 500,
        "{payload}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    holder.batch_execute("ROLLBACK").await.unwrap();
}
