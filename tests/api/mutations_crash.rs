//! A server killed with SIGKILL in the middle of a burst of movements loses nothing it
//! acknowledged and leaves no half movement: after a restart, every movement whose response
//! reached the client is in the ledger, and stock and ledger reconcile.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::future::join_all;
use serde_json::json;

use crate::{
    helpers::{Served, TestApp, fresh_database, post_graphql},
    mutations_support::{fixture, reconciliation_errors, sql},
};

/// `stockroom serve` on `db_url`; returns the child and its base URL.
async fn serve(db_url: &str) -> (tokio::process::Child, String) {
    let served = Served::start(&[("DATABASE_URL", Some(db_url))]).await;
    (served.child, served.base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_killed_mid_burst_keeps_every_acknowledged_movement_and_reconciles() {
    let db_url = fresh_database().await;
    // Arrange through an in-process app on the same database (users, tokens, catalogue).
    let arranger = TestApp::spawn_on(&db_url, stockroom::config::ServeSettings::default()).await;
    let f = Arc::new(fixture(&arranger, 1000).await);
    let (mut child, base) = serve(&db_url).await;

    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let client = reqwest::Client::new();
    let workers = (0..16).map(|w| {
        let (f, acked, client, base) = (f.clone(), acked.clone(), client.clone(), base.clone());
        tokio::spawn(async move {
            for i in 0.. {
                let (name, store) = if (w + i) % 2 == 0 {
                    ("recordInbound", w % 3)
                } else {
                    ("recordOutbound", (w + 1) % 3)
                };
                let query = format!(
                    "mutation($input: StockMovementInput!) {{ {name}(input: $input) {{ transaction {{ id }} }} }}"
                );
                let vars = json!({"input": {"productId": f.product_id,
                                            "storeId": f.store_ids[store], "quantity": 1}});
                let Ok(res) = client
                    .post(format!("{base}/graphql"))
                    .bearer_auth(&f.admin)
                    .json(&json!({"query": query, "variables": vars}))
                    .send()
                    .await
                else {
                    break;
                };
                let Ok(body) = res.json::<serde_json::Value>().await else {
                    break;
                };
                if let Some(id) = body["data"][name]["transaction"]["id"].as_str() {
                    acked.lock().unwrap().push(id.to_string());
                }
            }
        })
    });
    let workers: Vec<_> = workers.collect();
    // Kill mid-burst: once a good number of movements were acknowledged (and more are in
    // flight: the workers keep sending).
    crate::helpers::until(
        Duration::from_secs(60),
        "the burst did not get going",
        || async { acked.lock().unwrap().len() > 50 },
    )
    .await;
    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();
    join_all(workers).await;
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 10,
        "the burst ran ({} acknowledged)",
        acked.len()
    );

    let (_again, base) = serve(&db_url).await;
    let body = post_graphql(
        &base,
        &f.admin,
        "query($p: ID!, $s: ID!) { stock(productId: $p, storeId: $s) { quantity } }",
        json!({"p": f.product_id, "s": f.store_ids[0]}),
    )
    .await;
    assert!(body["data"]["stock"]["quantity"].is_number(), "{body}");

    let db = sql(&db_url).await;
    let ids: Vec<i64> = acked
        .iter()
        .map(|gid| match stockroom::graphql::ids::NodeId::decode(gid) {
            Some(stockroom::graphql::ids::NodeId::InventoryTransaction(id)) => id,
            other => panic!("not a ledger id: {other:?}"),
        })
        .collect();
    let found: i64 = db
        .query_one(
            "SELECT count(*) FROM inventory_transactions WHERE id = ANY($1)",
            &[&ids],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        found,
        i64::try_from(ids.len()).unwrap(),
        "every acknowledged movement is kept"
    );
    let errors = reconciliation_errors(&db_url).await;
    assert!(errors.is_empty(), "{errors:?}");
}
