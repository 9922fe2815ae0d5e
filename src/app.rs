//! Builds the service (pool, schema, router) and runs it: on a listener for tests, or as
//! `stockroom serve` with the embedded PostgreSQL, first-run seeding and graceful shutdown
//! (see `shutdown` for what a stop waits for).

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, task::JoinSet};
use tokio_util::sync::CancellationToken;

use crate::{
    config::{DbSettings, ServeSettings},
    db::{self, DbPool, migrations, reads::Reads},
    graphql::{guard::Gate, schema},
    http, seed,
    shutdown::{Drain, Signals},
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
    /// Begun when the service stops: WebSocket sessions wind up.
    pub drain: Drain,
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
            drain: Drain::default(),
        }
    }
}

/// The read router: the primary's shared connections out of `pool`, and a small pool per
/// replica (its shared connections only), with the same timeouts and session settings.
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
            let url = db::pool::with_session_settings(url, settings.limits.request_timeout());
            db::pool::build_with(&url, reads.shared_connections.max(1), timeout)
                .inspect_err(|err| tracing::error!(error = %err, "a read replica URL is unusable"))
                .ok()
        })
        .collect();
    let router = Reads::new(pool.clone(), shared, replicas, reads.max_replica_lag());
    router.spawn_monitor();
    router
}

/// Serves the router on `listener` until `shutdown` completes, then drains open requests and
/// WebSockets within the grace period.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_until(listener, state, shutdown, std::future::pending()).await
}

/// Serves the router on `listener` until `stop` completes; then stops accepting, lets HTTP
/// requests and WebSocket operations in flight finish (`STOCKROOM_SHUTDOWN_GRACE_SECONDS`
/// at most, or until `now` completes) and closes what is left.
///
/// HTTP/1 connections driven by hyper directly (rather than `axum::serve`) for the header
/// read deadline, which also closes idle keep-alive connections, and for graceful shutdown
/// of each connection: an idle one closes at once, a busy one after its response.
pub async fn serve_until(
    listener: TcpListener,
    state: AppState,
    stop: impl Future<Output = ()> + Send,
    now: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let drain = state.drain.clone();
    let grace = state.settings.connections.shutdown_grace();
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(state.settings.connections.read_timeout());
    let service = TowerToHyperService::new(http::router(state));
    let stopping = CancellationToken::new();
    // Dropping the set (when this returns) aborts the connections still open.
    let mut connections = JoinSet::new();
    tokio::pin!(stop, now);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::error!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            () = &mut stop => break,
            () = &mut now => return Ok(()),
        };
        let conn = http1
            .serve_connection(TokioIo::new(stream), service.clone())
            .with_upgrades();
        let stopping = stopping.clone();
        connections.spawn(async move {
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                () = stopping.cancelled() => conn.as_mut().graceful_shutdown(),
            }
            let _ = conn.await;
        });
    }
    drop(listener);
    stopping.cancel();
    drain.begin();
    let finished = async {
        while connections.join_next().await.is_some() {}
        drain.sessions_closed().await;
    };
    tokio::select! {
        () = finished => tracing::info!("every request and WebSocket operation in flight finished"),
        () = tokio::time::sleep(grace) => tracing::warn!(
            grace_seconds = grace.as_secs(),
            "the grace period is over: closing the connections still open"
        ),
        () = &mut now => {},
    }
    Ok(())
}

/// How long to wait after a failed accept (such as no file descriptor left).
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Binds the listen address, with a message that says what to do when it is taken.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on {addr} (is another service using it?); choose another address with --listen or STOCKROOM_LISTEN")
    })
}

/// `stockroom serve`: the whole life of the service.
pub async fn run_serve(db: DbSettings, settings: ServeSettings) -> anyhow::Result<()> {
    let signals = Signals::install();
    let listener = bind(settings.listen).await?;
    let crate::db::target::Target { url, embedded } = crate::db::target::open(&db).await?;
    let result = run_on(&url, &db, settings, listener, embedded.is_some(), signals).await;
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
    signals: Signals,
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
        &db::pool::with_session_settings(url, settings.limits.request_timeout()),
        db,
    )?;
    // Expired idempotency keys go in small batches, off the request path.
    db::models::idempotency::spawn_cleanup(
        pool.clone(),
        settings.limits.idempotency_retention_hours,
        &settings.movements,
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
    println!("Console:  http://{addr}/console");
    let state = AppState::new(pool, settings);
    serve_until(
        listener,
        state,
        signals.graceful.cancelled_owned(),
        signals.immediate.cancelled_owned(),
    )
    .await?;
    tracing::info!("HTTP server stopped");
    Ok(())
}
