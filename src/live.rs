//! Live updates across instances: one LISTEN connection per instance turns PostgreSQL's
//! `stockroom_stock` notifications (sent by triggers, delivered on commit — see the
//! `stock_notifications` migration) into a broadcast that subscriptions filter.
//!
//! The listener starts with the first subscriber, takes a connection out of the pool for good,
//! and pings it while idle; when the connection dies it reconnects with a backoff. Events
//! committed while it is reconnecting are not replayed (clients re-query on reconnect).

use std::{
    pin::pin,
    sync::{Arc, OnceLock},
    time::Duration,
};

use diesel_async::SimpleAsyncConnection;
use futures::StreamExt;
use serde::Deserialize;
use tokio::sync::broadcast;

use crate::db::{DbConn, DbPool};

/// The notification channel the triggers write to.
pub const CHANNEL: &str = "stockroom_stock";
/// Events buffered per slow subscriber before it skips ahead.
const BUFFER: usize = 1024;
/// How often an idle listener checks that its connection is alive.
const PING_EVERY: Duration = Duration::from_secs(10);
/// Wait before reconnecting after the connection was lost.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

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

/// The instance's hub of live stock events.
#[derive(Clone)]
pub struct LiveHub {
    inner: Arc<Inner>,
}

struct Inner {
    pool: DbPool,
    sender: broadcast::Sender<StockEvent>,
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

    /// Every event from now on (starting the listener if it is not running yet).
    pub fn subscribe(&self) -> broadcast::Receiver<StockEvent> {
        let receiver = self.inner.sender.subscribe();
        self.inner.started.get_or_init(|| {
            let inner = self.inner.clone();
            tokio::spawn(async move { listen_forever(&inner).await });
        });
        receiver
    }
}

async fn listen_forever(inner: &Inner) {
    loop {
        match inner.pool.get().await {
            Ok(conn) => {
                let conn = DbConn::take(conn);
                if let Err(err) = listen(conn, &inner.sender).await {
                    tracing::warn!(error = %err, "live updates: listener connection lost");
                }
            }
            Err(err) => tracing::warn!(error = %err, "live updates: no connection to listen on"),
        }
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}

async fn listen(
    mut conn: diesel_async::AsyncPgConnection,
    sender: &broadcast::Sender<StockEvent>,
) -> Result<(), diesel::result::Error> {
    conn.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    tracing::info!("live updates: listening");
    loop {
        let next = {
            let mut stream = pin!(conn.notifications_stream());
            tokio::time::timeout(PING_EVERY, stream.next()).await
        };
        match next {
            Ok(Some(Ok(note))) => match serde_json::from_str::<StockEvent>(&note.payload) {
                // No receivers is not an error: events simply have no audience right now.
                Ok(event) => drop(sender.send(event)),
                Err(err) => tracing::warn!(error = %err, "live updates: bad payload"),
            },
            Ok(Some(Err(err))) => return Err(err),
            Ok(None) => return Ok(()),
            Err(_idle) => conn.batch_execute("SELECT 1").await?,
        }
    }
}
