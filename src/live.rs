//! Live updates across instances: one LISTEN connection per instance turns PostgreSQL's
//! `stockroom_stock` notifications (sent by triggers, delivered on commit — see the
//! `stock_notifications` migration) into a broadcast that subscriptions filter.
//!
//! The rows behind an event are loaded once per instance, not once per subscription: a loader
//! task takes the events in arrival order (as many as are waiting, up to a batch), reads their
//! stock rows, ledger rows, products and stores with one statement each on one pooled
//! connection, and broadcasts each event with its rows; every subscription filters that
//! shared stream and builds its answer from the rows it was handed. Nothing is loaded while
//! no one subscribes.
//!
//! The listener starts with the first subscriber, takes a connection out of the pool for good,
//! and pings it while idle; every statement of its own is bounded in time, so a connection
//! that went silent (a primary that vanished without closing its sockets, as in a failover)
//! counts as dead too. When the connection dies the pool's idle connections are dropped (they
//! most likely lead to the same dead server), and the listener reconnects after a pause and
//! catches up from the ledger: every ledger row written since a little before the connection
//! was last known alive is announced again (at least once: a change may come twice, none is
//! lost). A reorder point changed while reconnecting writes no ledger row and is not replayed.
//!
//! The queries are the models' (`stock`, `transaction`, `product`, `store`; the catch-up is
//! `transaction::changes_within`); only the listener's own session statements (`LISTEN`, the
//! idle ping) are written here, as they belong to the notification protocol, not to a table.

use std::{
    collections::HashMap,
    pin::pin,
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use diesel_async::SimpleAsyncConnection;
use futures::StreamExt;
use serde::Deserialize;
use tokio::sync::{
    broadcast,
    mpsc::{UnboundedReceiver, UnboundedSender},
};

use crate::{
    db::{
        DbConn, DbPool,
        models::{product, stock, store, transaction},
    },
    error::{AppError, AppResult},
};

/// The notification channel the triggers write to.
pub const CHANNEL: &str = "stockroom_stock";
/// Events buffered per slow subscriber before it skips ahead.
const BUFFER: usize = 1024;
/// How often an idle listener checks that its connection is alive.
const PING_EVERY: Duration = Duration::from_secs(10);
/// Longest wait for the answer to one of the listener's own statements (LISTEN, catch-up,
/// ping) before the connection counts as dead.
const STATEMENT_LIMIT: Duration = Duration::from_secs(5);
/// Wait before reconnecting after the connection was lost.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);
/// How far before the last moment the listener was known alive a catch-up starts: a ledger
/// row's time is taken inside its transaction, before the commit that announces it (sessions
/// end transactions idle longer than 30 s).
const CATCH_UP_MARGIN: Duration = Duration::from_secs(30);
/// Most ledger rows one catch-up announces.
const CATCH_UP_LIMIT: i64 = 10_000;
/// Most events whose rows are loaded together.
const LOAD_BATCH: usize = 500;

/// One committed change of a stock row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct StockEvent {
    /// The product.
    #[serde(rename = "p")]
    pub product_id: i32,
    /// The store.
    #[serde(rename = "s")]
    pub store_id: i32,
    /// The ledger row written by the change, if any.
    #[serde(rename = "t")]
    pub transaction_id: Option<i64>,
    /// Whether the change took the row from above its reorder point to at or below it.
    #[serde(rename = "low")]
    pub low_crossed: bool,
}

/// One event with the committed rows behind it, loaded once for every subscriber.
#[derive(Debug)]
pub struct LiveChange {
    /// What the trigger announced.
    pub event: StockEvent,
    /// The rows, or `Err(())` when they could not be read (the database was unavailable:
    /// subscribers get SERVICE_UNAVAILABLE for this event).
    pub rows: Result<LiveRows, ()>,
}

/// The rows behind an event, read after its commit.
#[derive(Debug, Default)]
pub struct LiveRows {
    /// The stock row as it is now (`None` when it no longer exists).
    pub stock: Option<stock::Stock>,
    /// The ledger row of the change, if one was written.
    pub transaction: Option<transaction::InventoryTransaction>,
    /// The row's product (what subscribers select most, handed to their loaders).
    pub product: Option<product::Product>,
    /// The row's store.
    pub store: Option<store::Store>,
}

/// The instance's hub of live stock events.
#[derive(Clone)]
pub struct LiveHub {
    inner: Arc<Inner>,
}

struct Inner {
    pool: DbPool,
    sender: broadcast::Sender<Arc<LiveChange>>,
    started: OnceLock<()>,
}

impl LiveHub {
    /// A hub that will listen through a connection of `pool` once someone subscribes.
    pub fn new(pool: DbPool) -> Self {
        let (sender, _) = broadcast::channel(BUFFER);
        Self {
            inner: Arc::new(Inner {
                pool,
                sender,
                started: OnceLock::new(),
            }),
        }
    }

    /// Every change from now on (starting the listener if it is not running yet).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveChange>> {
        let receiver = self.inner.sender.subscribe();
        self.inner.started.get_or_init(|| {
            let (events, pending) = tokio::sync::mpsc::unbounded_channel();
            let loader = self.inner.clone();
            tokio::spawn(async move { load_forever(&loader, pending).await });
            let inner = self.inner.clone();
            tokio::spawn(async move { listen_forever(&inner, &events).await });
        });
        receiver
    }
}

/// Loads the rows of the announced events, a batch at a time, and broadcasts them.
async fn load_forever(inner: &Inner, mut pending: UnboundedReceiver<StockEvent>) {
    let mut batch = Vec::with_capacity(LOAD_BATCH);
    while pending.recv_many(&mut batch, LOAD_BATCH).await > 0 {
        // No audience: nothing to load (a subscriber arriving now sees later events only).
        if inner.sender.receiver_count() > 0 {
            for change in load(&inner.pool, &batch).await {
                drop(inner.sender.send(Arc::new(change)));
            }
        }
        batch.clear();
    }
}

/// The rows of a batch of events: one statement each for the stock rows, the ledger rows,
/// the products and the stores.
async fn load(pool: &DbPool, events: &[StockEvent]) -> Vec<LiveChange> {
    let mut pairs: Vec<(i32, i32)> = events.iter().map(|e| (e.product_id, e.store_id)).collect();
    pairs.sort_unstable();
    pairs.dedup();
    let mut product_ids: Vec<i32> = pairs.iter().map(|p| p.0).collect();
    product_ids.sort_unstable();
    product_ids.dedup();
    let mut store_ids: Vec<i32> = pairs.iter().map(|p| p.1).collect();
    store_ids.sort_unstable();
    store_ids.dedup();
    let ledger_ids: Vec<i64> = events.iter().filter_map(|e| e.transaction_id).collect();
    let loaded: AppResult<_> = crate::with_conn!(pool, conn => {
        async {
            let stocks = stock::by_pairs(conn, &pairs).await?;
            let ledger = if ledger_ids.is_empty() {
                Vec::new()
            } else {
                transaction::by_ids(conn, &ledger_ids).await?
            };
            let products = product::by_ids(conn, &product_ids).await?;
            let stores = store::by_ids(conn, &store_ids).await?;
            Ok((stocks, ledger, products, stores))
        }
        .await
    });
    let (stocks, ledger, products, stores) = match loaded {
        Ok(rows) => rows,
        Err(err) => {
            tracing::warn!(error = ?err, events = events.len(), "live updates: rows not loaded");
            return events
                .iter()
                .map(|&event| LiveChange {
                    event,
                    rows: Err(()),
                })
                .collect();
        }
    };
    let stocks: HashMap<(i32, i32), stock::Stock> = stocks
        .into_iter()
        .map(|s| ((s.product_id, s.store_id), s))
        .collect();
    let ledger: HashMap<i64, transaction::InventoryTransaction> =
        ledger.into_iter().map(|t| (t.id, t)).collect();
    let products: HashMap<i32, product::Product> =
        products.into_iter().map(|p| (p.id, p)).collect();
    let stores: HashMap<i32, store::Store> = stores.into_iter().map(|s| (s.id, s)).collect();
    events
        .iter()
        .map(|&event| LiveChange {
            event,
            rows: Ok(LiveRows {
                stock: stocks.get(&(event.product_id, event.store_id)).cloned(),
                transaction: event.transaction_id.and_then(|id| ledger.get(&id).cloned()),
                product: products.get(&event.product_id).cloned(),
                store: stores.get(&event.store_id).cloned(),
            }),
        })
        .collect()
}

async fn listen_forever(inner: &Inner, events: &UnboundedSender<StockEvent>) {
    // The last moment the listener was known to receive every notification.
    let mut alive: Option<Instant> = None;
    loop {
        match inner.pool.get().await {
            Ok(conn) => {
                let conn = DbConn::take(conn);
                if let Err(err) = listen(conn, events, &mut alive).await {
                    tracing::warn!(error = %err, "live updates: listener connection lost");
                    // The others most likely lead to the same server (restarted, failed
                    // over, cut off): new connections are found out sooner than stale ones.
                    crate::db::pool::forget_idle(&inner.pool);
                }
            }
            Err(err) => tracing::warn!(error = %err, "live updates: no connection to listen on"),
        }
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}

/// Why the listener's connection was given up.
#[derive(Debug, thiserror::Error)]
enum Lost {
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
    /// The catch-up query failed (a model's error, which has no `Display` of its own).
    #[error("{0:?}")]
    Query(AppError),
    #[error("no answer within {STATEMENT_LIMIT:?}")]
    Silent,
}

impl From<AppError> for Lost {
    fn from(err: AppError) -> Self {
        Self::Query(err)
    }
}

/// `statement`, or [`Lost::Silent`] when its answer takes longer than [`STATEMENT_LIMIT`].
async fn bounded<T, E>(
    statement: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, Lost>
where
    Lost: From<E>,
{
    match tokio::time::timeout(STATEMENT_LIMIT, statement).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(Lost::Silent),
    }
}

async fn listen(
    mut conn: diesel_async::AsyncPgConnection,
    sender: &UnboundedSender<StockEvent>,
    alive: &mut Option<Instant>,
) -> Result<(), Lost> {
    bounded(conn.batch_execute(&format!(
        "SET application_name = 'stockroom-live'; LISTEN {CHANNEL}"
    )))
    .await?;
    tracing::info!("live updates: listening");
    if let Some(since) = *alive {
        // Listening again: what was committed in between comes from the ledger.
        let window = since.elapsed() + CATCH_UP_MARGIN;
        let missed = bounded(transaction::changes_within(
            &mut conn,
            window,
            CATCH_UP_LIMIT,
        ))
        .await?;
        tracing::info!(
            events = missed.len(),
            "live updates: caught up from the ledger"
        );
        for change in missed {
            let event = StockEvent {
                product_id: change.product_id,
                store_id: change.store_id,
                transaction_id: Some(change.transaction_id),
                low_crossed: change.low_crossed,
            };
            // Fails only when the loader stopped (the runtime is shutting down).
            let _ = sender.send(event);
        }
    }
    *alive = Some(Instant::now());
    loop {
        let next = {
            let mut stream = pin!(conn.notifications_stream());
            tokio::time::timeout(PING_EVERY, stream.next()).await
        };
        match next {
            Ok(Some(Ok(note))) => match serde_json::from_str::<StockEvent>(&note.payload) {
                // Handed to the loader, which skips events while no one subscribes.
                Ok(event) => {
                    let _ = sender.send(event);
                }
                Err(err) => tracing::warn!(error = %err, "live updates: bad payload"),
            },
            Ok(Some(Err(err))) => return Err(err.into()),
            Ok(None) => return Ok(()),
            Err(_idle) => bounded(conn.batch_execute("SELECT 1")).await?,
        }
        *alive = Some(Instant::now());
    }
}
