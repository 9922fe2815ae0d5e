//! Read replicas, against a real streaming replica: the harness starts a primary that feeds
//! replicas, takes a `pg_basebackup -R` of it and starts that copy. Queries read from the
//! replica; mutations, their payloads and token checks from the primary; a replica that lags
//! (replay paused) or is down is skipped; a consistency token gets a query what its mutation
//! wrote.
//!
//! The pair is shared by these tests, which run one at a time (pausing replay or stopping the
//! replica affects every database on it).

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use stockroom::{
    config::{ReadSettings, ServeSettings},
    embedded_pg::{EmbeddedPostgres, StartOptions},
};
use tokio::sync::{Mutex, MutexGuard, OnceCell};

use crate::{
    helpers::{TestApp, admin_execute},
    mutations_support::{Fixture, fixture, sql},
};

struct Pair {
    primary: EmbeddedPostgres,
    replica: EmbeddedPostgres,
    template: String,
}

static PAIR: OnceCell<Pair> = OnceCell::const_new();
static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());
static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn options() -> StartOptions {
    StartOptions {
        port: 5432,
        fsync: false,
        max_connections: 200,
        replication: true,
    }
}

async fn pair() -> &'static Pair {
    PAIR.get_or_init(|| async {
        let dir: PathBuf =
            std::env::temp_dir().join(format!("stockroom-repl-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let primary = EmbeddedPostgres::start(&dir.join("primary"), options())
            .await
            .expect("start the primary");
        primary
            .stop_and_remove_when_process_exits(std::process::id())
            .unwrap();
        let template = "stockroom_repl_template".to_string();
        admin_execute(
            &primary.url("postgres"),
            &format!("CREATE DATABASE {template}"),
        )
        .await;
        stockroom::db::migrations::run(&primary.url(&template))
            .await
            .expect("migrate the template");
        let replica_root = dir.join("replica");
        primary
            .base_backup(&replica_root)
            .expect("pg_basebackup of the primary");
        let replica = EmbeddedPostgres::start(&replica_root, options())
            .await
            .expect("start the replica");
        replica
            .stop_and_remove_when_process_exits(std::process::id())
            .unwrap();
        Pair {
            primary,
            replica,
            template,
        }
    })
    .await
}

/// A database of its own on the pair (created on the primary, once the replica has it too),
/// and the service on it reading from the replica.
struct Setup {
    app: TestApp,
    replica_url: String,
    f: Fixture,
    _serial: MutexGuard<'static, ()>,
}

async fn setup(max_lag_ms: u64) -> Setup {
    let serial = ONE_AT_A_TIME.lock().await;
    let pair = pair().await;
    let name = format!(
        "stockroom_repl_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    );
    admin_execute(
        &pair.primary.url("postgres"),
        &format!("CREATE DATABASE {name} TEMPLATE {}", pair.template),
    )
    .await;
    let replica_url = pair.replica.url(&name);
    let settings = ServeSettings {
        reads: ReadSettings {
            read_database_urls: vec![replica_url.clone()],
            max_replica_lag_ms: max_lag_ms,
            ..ReadSettings::default()
        },
        ..ServeSettings::default()
    };
    let app = TestApp::spawn_on(&pair.primary.url(&name), settings).await;
    let f = fixture(&app, 10).await;
    // A test that failed with replay paused must not fail the ones after it.
    replay(true).await;
    caught_up().await;
    let setup = Setup {
        app,
        replica_url,
        f,
        _serial: serial,
    };
    setup.until_the_replica_serves().await;
    setup
}

/// Waits until the replica has replayed everything the primary has written.
async fn caught_up() {
    let pair = pair().await;
    let primary = sql(&pair.primary.url("postgres")).await;
    let target: String = primary
        .query_one("SELECT pg_current_wal_insert_lsn()::text", &[])
        .await
        .unwrap()
        .get(0);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok((client, conn)) =
            tokio_postgres::connect(&pair.replica.url("postgres"), tokio_postgres::NoTls).await
        {
            tokio::spawn(conn);
            let done: Option<bool> = client
                .query_one(
                    "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn",
                    &[&target],
                )
                .await
                .unwrap()
                .get(0);
            if done == Some(true) {
                return;
            }
        }
        assert!(Instant::now() < deadline, "the replica did not catch up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Pauses (or resumes) WAL replay on the replica.
async fn replay(on: bool) {
    let f = if on {
        "pg_wal_replay_resume"
    } else {
        "pg_wal_replay_pause"
    };
    admin_execute(
        &pair().await.replica.url("postgres"),
        &format!("SELECT {f}()"),
    )
    .await;
}

const STOCK: &str = "query($p: ID!, $s: ID!) { stock(productId: $p, storeId: $s) { quantity } product(id: $p) { name } }";

impl Setup {
    fn vars(&self) -> Value {
        json!({ "p": self.f.product_id, "s": self.f.store_ids[0] })
    }

    /// (quantity, product name) as a query reads them, with a consistency token or not.
    async fn read(&self, consistency: Option<&str>) -> (i64, String) {
        let headers: Vec<(&str, &str)> = consistency
            .map(|token| ("stockroom-consistency", token))
            .into_iter()
            .collect();
        let body = crate::helpers::post_graphql_with(
            &self.app.client,
            &self.app.base,
            Some(&self.f.admin),
            &headers,
            STOCK,
            self.vars(),
        )
        .await;
        assert!(body.get("errors").is_none(), "{body}");
        (
            body["data"]["stock"]["quantity"].as_i64().unwrap(),
            body["data"]["product"]["name"]
                .as_str()
                .unwrap()
                .to_string(),
        )
    }

    async fn inbound(&self, quantity: i32) -> Value {
        let body = self
            .app
            .graphql_as(
                &self.f.admin,
                "mutation($i: StockMovementInput!) { recordInbound(input: $i) { newStock stock { quantity } } }",
                json!({ "i": { "productId": self.f.product_id, "storeId": self.f.store_ids[0], "quantity": quantity } }),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        body
    }

    /// Waits until queries are served by the replica again.
    async fn until_the_replica_serves(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let before = self.app.reads_served_by("replica1").await;
            self.read(None).await;
            if self.app.reads_served_by("replica1").await > before {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the replica never served a query"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_read_from_the_replica_while_mutations_payloads_and_tokens_read_from_the_primary() {
    let s = setup(60_000).await;
    let before = s.app.reads_served_by("replica1").await;
    for _ in 0..5 {
        assert_eq!(s.read(None).await.0, 10);
    }
    assert_eq!(s.app.reads_served_by("replica1").await - before, 5);

    // With replay paused, what the primary writes is not on the replica.
    replay(false).await;
    let before = s.app.reads_served_by("replica1").await;
    let body = s.inbound(5).await;
    // The payload is read from the primary: it shows the movement.
    assert_eq!(body["data"]["recordInbound"]["newStock"], 15);
    assert_eq!(body["data"]["recordInbound"]["stock"]["quantity"], 15);
    assert!(body["extensions"]["consistency"].is_string(), "{body}");
    assert_eq!(s.app.reads_served_by("replica1").await, before);
    // A token created a moment ago (not on the replica yet) is accepted: tokens are checked
    // on the primary.
    let token = s
        .app
        .user_token("fresh-viewer", stockroom::domain::role::Role::Viewer, &[])
        .await;
    let body = s
        .app
        .graphql_as(&token, "{ viewer { username } }", json!({}))
        .await;
    assert_eq!(body["data"]["viewer"]["username"], "fresh-viewer", "{body}");
    // And the query itself read the replica: the old quantity.
    assert_eq!(s.read(None).await.0, 10);
    replay(true).await;
    caught_up().await;
    assert_eq!(s.read(None).await.0, 15);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_lagging_more_than_the_limit_is_skipped_until_it_catches_up() {
    let s = setup(300).await;
    replay(false).await;
    let db = sql(&s.app.db_url).await;
    db.execute(
        "UPDATE products SET name = 'Renamed' WHERE id = $1",
        &[&s.f.product],
    )
    .await
    .unwrap();
    // Past the limit (and a check or two), the primary serves: the new name (the paused
    // replica still has the old one).
    crate::helpers::until(
        Duration::from_secs(20),
        "the lagging replica kept serving",
        || async { s.read(None).await.1 == "Renamed" },
    )
    .await;
    let before = s.app.reads_served_by("replica1").await;
    for _ in 0..5 {
        assert_eq!(s.read(None).await.1, "Renamed");
    }
    assert_eq!(s.app.reads_served_by("replica1").await, before);
    // Replay resumes: the replica catches up and serves again.
    replay(true).await;
    caught_up().await;
    s.until_the_replica_serves().await;
    assert_eq!(s.read(None).await.1, "Renamed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_goes_down_leaves_its_reads_to_the_primary_until_it_is_back() {
    let s = setup(60_000).await;
    let pair = pair().await;
    let replica = &pair.replica;
    tokio::task::block_in_place(|| replica.stop()).unwrap();
    // Right away (the monitor has not noticed yet) and after: every query is answered.
    for _ in 0..5 {
        assert_eq!(s.read(None).await.0, 10);
    }
    // Give the monitor (a check every 100 ms) time to mark the replica down. Nothing outside
    // shows its verdict, and the reads below are answered by the primary either way (a read
    // the replica cannot serve falls back): the wait only makes them take the marked-down
    // path, so it may stay a fixed one.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let before = s.app.reads_served_by("replica1").await;
    for _ in 0..5 {
        assert_eq!(s.read(None).await.0, 10);
    }
    assert_eq!(s.app.reads_served_by("replica1").await, before);
    tokio::task::block_in_place(|| replica.restart(&options())).unwrap();
    caught_up().await;
    s.until_the_replica_serves().await;
    let _ = &s.replica_url;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consistency_token_gets_a_query_what_its_mutation_wrote() {
    let s = setup(60_000).await;
    replay(false).await;
    let body = s.inbound(5).await;
    let token = body["extensions"]["consistency"]
        .as_str()
        .unwrap()
        .to_string();
    // Without the token the (paused, not lagging by the limit) replica answers: the old value.
    assert_eq!(s.read(None).await.0, 10);
    // With it, only a node that replayed that far may: the replica cannot (within 100 ms), so
    // the primary answers.
    let primary_before = s.app.reads_served_by("primary").await;
    assert_eq!(s.read(Some(&token)).await.0, 15);
    assert_eq!(s.app.reads_served_by("primary").await, primary_before + 1);
    replay(true).await;
    caught_up().await;
    // Once the replica has replayed that far, it serves the token too.
    let before = s.app.reads_served_by("replica1").await;
    assert_eq!(s.read(Some(&token)).await.0, 15);
    assert_eq!(s.app.reads_served_by("replica1").await, before + 1);
}
