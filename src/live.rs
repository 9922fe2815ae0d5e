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
//! Movements are announced after their commit, not in it: the service's movement statements
//! ask the ledger trigger not to notify (a notifying commit holds PostgreSQL's database-wide
//! notification lock across its WAL flush, so notifying movements commit one flush at a
//! time), and [`LiveHub::announce`] hands their events to an announcer task that sends
//! whatever is waiting as one `pg_notify` statement (whose commit has no WAL to flush).
//! Writers other than the service are still announced by the trigger in their commit.
//!
//! An announcement sent after the commit can be lost (the instance dies in between), so while
//! it has subscribers the listener also sweeps the ledger every [`SWEEP_EVERY`]: it takes a
//! database snapshot, and announces the ledger rows whose transactions committed between the
//! two snapshots before it that it has not seen announced (`transaction::committed_between`,
//! exact by the transaction id each ledger row carries). A lost announcement thus arrives one
//! to two sweeps late, and none is announced twice by the sweep: every ledger row announced
//! in the last two periods, by notification or sweep, is remembered, and a notification of
//! one of them arriving later is dropped.
//!
//! The queries are the models' (`stock`, `transaction`, `product`, `store`; the catch-up is
//! `transaction::changes_within`, the sweep `transaction::snapshot` and
//! `transaction::committed_between`); only the statements of the notification protocol itself
//! (`LISTEN`, the idle ping, the announcer's `pg_notify`) are written here.

use std::{
    collections::{HashMap, HashSet},
    pin::pin,
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use diesel_async::SimpleAsyncConnection;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{
    broadcast,
    mpsc::{UnboundedReceiver, UnboundedSender},
};

use crate::{
    db::{
        DbConn, DbPool,
        models::{movement::Outcome, product, stock, store, transaction},
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
/// Longest wait for the rows of a batch of events, after which they are read again on a
/// new connection (once).
const LOAD_LIMIT: Duration = Duration::from_secs(10);
/// Most events whose rows are loaded together.
const LOAD_BATCH: usize = 500;
/// Most events announced by one statement.
const ANNOUNCE_BATCH: usize = 200;
/// How long the announcer waits, once an event is there, for more to send along. Under
/// load the events of several movements then share one statement, which costs the database
/// what a movement's own statement would (M1 at 16 connections: 2683 movements/s announced
/// one statement per wake-up, 2917 with this wait, 2951 not announced at all); a live event
/// reaches subscribers this much later.
const ANNOUNCE_LINGER: Duration = Duration::from_millis(2);
/// How often a listener with subscribers sweeps the ledger for rows committed without an
/// announcement reaching it.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// One committed change of a stock row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
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

impl From<transaction::LedgerChange> for StockEvent {
    fn from(change: transaction::LedgerChange) -> Self {
        Self {
            product_id: change.product_id,
            store_id: change.store_id,
            transaction_id: Some(change.transaction_id),
            low_crossed: change.low_crossed,
        }
    }
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
    announcer: OnceLock<UnboundedSender<StockEvent>>,
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
                announcer: OnceLock::new(),
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

    /// Announces, to the live subscribers of every instance, the ledger rows of a movement
    /// that committed without notifying (see [`Outcome::announce`]); nothing for any other.
    /// Returns at once: an announcer task sends them, together with whatever else is waiting.
    pub fn announce(&self, outcome: &Outcome) {
        if !outcome.announce || outcome.transactions.is_empty() {
            return;
        }
        let announcer = self.inner.announcer.get_or_init(|| {
            let (events, pending) = tokio::sync::mpsc::unbounded_channel();
            let pool = self.inner.pool.clone();
            tokio::spawn(async move { announce_forever(&pool, pending).await });
            events
        });
        // Line i left stock row i behind: the crossing is judged against its reorder point.
        for (tx, stock) in outcome.transactions.iter().zip(&outcome.stocks) {
            let event = StockEvent {
                product_id: tx.product_id,
                store_id: tx.store_id,
                transaction_id: Some(tx.id),
                low_crossed: tx.quantity_after <= stock.reorder_point
                    && tx.quantity_after - tx.quantity > stock.reorder_point,
            };
            // Fails only when the announcer stopped (the runtime is shutting down): the
            // sweep of every listening instance still finds the row.
            let _ = announcer.send(event);
        }
    }
}

/// Sends the announced events, as many as are waiting after [`ANNOUNCE_LINGER`] (up to
/// [`ANNOUNCE_BATCH`]), in one statement. Its transaction writes nothing but the
/// notifications, so its commit waits for no WAL flush while it holds PostgreSQL's
/// notification lock (measured on PostgreSQL 15: 12,700 such statements a second on one
/// connection, against 1,700 one-row inserts). It goes as a simple query: one round trip,
/// nothing to prepare on whichever pooled connection it gets. An announcement that fails is
/// left to the listeners' sweeps.
async fn announce_forever(pool: &DbPool, mut pending: UnboundedReceiver<StockEvent>) {
    let mut batch = Vec::with_capacity(ANNOUNCE_BATCH);
    while pending.recv_many(&mut batch, ANNOUNCE_BATCH).await > 0 {
        if batch.len() < ANNOUNCE_BATCH {
            // What commits meanwhile goes along (statements, not events, cost the database).
            tokio::time::sleep(ANNOUNCE_LINGER).await;
            while batch.len() < ANNOUNCE_BATCH
                && let Ok(event) = pending.try_recv()
            {
                batch.push(event);
            }
        }
        let statement = announcement(&batch);
        let sent: AppResult<()> = crate::with_conn!(pool, conn => {
            conn.batch_execute(&statement).await.map_err(AppError::from)
        });
        if let Err(err) = sent {
            tracing::warn!(error = ?err, events = batch.len(),
                "live updates: announcement not sent (the listeners' sweeps will find it)");
        }
        batch.clear();
    }
}

/// The statement announcing `events`: their payloads are JSON of numbers, booleans and
/// `null` only, written as SQL string literals.
fn announcement(events: &[StockEvent]) -> String {
    let mut sql = format!("SELECT pg_notify('{CHANNEL}', payload) FROM unnest(ARRAY[");
    for (at, event) in events.iter().enumerate() {
        if at > 0 {
            sql.push(',');
        }
        let payload = serde_json::to_string(event).unwrap_or_default();
        sql.push('\'');
        sql.push_str(&payload.replace('\'', "''"));
        sql.push('\'');
    }
    sql.push_str("]::text[]) AS payload");
    sql
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
    // Bounded like the listener's statements: a pooled connection can be one that went
    // silent (a failover), handed back idle after the listener's reconnect dropped the idle
    // ones; once the wait is over it is dropped with them and the rows read on a new one.
    let mut loaded = Err(AppError::ServiceUnavailable);
    for _attempt in 0..2 {
        let read = async {
            crate::with_conn!(pool, conn => {
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
            })
        };
        match tokio::time::timeout(LOAD_LIMIT, read).await {
            Ok(result) => {
                loaded = result;
                break;
            }
            Err(_silent) => crate::db::pool::forget_idle(pool),
        }
    }
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
    let mut sweep = Sweep::default();
    loop {
        match inner.pool.get().await {
            Ok(conn) => {
                let conn = DbConn::take(conn);
                if let Err(err) = listen(conn, inner, events, &mut alive, &mut sweep).await {
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
    inner: &Inner,
    sender: &UnboundedSender<StockEvent>,
    alive: &mut Option<Instant>,
    sweep: &mut Sweep,
) -> Result<(), Lost> {
    bounded(conn.batch_execute(&format!(
        "SET application_name = 'stockroom-live'; SET lock_timeout = '{SWEEP_EVERY:?}'; \
         LISTEN {CHANNEL}"
    )))
    .await?;
    tracing::info!("live updates: listening");
    let listening = Instant::now();
    // Notifications reach this connection from now on. Should it die before the catch-up
    // below is done, the next one catches up from the earlier moment (for the first
    // connection, from now: a change committed while its first statements hang is not lost).
    let since = *alive;
    alive.get_or_insert(listening);
    // Sweeps start over from a snapshot taken once listening: whatever commits later is
    // either announced to this connection or found by a sweep.
    sweep.snapshots = [None, Some(bounded(transaction::snapshot(&mut conn)).await?)];
    if let Some(since) = since {
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
            if sweep.first_time(change.transaction_id) {
                // Fails only when the loader stopped (the runtime is shutting down).
                let _ = sender.send(change.into());
            }
        }
    }
    *alive = Some(listening);
    let mut swept = Instant::now();
    loop {
        let subscribed = inner.sender.receiver_count() > 0;
        if subscribed && sweep.snapshots[1].is_none() {
            // Subscribers again after none: sweeps start over from now.
            sweep.snapshots[1] = Some(bounded(transaction::snapshot(&mut conn)).await?);
            swept = Instant::now();
        }
        let wait = if subscribed {
            SWEEP_EVERY.saturating_sub(swept.elapsed())
        } else {
            PING_EVERY
        };
        let next = {
            let mut stream = pin!(conn.notifications_stream());
            tokio::time::timeout(wait, stream.next()).await
        };
        match next {
            Ok(Some(Ok(note))) => match serde_json::from_str::<StockEvent>(&note.payload) {
                // Handed to the loader, which skips events while no one subscribes; a ledger
                // row announced lately (the sweep found it first) is not announced again.
                Ok(event) => {
                    let repeated =
                        subscribed && event.transaction_id.is_some_and(|id| !sweep.first_time(id));
                    if !repeated {
                        let _ = sender.send(event);
                    }
                }
                Err(err) => tracing::warn!(error = %err, "live updates: bad payload"),
            },
            Ok(Some(Err(err))) => return Err(err.into()),
            Ok(None) => return Ok(()),
            Err(_idle) if !subscribed => bounded(conn.batch_execute("SELECT 1")).await?,
            Err(_due) => {}
        }
        if subscribed && swept.elapsed() >= SWEEP_EVERY {
            // The sweep's statements are the idle ping while someone subscribes.
            sweep.run(&mut conn, sender).await?;
            swept = Instant::now();
        } else if !subscribed {
            // Nothing to sweep for, nothing to remember.
            *sweep = Sweep::default();
        }
        *alive = Some(Instant::now());
    }
}

/// What the listener's sweep remembers: the snapshots bounding the next sweep, and the ledger
/// rows announced lately.
#[derive(Default)]
struct Sweep {
    /// The two latest snapshots, older first: the next sweep looks for the transactions that
    /// committed between them.
    snapshots: [Option<String>; 2],
    /// The ledger rows announced since the last sweep (`[0]`) and in the period before
    /// (`[1]`), by notification or by sweep.
    seen: [HashSet<i64>; 2],
}

impl Sweep {
    /// Whether ledger row `id` was announced in this period or the one before.
    fn announced_lately(&self, id: i64) -> bool {
        self.seen.iter().any(|seen| seen.contains(&id))
    }

    /// Notes ledger row `id` as announced; false when it already was lately.
    fn first_time(&mut self, id: i64) -> bool {
        !self.announced_lately(id) && self.seen[0].insert(id)
    }

    /// Takes a snapshot, announces the rows committed between the two before it whose
    /// announcement never reached this listener, and starts a new period. When the server
    /// answers the sweep with an error but still answers (the ledger is locked past the
    /// session's `lock_timeout`: a bulk import), the same rows are looked for next period.
    async fn run(
        &mut self,
        conn: &mut diesel_async::AsyncPgConnection,
        sender: &UnboundedSender<StockEvent>,
    ) -> Result<(), Lost> {
        let now = bounded(transaction::snapshot(conn)).await?;
        if let [Some(earlier), Some(later)] = &self.snapshots {
            // Committed at least one period ago: its announcement had that long to arrive.
            let (earlier, later) = (earlier.clone(), later.clone());
            match self.missed(conn, &earlier, &later).await {
                Ok(changes) => {
                    if !changes.is_empty() {
                        tracing::warn!(
                            events = changes.len(),
                            "live updates: ledger rows committed without an announcement, \
                             announced by the sweep"
                        );
                    }
                    for change in changes {
                        if self.first_time(change.transaction_id) {
                            let _ = sender.send(change.into());
                        }
                    }
                }
                Err(Lost::Query(err)) => {
                    bounded(conn.batch_execute("SELECT 1")).await?;
                    tracing::warn!(error = ?err, "live updates: sweep postponed");
                    return Ok(());
                }
                Err(lost) => return Err(lost),
            }
        }
        let [_, later] = std::mem::take(&mut self.snapshots);
        self.snapshots = [later, Some(now)];
        self.next_period();
        Ok(())
    }

    /// The ledger rows committed between `earlier` and `later` that were not announced lately.
    async fn missed(
        &self,
        conn: &mut diesel_async::AsyncPgConnection,
        earlier: &str,
        later: &str,
    ) -> Result<Vec<transaction::LedgerChange>, Lost> {
        let committed = bounded(transaction::committed_between(conn, earlier, later)).await?;
        let missed: Vec<i64> = committed
            .into_iter()
            .filter(|id| !self.announced_lately(*id))
            .collect();
        if missed.is_empty() {
            return Ok(Vec::new());
        }
        bounded(transaction::changes_of(conn, &missed)).await
    }

    /// Starts a new period: the rows announced in the one before the last are forgotten.
    fn next_period(&mut self) {
        let [current, _] = std::mem::take(&mut self.seen);
        self.seen = [HashSet::new(), current];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_announcement_sends_each_event_as_its_payload_in_order_in_one_statement() {
        let event = |t| StockEvent {
            product_id: 3,
            store_id: 4,
            transaction_id: Some(t),
            low_crossed: t == 2,
        };
        let sql = announcement(&[event(1), event(2)]);
        assert_eq!(
            sql,
            "SELECT pg_notify('stockroom_stock', payload) FROM unnest(ARRAY[\
             '{\"p\":3,\"s\":4,\"t\":1,\"low\":false}',\
             '{\"p\":3,\"s\":4,\"t\":2,\"low\":true}']::text[]) AS payload"
        );
    }

    #[test]
    fn the_sweep_remembers_a_row_announced_in_the_last_two_periods_and_forgets_it_after() {
        let mut sweep = Sweep::default();
        assert!(sweep.first_time(7));
        assert!(!sweep.first_time(7), "announced once");
        sweep.next_period();
        assert!(!sweep.first_time(7), "still remembered a period later");
        sweep.next_period();
        assert!(sweep.first_time(7), "forgotten two periods later");
    }
}
