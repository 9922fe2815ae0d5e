//! Many requests per connection: reads of concurrent requests share a few pipelined
//! connections, so the database's latency is paid once, not per request — measured through a
//! proxy that delays every byte 50 ms each way — and one request's trouble (a broken shared
//! connection, its cancellation, an exhausted pool) fails none of the others.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stockroom::config::{ReadSettings, ServeSettings};

use crate::{
    delay_proxy::DelayProxy,
    helpers::{TestApp, error_code, fresh_database},
    mutations_support::{fixture, sql},
};

/// The product-detail document of the issue.
const DETAIL: &str = "query($sku: String!) { product(sku: $sku) { sku name \
    stocks { quantity store { name } } \
    transactions(first: 10) { edges { node { id quantity } } } } }";

/// Latency added in each direction between the service and PostgreSQL.
const ONE_WAY: Duration = Duration::from_millis(50);

/// The service behind a delaying proxy (its sessions named `app_name`), a pool of
/// `pool_size`, the demo catalogue and its admin token.
async fn delayed_app(app_name: &str, pool_size: usize) -> (TestApp, DelayProxy, String) {
    let db_url = fresh_database().await;
    let proxy = DelayProxy::start(&db_url, ONE_WAY).await;
    let app = TestApp::spawn_through(
        &proxy.url(&db_url, app_name),
        &db_url,
        pool_size,
        Duration::from_secs(30),
        ServeSettings::default(),
    )
    .await;
    let token = app.seed_demo().await;
    (app, proxy, token)
}

async fn detail(app: &TestApp, token: &str) -> Value {
    app.graphql_as(token, DETAIL, json!({ "sku": "DEMO-001" }))
        .await
}

fn assert_detail(body: &Value) {
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["product"]["sku"], "DEMO-001", "{body}");
    let stocks = body["data"]["product"]["stocks"].as_array().unwrap();
    assert!(!stocks.is_empty(), "{body}");
    assert!(stocks.iter().all(|s| s["store"]["name"].is_string()));
    let edges = body["data"]["product"]["transactions"]["edges"]
        .as_array()
        .unwrap();
    assert!(!edges.is_empty(), "{body}");
}

/// `n` concurrent detail requests; the time until the last answered.
async fn burst(app: &TestApp, token: &str, n: usize) -> (Duration, Vec<Value>) {
    let started = Instant::now();
    let bodies = futures::future::join_all((0..n).map(|_| detail(app, token))).await;
    (started.elapsed(), bodies)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_reads_through_50_ms_each_way_take_about_as_long_as_one() {
    let (app, _proxy, token) = delayed_app("stockroom-latency", 10).await;
    // Warm up: every statement of the document prepared on the shared connections.
    for _ in 0..3 {
        for body in burst(&app, &token, 10).await.1 {
            assert_detail(&body);
        }
    }
    let mut one = Duration::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        assert_detail(&detail(&app, &token).await);
        one = one.min(started.elapsed());
    }
    let round_trip = ONE_WAY * 2;
    let round_trips = (one.as_secs_f64() / round_trip.as_secs_f64())
        .round()
        .max(1.0);
    let (hundred, bodies) = burst(&app, &token, 100).await;
    for body in &bodies {
        assert_detail(body);
    }
    // Queued behind the pool's 10 connections, 100 requests would take 10 × one; the bound is
    // 3 × one, plus one round trip of slack for a busy machine (one request is a single round
    // trip since session 11, so 3 × one alone left 100 ms for 100 requests' CPU).
    let bound = round_trip.mul_f64(3.0 * round_trips + 1.0);
    println!(
        "product detail with {} ms each way, pool of 10: one request {:.0} ms ({round_trips} round trips), \
         100 concurrent {:.0} ms ({:.1} × one); bound {:.0} ms",
        ONE_WAY.as_millis(),
        one.as_secs_f64() * 1000.0,
        hundred.as_secs_f64() * 1000.0,
        hundred.as_secs_f64() / one.as_secs_f64(),
        bound.as_secs_f64() * 1000.0,
    );
    assert!(
        hundred <= bound,
        "100 concurrent requests took {hundred:?}, over 3 × {round_trips} + 1 round trips ({bound:?})"
    );
}

/// The fewest sequential round trips (see [`DelayProxy::round_trips`]) of three runs of `run`.
async fn fewest_round_trips<F: std::future::Future<Output = ()>>(
    proxy: &DelayProxy,
    mut run: impl FnMut() -> F,
) -> usize {
    let mut fewest = usize::MAX;
    for _ in 0..3 {
        let before = proxy.round_trips();
        run().await;
        fewest = fewest.min(proxy.round_trips() - before);
    }
    fewest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_product_detail_or_a_store_view_costs_one_round_trip_with_its_token_check_and_a_movement_waits_for_two()
 {
    let (app, proxy, token) = delayed_app("stockroom-round-trips", 10).await;
    // Warm up: every statement prepared on every shared connection, the token's use recorded.
    for _ in 0..3 {
        for body in burst(&app, &token, 10).await.1 {
            assert_detail(&body);
        }
    }
    // The token check (the token passed one a moment ago, so the query does not wait for
    // it), and the product with its stock rows and its ledger page (found by the SKU inside
    // their statements: none waits for another), all sent together. The stock rows' stores
    // come from the copy of the reference tables the token check vouched for.
    let detail_trips = fewest_round_trips(&proxy, || async {
        assert_detail(&detail(&app, &token).await);
    })
    .await;
    assert_eq!(
        detail_trips, 1,
        "sequential round trips of one product detail"
    );
    // A store's stock page (the benchmark's W2): the token check, and the page found by the
    // store's code inside its statement, sent together; the store and the products'
    // categories come from the copy of the reference tables.
    let amsterdam = app
        .graphql_as(&token, "{ store(code: \"AMS\") { id } }", json!({}))
        .await;
    let amsterdam = amsterdam["data"]["store"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for by in ["code: \"AMS\"".to_string(), format!("id: \"{amsterdam}\"")] {
        let store_view = format!(
            "{{ store({by}) {{ stocks(first: 20) {{ edges {{ node {{ quantity \
             product {{ sku name category {{ name }} }} }} }} }} }} }}"
        );
        let store_trips = fewest_round_trips(&proxy, || async {
            let body = app.graphql_as(&token, &store_view, json!({})).await;
            let edges = body["data"]["store"]["stocks"]["edges"].as_array();
            assert!(edges.is_some_and(|e| !e.is_empty()), "{body}");
        })
        .await;
        assert_eq!(
            store_trips, 1,
            "sequential round trips of one store view by {by}"
        );
    }

    let ids = app
        .graphql_as(
            &token,
            "{ product(sku: \"DEMO-001\") { id stocks { store { id } } } }",
            json!({}),
        )
        .await;
    let product = ids["data"]["product"]["id"].as_str().unwrap().to_string();
    let store = ids["data"]["product"]["stocks"][0]["store"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let inbound = "mutation($p: ID!, $s: ID!) { recordInbound(input: {productId: $p, \
        storeId: $s, quantity: 1}) { newStock transaction { id } } }";
    let vars = json!({ "p": product, "s": store });
    let move_once = || async {
        let body = app.graphql_as(&token, inbound, vars.clone()).await;
        assert!(body.get("errors").is_none(), "{body}");
    };
    // Warm up: the pool hands out its idle connections in turn; each prepares the movement
    // statement the first time.
    for _ in 0..12 {
        move_once().await;
    }
    // The token check and the movement (one statement, whose answer is the payload; no
    // replicas, so no consistency token to read); then, on another connection, the
    // movement's announcement to live subscribers, sent after its commit (see `live.rs`).
    let movement_trips = fewest_round_trips(&proxy, move_once).await;
    assert!(
        movement_trips <= 3,
        "sequential round trips of one movement without a key: {movement_trips}"
    );
    // The announcement is not on the request's path: the answer comes after two round
    // trips (4 one-way delays), not three (6).
    let mut fastest = Duration::MAX;
    for _ in 0..3 {
        let started = std::time::Instant::now();
        move_once().await;
        fastest = fastest.min(started.elapsed());
    }
    assert!(
        fastest < ONE_WAY * 5,
        "a movement without a key waits for two round trips: {fastest:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broken_shared_connection_fails_none_of_the_requests_sharing_it() {
    let (app, _proxy, token) = delayed_app("stockroom-broken", 10).await;
    for body in burst(&app, &token, 10).await.1 {
        assert_detail(&body);
    }
    let admin = sql(&app.db_url).await;
    let requests = burst(&app, &token, 40);
    let cut = async {
        // Mid-burst: the timing is the test (some requests answered, others in flight on
        // the connection cut); any point inside the burst will do.
        tokio::time::sleep(Duration::from_millis(150)).await;
        let ended: i64 = admin
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = current_database() AND application_name = 'stockroom-broken'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        ended
    };
    let ((_, bodies), ended) = tokio::join!(requests, cut);
    assert!(ended > 0, "no service connection to end");
    for body in &bodies {
        assert_detail(body);
    }
    // And the service carries on on fresh connections.
    for body in burst(&app, &token, 10).await.1 {
        assert_detail(&body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancelled_request_fails_none_of_the_others_sharing_its_connection() {
    let (app, _proxy, token) = delayed_app("stockroom-cancel", 10).await;
    for body in burst(&app, &token, 10).await.1 {
        assert_detail(&body);
    }
    let app = std::sync::Arc::new(app);
    let spawn = |app: std::sync::Arc<TestApp>, token: String| {
        tokio::spawn(async move { detail(&app, &token).await })
    };
    let kept: Vec<_> = (0..20).map(|_| spawn(app.clone(), token.clone())).collect();
    let cancelled: Vec<_> = (0..20).map(|_| spawn(app.clone(), token.clone())).collect();
    // Mid-way (the token check is answered, the loaders' statements are in flight): the
    // moment of the cancellation is the test; any point inside the requests will do.
    tokio::time::sleep(Duration::from_millis(250)).await;
    for handle in &cancelled {
        handle.abort();
    }
    for handle in kept {
        assert_detail(&handle.await.unwrap());
    }
    for body in burst(&app, &token, 20).await.1 {
        assert_detail(&body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_go_on_while_transactions_have_exhausted_the_pool() {
    let db_url = fresh_database().await;
    let settings = ServeSettings {
        reads: ReadSettings {
            shared_connections: 2,
            ..ReadSettings::default()
        },
        ..ServeSettings::default()
    };
    // Four connections: two shared by reads, two for transactions.
    let app =
        TestApp::spawn_through(&db_url, &db_url, 4, Duration::from_millis(1500), settings).await;
    let f = fixture(&app, 10).await;
    let read = "query($id: ID!) { product(id: $id) { sku stocks { quantity store { code } } } }";
    let vars = json!({ "id": f.product_id });
    for _ in 0..4 {
        let body = app.graphql_as(&f.admin, read, vars.clone()).await;
        assert!(body.get("errors").is_none(), "{body}");
    }
    // Hold the stock rows: every movement waits on its lock, holding a pooled connection.
    let mut locker = sql(&app.db_url).await;
    let tx = locker.transaction().await.unwrap();
    tx.execute("SELECT * FROM stocks FOR UPDATE", &[])
        .await
        .unwrap();
    let move_one = |i: usize| {
        let app = &app;
        let f = &f;
        async move {
            app.graphql_as(
                &f.admin,
                "mutation($i: StockMovementInput!) { recordOutbound(input: $i) { newStock } }",
                json!({ "i": { "productId": f.product_id, "storeId": f.store_ids[i % 3], "quantity": 1 } }),
            )
            .await
        }
    };
    let movements = futures::future::join_all((0..6).map(move_one));
    let watcher = sql(&app.db_url).await;
    let reads = async {
        // Both transaction connections are taken: two movements wait for their locks.
        crate::helpers::until(
            Duration::from_secs(20),
            "the movements never took the pool",
            || async { crate::helpers::sessions_waiting_for_a_lock(&watcher).await >= 2 },
        )
        .await;
        futures::future::join_all((0..50).map(|_| app.graphql_as(&f.admin, read, vars.clone())))
            .await
    };
    let (moved, read_bodies) = tokio::join!(movements, reads);
    tx.rollback().await.unwrap();
    for body in &read_bodies {
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"]["product"]["sku"], "P-1");
    }
    assert!(
        moved
            .iter()
            .any(|b| error_code(b) == Some("SERVICE_UNAVAILABLE")),
        "the pool was not exhausted: {moved:?}"
    );
}
