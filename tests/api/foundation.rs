//! The foundation: `stockroom serve` on the embedded default (first run, restart, stale pid,
//! crash), health and readiness, the SDL, GraphiQL offline, and clear start-up errors.

use std::time::Duration;

use serde_json::json;
use stockroom::{
    config::ServeSettings,
    embedded_pg::{EmbeddedPostgres, StartOptions},
    graphql::schema,
};
use tokio::process::Command;

use crate::helpers::{BIN, Served, TempDir, TestApp, error_code, post_graphql};

const FIRST_PRODUCTS: &str = "{ products(first: 5) { totalCount edges { node { sku name } } } }";

#[tokio::test(flavor = "multi_thread")]
async fn first_run_seeds_a_demo_catalogue_and_a_second_run_reuses_it() {
    let dir = TempDir::new("serve");
    let served = Served::embedded(&dir.0).await;
    let token = served
        .token
        .clone()
        .expect("first run prints an admin token");
    let body = post_graphql(&served.base, &token, FIRST_PRODUCTS, json!({})).await;
    assert_eq!(body["data"]["products"]["totalCount"], 50, "{body}");
    assert_eq!(
        body["data"]["products"]["edges"].as_array().unwrap().len(),
        5
    );
    let viewer = post_graphql(
        &served.base,
        &token,
        "{ viewer { username role } }",
        json!({}),
    )
    .await;
    assert_eq!(
        viewer["data"]["viewer"],
        json!({"username": "admin", "role": "ADMIN"})
    );

    let status = served.terminate().await;
    assert!(status.success(), "serve exits 0 on SIGTERM, got {status}");
    assert!(
        !dir.0.join("pgdata/postmaster.pid").exists(),
        "PostgreSQL was stopped with the service"
    );

    let again = Served::embedded(&dir.0).await;
    assert!(
        again.token.is_none(),
        "a second run creates no new admin token"
    );
    let body = post_graphql(&again.base, &token, FIRST_PRODUCTS, json!({})).await;
    assert_eq!(
        body["data"]["products"]["totalCount"], 50,
        "data is reused: {body}"
    );
    assert!(again.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_postmaster_pid_or_a_crashed_run_does_not_prevent_the_next_start() {
    let dir = TempDir::new("stale");
    let served = Served::embedded(&dir.0).await;
    let token = served.token.clone().unwrap();
    assert!(served.terminate().await.success());

    // A postmaster.pid naming a live process that is not PostgreSQL (pids get reused).
    let pid_file = dir.0.join("pgdata/postmaster.pid");
    std::fs::write(
        &pid_file,
        format!("{}\n{}\n", std::process::id(), dir.0.display()),
    )
    .unwrap();
    let served = Served::embedded(&dir.0).await;
    let body = post_graphql(&served.base, &token, FIRST_PRODUCTS, json!({})).await;
    assert_eq!(body["data"]["products"]["totalCount"], 50, "{body}");

    // A crash (SIGKILL) leaves PostgreSQL running; the next start takes over.
    let mut child = served.child;
    child.kill().await.unwrap();
    let _ = child.wait().await;
    let served = Served::embedded(&dir.0).await;
    let body = post_graphql(&served.base, &token, FIRST_PRODUCTS, json!({})).await;
    assert_eq!(body["data"]["products"]["totalCount"], 50, "{body}");
    assert!(served.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn liveness_is_200_and_readiness_follows_the_database_down_and_back_up() {
    let dir = TempDir::new("ready");
    let options = StartOptions {
        port: 5433,
        fsync: false,
        max_connections: 50,
        replication: false,
    };
    let pg = EmbeddedPostgres::start(&dir.0, options.clone())
        .await
        .unwrap();
    pg.ensure_database("ready").await.unwrap();
    stockroom::db::migrations::run(&pg.url("ready"))
        .await
        .unwrap();
    let app = TestApp::spawn_on(&pg.url("ready"), ServeSettings::default()).await;
    let token = app.admin_token().await;

    assert_eq!(app.get("/healthz").await.0, 200);
    assert_eq!(app.get("/readyz").await.0, 200);

    pg.stop().unwrap();
    assert_eq!(
        app.get("/healthz").await.0,
        200,
        "liveness does not depend on the database"
    );
    assert_eq!(app.get("/readyz").await.0, 503);
    let started = std::time::Instant::now();
    let body = app.graphql_as(&token, FIRST_PRODUCTS, json!({})).await;
    assert_eq!(error_code(&body), Some("SERVICE_UNAVAILABLE"), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "refused within the pool timeout"
    );
    let text = body.to_string();
    assert!(
        !text.contains("connection") || !text.contains("refused"),
        "no driver text: {text}"
    );

    pg.restart(&options).unwrap();
    crate::helpers::until(
        Duration::from_secs(20),
        "readiness does not recover by itself",
        || async { app.get("/readyz").await.0 == 200 },
    )
    .await;
    let body = app.graphql_as(&token, FIRST_PRODUCTS, json!({})).await;
    assert!(body["errors"].is_null(), "queries work again: {body}");
    pg.stop().unwrap();
}

#[tokio::test]
async fn the_checked_in_schema_graphql_is_what_the_code_generates() {
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
            .expect("schema.graphql at the top of the repo");
    assert!(
        checked_in == schema::sdl(),
        "schema.graphql is stale: run `cargo run -- schema > schema.graphql`"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sdl_is_served_and_graphiql_works_with_no_internet() {
    let app = TestApp::spawn().await;
    let (status, sdl) = app.get("/schema.graphql").await;
    assert_eq!(status, 200);
    assert_eq!(sdl, schema::sdl());

    let (status, page) = app.get("/graphiql").await;
    assert_eq!(status, 200);
    for attr in ["src=\"", "href=\""] {
        for part in page.split(attr).skip(1) {
            let target = part.split('"').next().unwrap();
            assert!(
                target.starts_with('/'),
                "GraphiQL loads {target} from another host"
            );
            let (status, body) = app.get(target).await;
            assert_eq!(status, 200, "{target}");
            assert!(!body.is_empty());
        }
    }
}

async fn run_cli(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("DATABASE_URL").kill_on_drop(true);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("the command ends")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_says_clearly_what_is_wrong_and_exits_non_zero() {
    // A port in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    let dir = TempDir::new("busy");
    let out = run_cli(
        &["serve", "--listen", &port],
        &[("STOCKROOM_DATA_DIR", dir.0.to_str().unwrap())],
    )
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("cannot listen on"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    // A data directory that cannot be created.
    let out = run_cli(
        &["serve", "--listen", "127.0.0.1:0"],
        &[("STOCKROOM_DATA_DIR", "/proc/stockroom/data")],
    )
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("cannot use the data directory"), "{err}");

    // A wrong DATABASE_URL.
    let out = run_cli(
        &["serve", "--listen", "127.0.0.1:0"],
        &[("DATABASE_URL", "postgres://nobody@127.0.0.1:1/nothing")],
    )
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("DATABASE_URL"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    // No PostgreSQL binaries, and nothing half-created left behind.
    let dir = TempDir::new("nobin");
    let data = dir.0.join("data");
    let out = run_cli(
        &["serve", "--listen", "127.0.0.1:0"],
        &[
            ("STOCKROOM_DATA_DIR", data.to_str().unwrap()),
            ("STOCKROOM_PG_BINDIR", "/nonexistent"),
        ],
    )
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("apt-get install -y postgresql"), "{err}");
    assert!(!data.join("pgdata").exists());
}

#[tokio::test]
async fn connections_killed_behind_the_pools_back_cost_no_request_an_error() {
    let app = TestApp::spawn().await;
    app.seed_demo().await;
    let token = app.admin_token().await;
    // Fill the pool: several requests at once take several connections.
    let warm: Vec<_> = (0..4)
        .map(|_| app.graphql_as(&token, FIRST_PRODUCTS, json!({})))
        .collect();
    for body in futures::future::join_all(warm).await {
        assert!(body.get("errors").is_none(), "{body}");
    }
    // Every pooled connection of the service dies (a failover, an idle-connection reaper);
    // the pool checks out without a ping, so a dead one is found when used and replaced.
    crate::helpers::admin_execute(
        &app.db_url,
        // (waiting up to 5 s for each to be gone, so none dies half-way through a request below)
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .await;
    for _ in 0..6 {
        let body = app.graphql_as(&token, FIRST_PRODUCTS, json!({})).await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(
            body["data"]["products"]["edges"].as_array().unwrap().len(),
            5
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_database_is_dropped_when_its_app_is() {
    let app = TestApp::spawn().await;
    let db = crate::helpers::sql(&app.db_url).await;
    let name: String = db
        .query_one("SELECT current_database()::text", &[])
        .await
        .unwrap()
        .get(0);
    let url = app.db_url.clone();
    drop(db);
    drop(app);
    let other = TestApp::spawn().await;
    let left: i64 = crate::helpers::sql(&other.db_url)
        .await
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "{url}");
}
