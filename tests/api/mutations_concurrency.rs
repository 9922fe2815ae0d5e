//! Movements under concurrency: no oversell, no deadlock, a ledger that always reconciles.
//! A deliberately naive read-then-write outbound is kept here to show the burst assertion
//! can fail.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::{Duration, Instant},
};

use futures::future::join_all;
use serde_json::json;

use crate::{
    helpers::{TestApp, error_code},
    mutations_support::{
        fixture, ledger_count, movement, reconciliation_errors, sql, stock_of, transfer,
    },
};

/// How a burst of single-unit outbounds on a row holding `stock` units must end.
fn check_burst(
    stock: i32,
    succeeded: usize,
    refused: usize,
    final_stock: i32,
    ledger_rows: i64,
) -> Result<(), String> {
    let expected = usize::try_from(stock).unwrap();
    if succeeded != expected {
        return Err(format!(
            "{succeeded} outbounds succeeded, expected {expected}"
        ));
    }
    if final_stock != 0 {
        return Err(format!("final stock {final_stock}, expected 0"));
    }
    if ledger_rows != i64::from(stock) {
        return Err(format!("{ledger_rows} ledger rows, expected {stock}"));
    }
    let _ = refused;
    Ok(())
}

const BURST: usize = 200;
const BURST_STOCK: i32 = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_outbounds_on_fifty_units_sell_exactly_fifty() {
    let app = Arc::new(TestApp::spawn().await);
    let f = fixture(&app, BURST_STOCK).await;
    let input = json!({"productId": f.product_id, "storeId": f.store_ids[0], "quantity": 1});
    let results = join_all((0..BURST).map(|_| {
        let app = app.clone();
        let token = f.admin.clone();
        let input = input.clone();
        tokio::spawn(async move { movement(&app, &token, false, input).await })
    }))
    .await;
    let mut ok = 0;
    let mut insufficient = 0;
    for r in results {
        let body = r.unwrap();
        match error_code(&body) {
            None => ok += 1,
            Some("INSUFFICIENT_STOCK") => insufficient += 1,
            Some(other) => panic!("unexpected error {other}: {body}"),
        }
    }
    assert_eq!(insufficient, BURST - usize::try_from(BURST_STOCK).unwrap());
    let final_stock = stock_of(&app.db_url, f.product, f.stores[0]).await;
    let rows = ledger_count(&app.db_url, "type = 'OUTBOUND'").await;
    check_burst(BURST_STOCK, ok, insufficient, final_stock, rows).unwrap();
    assert!(reconciliation_errors(&app.db_url).await.is_empty());
}

/// The wrong way: read the stock, decide, then write the computed value in another statement.
async fn naive_outbound(db: &tokio_postgres::Client, product: i32, store: i32) -> bool {
    let have: i32 = db
        .query_one(
            "SELECT quantity FROM stocks WHERE product_id = $1 AND store_id = $2",
            &[&product, &store],
        )
        .await
        .unwrap()
        .get(0);
    if have < 1 {
        return false;
    }
    // The window between the read and the write that concurrent requests fall into.
    tokio::time::sleep(Duration::from_millis(2)).await;
    let after = have - 1;
    db.execute(
        "UPDATE stocks SET quantity = $3 WHERE product_id = $1 AND store_id = $2",
        &[&product, &store, &after],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO inventory_transactions (type, product_id, store_id, quantity, quantity_after) \
         VALUES ('OUTBOUND', $1, $2, -1, $3)",
        &[&product, &store, &after],
    )
    .await
    .unwrap();
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_burst_assertion_catches_a_naive_read_then_write_outbound() {
    let app = TestApp::spawn().await;
    let f = fixture(&app, BURST_STOCK).await;
    let clients = Arc::new(join_all((0..40).map(|_| sql(&app.db_url))).await);
    let per_client = BURST / clients.len();
    let results = join_all((0..clients.len()).map(|c| {
        let clients = clients.clone();
        let (p, s) = (f.product, f.stores[0]);
        tokio::spawn(async move {
            let mut ok = 0;
            for _ in 0..per_client {
                if naive_outbound(&clients[c], p, s).await {
                    ok += 1;
                }
            }
            ok
        })
    }))
    .await;
    let ok: usize = results.into_iter().map(Result::unwrap).sum();
    let final_stock = stock_of(&app.db_url, f.product, f.stores[0]).await;
    let rows = ledger_count(&app.db_url, "type = 'OUTBOUND'").await;
    let verdict = check_burst(BURST_STOCK, ok, BURST - ok, final_stock, rows);
    assert!(
        verdict.is_err(),
        "the naive version oversold nothing this time ({ok} sold); the check must be able to fail"
    );
    assert!(
        ok > usize::try_from(BURST_STOCK).unwrap(),
        "it oversold: {ok} sold of 50"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_random_mix_of_movements_and_transfers_between_three_stores_stays_consistent() {
    let app = Arc::new(TestApp::spawn().await);
    let f = Arc::new(fixture(&app, 100).await);
    let inbound = Arc::new(AtomicI64::new(0));
    let outbound = Arc::new(AtomicI64::new(0));
    let deadline = Instant::now() + Duration::from_secs(3);
    let workers = (0..12u64).map(|w| {
        let (app, f) = (app.clone(), f.clone());
        let (inbound, outbound) = (inbound.clone(), outbound.clone());
        tokio::spawn(async move {
            let mut seed = w.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let mut next = move |n: u64| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed % n
            };
            let mut done = 0;
            while Instant::now() < deadline {
                let q = i64::try_from(1 + next(8)).unwrap();
                let a = usize::try_from(next(3)).unwrap();
                let b = (a + 1 + usize::try_from(next(2)).unwrap()) % 3;
                let input =
                    json!({"productId": f.product_id, "storeId": f.store_ids[a], "quantity": q});
                let body = match next(3) {
                    0 => movement(&app, &f.admin, true, input).await,
                    1 => movement(&app, &f.admin, false, input).await,
                    _ => {
                        transfer(
                            &app,
                            &f.admin,
                            json!({"productId": f.product_id, "fromStoreId": f.store_ids[a],
                                   "toStoreId": f.store_ids[b], "quantity": q}),
                        )
                        .await
                    }
                };
                match error_code(&body) {
                    None => {
                        if let Some(p) = body["data"]["recordInbound"].as_object() {
                            assert_eq!(p["transaction"]["quantity"], q);
                            inbound.fetch_add(q, Ordering::SeqCst);
                        } else if body["data"]["recordOutbound"].is_object() {
                            outbound.fetch_add(q, Ordering::SeqCst);
                        }
                    }
                    Some("INSUFFICIENT_STOCK") => {}
                    Some(other) => panic!("unexpected {other}: {body}"),
                }
                done += 1;
            }
            done
        })
    });
    let done: usize = join_all(workers)
        .await
        .into_iter()
        .map(Result::unwrap)
        .sum();
    assert!(done > 50, "only {done} requests ran");
    let db = sql(&app.db_url).await;
    let total: i64 = db
        .query_one("SELECT sum(quantity)::int8 FROM stocks", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        total,
        300 + inbound.load(Ordering::SeqCst) - outbound.load(Ordering::SeqCst),
        "total over stores changes by inbound - outbound"
    );
    let errors = reconciliation_errors(&app.db_url).await;
    assert!(errors.is_empty(), "{errors:?}");
    let legs: i64 = db
        .query_one(
            "SELECT count(*) FROM (SELECT reference FROM inventory_transactions WHERE reference IS NOT NULL \
             GROUP BY reference HAVING count(*) <> 2 OR sum(quantity) <> 0) x",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(legs, 0, "every transfer has two legs that cancel out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn opposite_transfers_at_once_never_deadlock() {
    let app = Arc::new(TestApp::spawn().await);
    let f = Arc::new(fixture(&app, 1000).await);
    let bodies = join_all((0..60).map(|i| {
        let (app, f) = (app.clone(), f.clone());
        let (a, b) = if i % 2 == 0 { (0, 1) } else { (1, 0) };
        tokio::spawn(async move {
            transfer(
                &app,
                &f.admin,
                json!({"productId": f.product_id, "fromStoreId": f.store_ids[a],
                       "toStoreId": f.store_ids[b], "quantity": 1 + i % 3}),
            )
            .await
        })
    }))
    .await;
    for body in bodies {
        let body = body.unwrap();
        assert!(error_code(&body).is_none(), "{body}");
    }
    let total = stock_of(&app.db_url, f.product, f.stores[0]).await
        + stock_of(&app.db_url, f.product, f.stores[1]).await;
    assert_eq!(total, 2000);
    assert!(reconciliation_errors(&app.db_url).await.is_empty());
}

/// Waits until the movements of requests whose clients hung up have all ended: no other
/// session of the database is in a transaction and the ledger has not grown, over ten checks
/// in a row (a request the service reads late still starts within that second).
async fn until_no_movement_runs(db_url: &str) {
    let db = sql(db_url).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let (mut quiet_checks, mut last_ledger) = (0, -1);
    while quiet_checks < 10 {
        assert!(
            std::time::Instant::now() < deadline,
            "the movements never stopped"
        );
        tokio::time::sleep(Duration::from_millis(80)).await;
        let row = db
            .query_one(
                "SELECT (SELECT count(*) FROM pg_stat_activity \
                         WHERE datname = current_database() AND pid <> pg_backend_pid() \
                           AND backend_type = 'client backend' AND xact_start IS NOT NULL), \
                        (SELECT count(*) FROM inventory_transactions)",
                &[],
            )
            .await
            .unwrap();
        let (busy, ledger): (i64, i64) = (row.get(0), row.get(1));
        quiet_checks = if busy == 0 && ledger == last_ledger {
            quiet_checks + 1
        } else {
            0
        };
        last_ledger = ledger;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clients_that_hang_up_mid_request_leave_whole_movements_or_nothing() {
    let app = Arc::new(TestApp::spawn().await);
    let f = Arc::new(fixture(&app, 500).await);
    let impatient = reqwest::Client::new();
    let calls = (0..100u64).map(|i| {
        let (app, f, client) = (app.clone(), f.clone(), impatient.clone());
        tokio::spawn(async move {
            let query = "mutation($input: TransferStockInput!) { transferStock(input: $input) { outbound { id } } }";
            let vars = json!({"input": {"productId": f.product_id, "fromStoreId": f.store_ids[0],
                                        "toStoreId": f.store_ids[1], "quantity": 1}});
            // Give up after 1..10 ms: many requests are cut while their transaction runs.
            let _ = client
                .post(format!("{}/graphql", app.base))
                .bearer_auth(&f.admin)
                .timeout(Duration::from_millis(1 + i % 10))
                .json(&json!({"query": query, "variables": vars}))
                .send()
                .await;
        })
    });
    join_all(calls).await;
    until_no_movement_runs(&app.db_url).await;
    let errors = reconciliation_errors(&app.db_url).await;
    assert!(errors.is_empty(), "{errors:?}");
    let legs = ledger_count(&app.db_url, "reference IS NOT NULL").await;
    assert_eq!(legs % 2, 0, "no half transfer");
    let moved = stock_of(&app.db_url, f.product, f.stores[1]).await - 500;
    assert_eq!(i64::from(moved) * 2, legs);
}
