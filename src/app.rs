//! Builds the service (pool, schema, router) and runs it: on a listener for tests, or as
//! `stockroom serve` with the embedded PostgreSQL, first-run seeding and graceful shutdown.

use std::{future::Future, net::SocketAddr, sync::Arc};

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::{
    config::{DbSettings, EMBEDDED_DATABASE, ServeSettings},
    db::{self, DbPool, migrations, reads::Reads},
    embedded_pg::{EmbeddedPostgres, StartOptions},
    graphql::{guard::Gate, schema},
    http, seed,
};

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The GraphQL schema behind the checks that run before it executes.
    pub gate: Gate,
    /// The database pool.
    pub pool: DbPool,
    /// Where reads go (shared connections of the primary and the replicas).
    pub reads: Reads,
    /// The settings the service started with.
    pub settings: Arc<ServeSettings>,
    /// Version of the newest embedded migration (for readiness).
    pub latest_migration: String,
    /// The WebSocket connection slots.
    pub sockets: http::ws::Sockets,
}

impl AppState {
    /// Builds the state over a pool (and pools of the replicas the settings name).
    pub fn new(pool: DbPool, settings: ServeSettings) -> Self {
        let reads = build_reads(&pool, &settings);
        Self {
            gate: schema::build(pool.clone(), reads.clone(), &settings),
            pool,
            reads,
            sockets: http::ws::Sockets::new(settings.ws.max_connections),
            settings: Arc::new(settings),
            latest_migration: migrations::latest_version(),
        }
    }
}

/// The read router: the primary's shared connections out of `pool`, and a small pool per
/// replica (its shared connections only), with the same timeouts and `statement_timeout`.
fn build_reads(pool: &DbPool, settings: &ServeSettings) -> Reads {
    let reads = &settings.reads;
    let shared = reads.primary_shared(pool.status().max_size);
    let timeout = pool
        .timeouts()
        .wait
        .unwrap_or(std::time::Duration::from_secs(5));
    let replicas = reads
        .read_database_urls
        .iter()
        .map(|url| url.trim())
        .filter(|url| !url.is_empty())
        .filter_map(|url| {
            let url = db::pool::with_statement_timeout(url, settings.limits.request_timeout());
            db::pool::build_with(&url, reads.shared_connections.max(1), timeout)
                .inspect_err(|err| tracing::error!(error = %err, "a read replica URL is unusable"))
                .ok()
        })
        .collect();
    let router = Reads::new(pool.clone(), shared, replicas, reads.max_replica_lag());
    router.spawn_monitor();
    router
}

/// Serves the router on `listener` until `shutdown` completes, then drains open requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, http::router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds the listen address, with a message that says what to do when it is taken.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on {addr} (is another service using it?); choose another address with --listen or STOCKROOM_LISTEN")
    })
}

/// `stockroom serve`: the whole life of the service.
pub async fn run_serve(db: DbSettings, settings: ServeSettings) -> anyhow::Result<()> {
    let shutdown = shutdown_signal();
    let listener = bind(settings.listen).await?;
    let (url, embedded) = database(&db).await?;
    let result = run_on(&url, &db, settings, listener, embedded.is_some(), shutdown).await;
    if let Some(pg) = embedded {
        tracing::info!("stopping the embedded PostgreSQL");
        if let Err(err) = tokio::task::spawn_blocking(move || pg.stop()).await? {
            tracing::error!(error = %err, "stopping the embedded PostgreSQL failed");
        }
    }
    result
}

async fn run_on(
    url: &str,
    db: &DbSettings,
    settings: ServeSettings,
    listener: TcpListener,
    embedded: bool,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    anyhow::ensure!(
        db.pool_size >= 2,
        "STOCKROOM_POOL_SIZE must be at least 2: reads keep shared connections out of the pool, writes need one more"
    );
    let applied = migrations::run(url)
        .await
        .context("cannot prepare the database (check DATABASE_URL: is it reachable, and may this user create tables?)")?;
    tracing::info!(applied, "migrations are current");
    let pool = db::pool::build(
        &db::pool::with_statement_timeout(url, settings.limits.request_timeout()),
        db,
    )?;
    // Expired idempotency keys go in small batches, off the request path.
    db::models::idempotency::spawn_cleanup(
        pool.clone(),
        settings.limits.idempotency_retention_hours,
    );
    if embedded {
        let mut conn = pool
            .get()
            .await
            .context("connecting to the embedded PostgreSQL")?;
        if let Some(token) = seed::seed_if_empty(&mut conn)
            .await
            .map_err(|e| anyhow::anyhow!("seeding the demo catalogue: {e:?}"))?
        {
            println!("First run: seeded a demo catalogue and created the user `admin`.");
            println!("Admin token (shown once, keep it): {token}");
        }
    }
    println!("stockroom is listening on http://{addr}");
    println!("GraphiQL: http://{addr}/graphiql");
    let state = AppState::new(pool, settings);
    serve(listener, state, shutdown).await?;
    tracing::info!("HTTP server stopped");
    Ok(())
}

/// The database URL to use: `DATABASE_URL`, or the embedded cluster (started here).
async fn database(db: &DbSettings) -> anyhow::Result<(String, Option<EmbeddedPostgres>)> {
    if let Some(url) = &db.database_url {
        return Ok((url.clone(), None));
    }
    tracing::info!(data_dir = %db.data_dir.display(), "starting the embedded PostgreSQL");
    let pg = EmbeddedPostgres::start(&db.data_dir, StartOptions::default()).await?;
    if let Err(err) = pg.ensure_database(EMBEDDED_DATABASE).await {
        let _ = pg.stop();
        return Err(err.into());
    }
    Ok((pg.url(EMBEDDED_DATABASE), Some(pg)))
}

/// A future that resolves on Ctrl-C (SIGINT) or SIGTERM. The handlers are installed when
/// this is called, not when the future is first polled, so a signal that arrives during
/// start-up is not lost (nor does it kill the process before PostgreSQL is stopped).
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let interrupt = signal(SignalKind::interrupt());
    let terminate = signal(SignalKind::terminate());
    async move {
        let wait = |sig: std::io::Result<tokio::signal::unix::Signal>| async move {
            match sig {
                Ok(mut sig) => {
                    sig.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = wait(interrupt) => {},
            () = wait(terminate) => {},
        }
        tracing::info!("shutting down");
    }
}
