//! Test harness: one private PostgreSQL per test run (or `TEST_DATABASE_URL`), a template
//! database migrated once, a fresh database per test, and `TestApp` — the real server on a
//! random port, spoken to over HTTP.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::atomic::{AtomicUsize, Ordering},
};

use serde_json::{Value, json};
use stockroom::{
    app::{self, AppState},
    config::ServeSettings,
    db::{self, DbPool},
    domain::role::Role,
    embedded_pg::{EmbeddedPostgres, StartOptions},
};
use tokio::sync::{OnceCell, oneshot};

pub mod ws;

/// The PostgreSQL server of this test run.
struct Cluster {
    /// URL template with `{db}` where the database name goes.
    url_template: String,
    /// The migrated template database.
    template: String,
    /// Keeps the private cluster's lock for the life of the process.
    _embedded: Option<EmbeddedPostgres>,
}

static CLUSTER: OnceCell<Cluster> = OnceCell::const_new();
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

impl Cluster {
    fn url(&self, db: &str) -> String {
        self.url_template.replace("{db}", db)
    }
}

async fn cluster() -> &'static Cluster {
    CLUSTER
        .get_or_init(|| async {
            let (url_template, embedded) = match std::env::var("TEST_DATABASE_URL") {
                Ok(url) => (replace_db_name(&url), None),
                Err(_) => {
                    let dir =
                        std::env::temp_dir().join(format!("stockroom-test-{}", std::process::id()));
                    let _ = std::fs::remove_dir_all(&dir);
                    let pg = EmbeddedPostgres::start(
                        &dir,
                        StartOptions {
                            port: 5432,
                            fsync: false,
                            max_connections: 500,
                            replication: false,
                        },
                    )
                    .await
                    .expect("start the test PostgreSQL");
                    pg.stop_and_remove_when_process_exits(std::process::id())
                        .expect("start the cleanup watchdog");
                    (pg.url("{db}"), Some(pg))
                }
            };
            let template = format!("stockroom_template_{}", std::process::id());
            let admin = url_template.replace("{db}", "postgres");
            admin_execute(&admin, &format!("DROP DATABASE IF EXISTS {template}")).await;
            admin_execute(&admin, &format!("CREATE DATABASE {template}")).await;
            db::migrations::run(&url_template.replace("{db}", &template))
                .await
                .expect("migrate the template database");
            Cluster {
                url_template,
                template,
                _embedded: embedded,
            }
        })
        .await
}

/// `postgres://u@h/NAME?x` → `postgres://u@h/{db}?x`.
fn replace_db_name(url: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let slash = base
        .rfind('/')
        .expect("TEST_DATABASE_URL has a database name");
    let mut out = format!("{}/{{db}}", &base[..slash]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A plain SQL client on `db_url` (its connection runs on a task of its own), for the checks
/// and set-ups tests make behind the service's back.
pub async fn sql(db_url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(db_url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test database");
    tokio::spawn(conn);
    client
}

/// Runs one statement on the server's maintenance database.
pub async fn admin_execute(admin_url: &str, statement: &str) {
    sql(admin_url)
        .await
        .batch_execute(statement)
        .await
        .expect(statement);
}

/// A fresh database of its own, cloned from the migrated template.
pub async fn fresh_database() -> String {
    let cluster = cluster().await;
    let name = format!(
        "stockroom_test_{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::SeqCst)
    );
    admin_execute(
        &cluster.url("postgres"),
        &format!("CREATE DATABASE {name} TEMPLATE {}", cluster.template),
    )
    .await;
    cluster.url(&name)
}

/// A fresh empty database (no migrations applied).
pub async fn empty_database() -> String {
    let cluster = cluster().await;
    let name = format!(
        "stockroom_empty_{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::SeqCst)
    );
    admin_execute(&cluster.url("postgres"), &format!("CREATE DATABASE {name}")).await;
    cluster.url(&name)
}

/// The service running on a random port over a database of its own.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The bound address.
    pub addr: SocketAddr,
    /// The database URL.
    pub db_url: String,
    /// A pool on the test's database, for arranging data and checking results.
    pub pool: DbPool,
    /// An HTTP client.
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    /// The database this app was given to own (`spawn`, `spawn_with`): dropped with it.
    owned_database: Option<String>,
}

impl TestApp {
    /// Starts the service with default settings on a fresh database.
    pub async fn spawn() -> Self {
        Self::spawn_with(ServeSettings::default()).await
    }

    /// Starts the service with these settings on a fresh database.
    pub async fn spawn_with(settings: ServeSettings) -> Self {
        let db_url = fresh_database().await;
        let mut app = Self::spawn_on(&db_url, settings).await;
        app.owned_database = Some(db_url);
        app
    }

    /// Starts the service on an existing database.
    pub async fn spawn_on(db_url: &str, settings: ServeSettings) -> Self {
        let server_url = db::pool::with_session_settings(db_url, settings.limits.request_timeout());
        let server_pool = db::pool::build_with(&server_url, 20, std::time::Duration::from_secs(3))
            .expect("build the server pool");
        Self::serve_with_pool(db_url, server_pool, settings).await
    }

    /// Starts the service on `server_url` (a proxy's URL, say) with a pool of `pool_size`
    /// and `timeout`; the test's own pool uses `db_url` directly.
    pub async fn spawn_through(
        server_url: &str,
        db_url: &str,
        pool_size: usize,
        timeout: std::time::Duration,
        settings: ServeSettings,
    ) -> Self {
        let server_url =
            db::pool::with_session_settings(server_url, settings.limits.request_timeout());
        let server_pool =
            db::pool::build_with(&server_url, pool_size, timeout).expect("build the server pool");
        Self::serve_with_pool(db_url, server_pool, settings).await
    }

    /// How many operations the database node `node` (`primary`, `replica1`, …) served, as
    /// `/metrics` says (the counter is the process's: compare before and after).
    pub async fn reads_served_by(&self, node: &str) -> u64 {
        let (_, body) = self.get("/metrics").await;
        let prefix = format!("stockroom_db_reads_total{{node=\"{node}\"}} ");
        body.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map_or(0, |n| n.trim().parse().unwrap())
    }

    /// Starts the service over `server_pool` (on `db_url`) on a random port.
    async fn serve_with_pool(db_url: &str, server_pool: DbPool, settings: ServeSettings) -> Self {
        let pool = db::pool::build_with(db_url, 10, std::time::Duration::from_secs(5))
            .expect("build the test pool");
        let listener = app::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let state = AppState::new(server_pool, settings);
        tokio::spawn(app::serve(listener, state, async {
            let _ = rx.await;
        }));
        Self {
            base: format!("http://{addr}"),
            addr,
            db_url: db_url.to_string(),
            pool,
            client: reqwest::Client::new(),
            shutdown: Some(tx),
            owned_database: None,
        }
    }

    /// POSTs a GraphQL document without a token; returns the JSON body.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        self.graphql_with(None, query, variables).await
    }

    /// POSTs a GraphQL document with a bearer token; returns the JSON body.
    pub async fn graphql_as(&self, token: &str, query: &str, variables: Value) -> Value {
        self.graphql_with(Some(token), query, variables).await
    }

    async fn graphql_with(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        post_graphql_with(&self.client, &self.base, token, &[], query, variables).await
    }

    /// Creates a user with a role (and store scope, by store id) and returns a token for it.
    pub async fn user_token(&self, username: &str, role: Role, store_ids: &[i32]) -> String {
        let mut conn = self.pool.get().await.unwrap();
        let user = db::models::user::create(&mut conn, username, username, role, store_ids)
            .await
            .unwrap();
        db::models::token::create(&mut conn, user.id)
            .await
            .unwrap()
            .1
    }

    /// A token of a fresh ADMIN user.
    pub async fn admin_token(&self) -> String {
        self.user_token("test-admin", Role::Admin, &[]).await
    }

    /// Seeds the demo catalogue (used by `serve` on a first run) into this app's database.
    pub async fn seed_demo(&self) -> String {
        let mut conn = self.pool.get().await.unwrap();
        stockroom::seed::seed_if_empty(&mut conn)
            .await
            .unwrap()
            .expect("an empty database")
    }

    /// GET a path; returns (status, body).
    pub async fn get(&self, path: &str) -> (u16, String) {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // The test is over: its database goes (FORCE ends the sessions still open on it).
        // On a thread of its own, as a drop cannot await on the test's runtime.
        if let Some(db_url) = self.owned_database.take() {
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime to drop the test database");
                runtime.block_on(drop_database(&db_url));
            })
            .join();
        }
    }
}

/// Drops the database of `db_url` (a URL made by [`fresh_database`]).
async fn drop_database(db_url: &str) {
    let cluster = cluster().await;
    let Some(at) = db_url.find("stockroom_test_") else {
        return;
    };
    let name: String = db_url[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let Ok((client, conn)) =
        tokio_postgres::connect(&cluster.url("postgres"), tokio_postgres::NoTls).await
    else {
        return;
    };
    let task = tokio::spawn(conn);
    let _ = client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
    drop(client);
    let _ = task.await;
}

/// POSTs a document with a bearer token to the service at `base` (`http://host:port`);
/// returns the JSON body.
pub async fn post_graphql(base: &str, token: &str, query: &str, variables: Value) -> Value {
    post_graphql_with(
        &reqwest::Client::new(),
        base,
        Some(token),
        &[],
        query,
        variables,
    )
    .await
}

/// The one way tests POST a GraphQL document: through `client` to the service at `base`
/// (`http://host:port`), with a bearer `token` when given and extra `headers`; returns the
/// JSON body. `TestApp::graphql`/`graphql_as` and [`post_graphql`] are shorthands for it.
pub async fn post_graphql_with(
    client: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    query: &str,
    variables: Value,
) -> Value {
    let mut req = client
        .post(format!("{base}/graphql"))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.unwrap().json().await.unwrap()
}

/// Polls `check` until it holds; fails the test, saying `what` did not happen, after
/// `within`. The way to wait for something to become ready (never a fixed sleep).
pub async fn until<F, Fut>(within: std::time::Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + within;
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// How many sessions on the database of `db` wait for a lock now (`db` must not be inside a
/// transaction: there `pg_stat_activity` is a snapshot taken once).
pub async fn sessions_waiting_for_a_lock(db: &tokio_postgres::Client) -> i64 {
    db.query_one(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND wait_event_type = 'Lock'",
        &[],
    )
    .await
    .unwrap()
    .get(0)
}

/// Waits until a session on the database of `db` waits for a lock (a request held up by a
/// lock the test holds is in flight).
pub async fn until_a_session_waits_for_a_lock(db: &tokio_postgres::Client) {
    until(
        ws::WAIT,
        "no session started waiting for a lock",
        || async { sessions_waiting_for_a_lock(db).await > 0 },
    )
    .await;
}

/// The `extensions.code` of the first error of a GraphQL response, if any.
pub fn error_code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new empty directory under the system temp dir.
    pub fn new(tag: &str) -> Self {
        let n = NEXT_DB.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("sr-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Counts the SQL statements the connections of a pool send, leaving out each connection's
/// setup (`SET ...`) and pool pings (`SELECT 1`).
#[derive(Clone, Default)]
pub struct QueryCounter(
    pub std::sync::Arc<AtomicUsize>,
    pub std::sync::Arc<std::sync::Mutex<Vec<String>>>,
);

impl QueryCounter {
    /// The statements counted so far, as text (the first 120 characters of each).
    pub fn log(&self) -> Vec<String> {
        self.1.lock().unwrap().clone()
    }

    /// Statements counted so far.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// A server pool whose connections report every statement to `counter` (diesel's per-connection
/// instrumentation) and are recycled without a ping.
pub fn counting_pool(db_url: &str, counter: QueryCounter) -> DbPool {
    use diesel::connection::{Instrumentation, InstrumentationEvent};
    use diesel_async::{
        AsyncConnection, AsyncPgConnection,
        pooled_connection::{
            AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod, deadpool::Pool,
        },
    };
    struct Count(QueryCounter);
    impl Instrumentation for Count {
        fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
            if let InstrumentationEvent::StartQuery { query, .. } = event {
                let text = query.to_string();
                let text = text.trim_start();
                if !text.starts_with("SET ") && text != "SELECT 1" {
                    self.0.0.fetch_add(1, Ordering::SeqCst);
                    self.0
                        .1
                        .lock()
                        .unwrap()
                        .push(text.chars().take(120).collect());
                }
            }
        }
    }
    let mut config = ManagerConfig::<AsyncPgConnection>::default();
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(move |url| {
        let url = url.to_string();
        let counter = counter.clone();
        Box::pin(async move {
            let mut conn = AsyncPgConnection::establish(&url).await?;
            conn.set_instrumentation(Count(counter));
            Ok(conn)
        })
    });
    let manager =
        AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(db_url, config);
    Pool::builder(manager)
        .max_size(20)
        .build()
        .expect("build the counting pool")
}

impl TestApp {
    /// Starts the service on a fresh database, its server pool counting the SQL statements it
    /// sends (see [`counting_pool`]).
    pub async fn spawn_counting(settings: ServeSettings) -> (Self, QueryCounter) {
        let db_url = fresh_database().await;
        let counter = QueryCounter::default();
        let server_pool = counting_pool(&db_url, counter.clone());
        let app = Self::serve_with_pool(&db_url, server_pool, settings).await;
        (app, counter)
    }
}

/// The shared folder beside the repository (the contract, gen.py): `STOCKROOM_SHARED_DIR`
/// when set (`.ci/run` sets it for a clone made elsewhere), else `../shared`.
pub fn shared_dir() -> std::path::PathBuf {
    std::env::var_os("STOCKROOM_SHARED_DIR").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"),
        std::path::PathBuf::from,
    )
}

/// Installs the locked Node packages of `dir` (`npm ci`) unless `module` is installed: CI runs
/// `npm ci` first, a developer's first run of `needed_for` installs them.
pub async fn npm_packages(dir: &std::path::Path, module: &str, needed_for: &str) {
    if dir.join("node_modules").join(module).is_dir() {
        return;
    }
    let status = tokio::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .status()
        .await
        .unwrap_or_else(|err| panic!("npm is needed for {needed_for} (Node 20): {err}"));
    assert!(status.success(), "npm ci in {} failed", dir.display());
}

/// The `stockroom` binary built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_stockroom");

/// `stockroom serve --listen 127.0.0.1:0` as a child process, once it listens.
pub struct Served {
    /// The child process (killed when dropped).
    pub child: tokio::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The admin token printed by a first run of the embedded default.
    pub token: Option<String>,
}

impl Served {
    /// Starts `serve` with these environment variables (`None` removes one) and waits until
    /// it prints its address; stdout keeps being drained so the child never blocks.
    pub async fn start(envs: &[(&str, Option<&str>)]) -> Self {
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        for (key, value) in envs {
            match value {
                Some(value) => cmd.env(key, value),
                None => cmd.env_remove(key),
            };
        }
        Self::from_command(cmd).await
    }

    /// Runs `cmd` (a `serve` with its stdout piped) and waits until it prints its address.
    pub async fn from_command(mut cmd: tokio::process::Command) -> Self {
        use tokio::io::{AsyncBufReadExt, BufReader};
        let mut child = cmd.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut token = None;
        let base = tokio::time::timeout(std::time::Duration::from_secs(90), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(t) = line.split_whitespace().find(|w| w.starts_with("sr_")) {
                    token = Some(t.to_string());
                }
                if let Some(rest) = line.strip_prefix("stockroom is listening on ") {
                    return rest.trim().to_string();
                }
            }
            panic!("serve exited before listening")
        })
        .await
        .expect("serve listens within 90 s");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child, base, token }
    }

    /// `serve` on the embedded default in `data_dir`.
    pub async fn embedded(data_dir: &std::path::Path) -> Self {
        let dir = data_dir.to_str().unwrap();
        Self::start(&[("DATABASE_URL", None), ("STOCKROOM_DATA_DIR", Some(dir))]).await
    }

    /// SIGTERM, then wait: the service (and the PostgreSQL it started) stop cleanly.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.id().unwrap() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(60), self.child.wait())
            .await
            .expect("serve stops within 60 s")
            .unwrap()
    }
}

/// A TCP proxy to a test database whose open connections can be silenced: after
/// [`SilentProxy::silence`] they pass nothing either way and stay open, as connections to a
/// server that vanished without closing its sockets (a failed-over primary); connections
/// opened later work.
pub struct SilentProxy {
    /// The database's URL through the proxy.
    pub url: String,
    epoch: std::sync::Arc<std::sync::atomic::AtomicU64>,
    accept: tokio::task::JoinHandle<()>,
}

impl SilentProxy {
    /// A proxy on a random local port to the server and database of `db_url`.
    pub async fn start(db_url: &str) -> Self {
        use std::sync::atomic::AtomicU64;
        let config: tokio_postgres::Config = db_url.parse().unwrap();
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let upstream = match config.get_hosts().first().unwrap() {
            tokio_postgres::config::Host::Unix(dir) => Err(dir.join(format!(".s.PGSQL.{port}"))),
            tokio_postgres::config::Host::Tcp(host) => Ok(format!("{host}:{port}")),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let epoch = std::sync::Arc::new(AtomicU64::new(0));
        let shared = epoch.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let born = shared.load(Ordering::SeqCst);
                let epoch = shared.clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    match upstream {
                        Ok(tcp) => {
                            let server = tokio::net::TcpStream::connect(tcp).await.unwrap();
                            Self::pump(client, server, epoch, born);
                        }
                        Err(path) => {
                            let server = tokio::net::UnixStream::connect(path).await.unwrap();
                            Self::pump(client, server, epoch, born);
                        }
                    }
                });
            }
        });
        let user = config.get_user().unwrap_or("postgres");
        let auth = match config.get_password() {
            Some(pw) => format!("{user}:{}", String::from_utf8_lossy(pw)),
            None => user.to_string(),
        };
        let db = config.get_dbname().unwrap();
        Self {
            url: format!("postgres://{auth}@{addr}/{db}"),
            epoch,
            accept,
        }
    }

    /// Silences every connection open now.
    pub fn silence(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    fn pump<S>(
        client: tokio::net::TcpStream,
        server: S,
        epoch: std::sync::Arc<std::sync::atomic::AtomicU64>,
        born: u64,
    ) where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
    {
        let (client_read, client_write) = tokio::io::split(client);
        let (server_read, server_write) = tokio::io::split(server);
        let one_way = |mut from: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
                       mut to: Box<dyn tokio::io::AsyncWrite + Send + Unpin>,
                       epoch: std::sync::Arc<std::sync::atomic::AtomicU64>| async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = match from.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if epoch.load(Ordering::SeqCst) > born {
                    // Silenced: hold both sockets open, pass nothing.
                    std::future::pending::<()>().await;
                }
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
            let _ = to.shutdown().await;
        };
        tokio::spawn(one_way(
            Box::new(client_read),
            Box::new(server_write),
            epoch.clone(),
        ));
        tokio::spawn(one_way(
            Box::new(server_read),
            Box::new(client_write),
            epoch,
        ));
    }
}

impl Drop for SilentProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
