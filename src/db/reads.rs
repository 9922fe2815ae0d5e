//! Where reads go: shared, pipelined connections to the primary and to read replicas.
//!
//! **Many requests per connection.** A read (a token check, a loader wave, a page query) takes
//! no connection of its own: it borrows one of a node's few *shared* connections
//! ([`Lane`]) for the length of one statement. diesel-async's `AsyncPgConnection` runs
//! statements through a shared reference (`&AsyncPgConnection` is a connection too), and
//! tokio-postgres sends every statement it is given at once, without waiting for the answers
//! to the ones before (pipelining), so the statements of a hundred concurrent requests share
//! one round trip to the database instead of queueing for pooled connections. Writes keep
//! connections of their own from the pool (`with_conn!`): a transaction must not be shared.
//!
//! The primary's shared connections are taken out of the service's pool and kept (so
//! `STOCKROOM_POOL_SIZE` still bounds what the service opens); a read never waits for the
//! pool, so an exhausted pool does not slow reads. A shared connection found broken is
//! dropped from its lane and the read runs once more on a fresh one ([`with_read!`]); the
//! statements of other requests that were in flight on it do the same. A request cancelled
//! mid-read drops only its own future: tokio-postgres reads and discards the answer it no
//! longer waits for, so the connection stays in step for the others.
//!
//! **Read replicas.** With `STOCKROOM_READ_DATABASE_URLS`, query documents read from a
//! replica ([`Reads::route`]); mutations, their payloads and token checks read from the
//! primary. A background check ([`Reads::spawn_monitor`]) compares each replica's replayed
//! WAL position with the primary's: a replica that is down, or has not replayed what the
//! primary wrote more than `STOCKROOM_MAX_REPLICA_LAG_MS` ago, is skipped (the primary
//! serves) until it catches up. A request carrying a consistency token (the primary's WAL
//! position after a mutation) is served only by a node that has replayed that far, waiting at
//! most [`CONSISTENCY_WAIT`] for one, else by the primary.

use std::{
    collections::VecDeque,
    fmt,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use crate::{
    db::{
        DbConn, DbPool,
        models::{reference::ReferenceCache, wal},
    },
    error::{AppError, AppResult},
};

/// How often the replicas' positions are compared with the primary's.
pub const REPLICA_CHECK_INTERVAL: Duration = Duration::from_millis(100);
/// How long a request with a consistency token waits for a replica that has replayed that far.
pub const CONSISTENCY_WAIT: Duration = Duration::from_millis(100);
/// How often a replica's position is asked again while a request waits for it.
const CONSISTENCY_POLL: Duration = Duration::from_millis(10);

/// A shared connection: many requests' statements run on it at once.
pub type SharedConn = Arc<DbConn>;

/// A WAL position (`pg_lsn`), comparable; its text form (`16/B374D848`) is the consistency
/// token clients send back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Lsn(pub u64);

impl Lsn {
    /// Parses PostgreSQL's `pg_lsn` text form (`X/Y`, both hexadecimal).
    pub fn parse(text: &str) -> Option<Self> {
        let (high, low) = text.trim().split_once('/')?;
        let high = u32::from_str_radix(high, 16).ok()?;
        let low = u32::from_str_radix(low, 16).ok()?;
        Some(Self((u64::from(high) << 32) | u64::from(low)))
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

/// A few connections of one node that every read shares (statements are pipelined on them).
pub struct Lane {
    pool: DbPool,
    slots: Vec<Mutex<Option<SharedConn>>>,
    /// Whether a slot is being filled in the background.
    filling: Vec<AtomicBool>,
    next: AtomicUsize,
}

impl Lane {
    /// A lane of `size` shared connections taken (lazily, then kept) out of `pool`.
    pub fn new(pool: DbPool, size: usize) -> Self {
        let size = size.max(1);
        Self {
            pool,
            slots: (0..size).map(|_| Mutex::new(None)).collect(),
            filling: (0..size).map(|_| AtomicBool::new(false)).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// A shared connection: the next live one in turn; a slot found empty is filled in the
    /// background when another is live, so a read waits for the pool only when none is.
    pub async fn conn(self: &Arc<Self>) -> AppResult<SharedConn> {
        let start = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut empty = None;
        for i in (0..self.slots.len()).map(|k| (start + k) % self.slots.len()) {
            if let Some(conn) = lock(&self.slots[i]).clone() {
                if let Some(slot) = empty {
                    self.fill_later(slot);
                }
                return Ok(conn);
            }
            empty.get_or_insert(i);
        }
        let slot = empty.unwrap_or(start);
        let conn = Arc::new(self.pool.get().await?);
        let mut current = lock(&self.slots[slot]);
        // Another read may have filled it meanwhile: keep one, the other goes back.
        Ok(current.get_or_insert(conn).clone())
    }

    fn fill_later(self: &Arc<Self>, slot: usize) {
        if self.filling[slot].swap(true, Ordering::AcqRel) {
            return;
        }
        let lane = self.clone();
        tokio::spawn(async move {
            if let Ok(conn) = lane.pool.get().await {
                let mut current = lock(&lane.slots[slot]);
                if current.is_none() {
                    *current = Some(Arc::new(conn));
                }
            }
            lane.filling[slot].store(false, Ordering::Release);
        });
    }

    /// Takes a connection found broken out of the lane (reads in flight on it keep it until
    /// they finish; then the pool discards it).
    pub fn discard(&self, conn: &SharedConn) {
        for slot in &self.slots {
            let mut current = lock(slot);
            if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, conn)) {
                *current = None;
            }
        }
    }

    /// Takes every connection out of the lane, and the pool's idle ones (the database
    /// restarted or failed over): reads in flight keep theirs until they finish.
    pub fn forget(&self) {
        for slot in &self.slots {
            *lock(slot) = None;
        }
        crate::db::pool::forget_idle(&self.pool);
    }

    /// Whether `conn` is one of the lane's connections (or was, before it was forgotten:
    /// then it no longer matters).
    fn holds(&self, conn: &SharedConn) -> bool {
        self.slots
            .iter()
            .any(|slot| lock(slot).as_ref().is_some_and(|c| Arc::ptr_eq(c, conn)))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One database node: the primary or a replica, with its lane and (for a replica) what the
/// monitor last saw of it.
pub struct Node {
    /// The name the metrics use: `primary`, `replica1`, `replica2`, …
    pub name: String,
    lane: Arc<Lane>,
    /// Answered the last check.
    up: AtomicBool,
    /// Replayed recently enough (lag within the limit).
    fresh: AtomicBool,
    /// The WAL position it had replayed at the last check.
    replayed: AtomicU64,
    /// The copy of the reference tables its token checks keep current (the primary's only:
    /// token checks read from the primary).
    reference: ReferenceCache,
}

impl Node {
    fn new(name: String, lane: Lane) -> Self {
        Self {
            name,
            lane: Arc::new(lane),
            // Unknown until the first check: the primary serves meanwhile.
            up: AtomicBool::new(false),
            fresh: AtomicBool::new(false),
            replayed: AtomicU64::new(0),
            reference: ReferenceCache::default(),
        }
    }

    fn usable(&self) -> bool {
        self.up.load(Ordering::Acquire) && self.fresh.load(Ordering::Acquire)
    }

    /// Asks the node how far it has replayed (a primary: how far it has written).
    async fn position(&self) -> AppResult<Lsn> {
        let conn = self.lane.conn().await?;
        let text = wal::position(&conn)
            .await
            .inspect_err(|_| self.lane.discard(&conn))?;
        let lsn = text.as_deref().and_then(Lsn::parse).unwrap_or_default();
        self.replayed.fetch_max(lsn.0, Ordering::AcqRel);
        Ok(lsn)
    }
}

/// The router of reads: the primary and the replicas, shared by every request.
#[derive(Clone)]
pub struct Reads(Arc<Inner>);

struct Inner {
    primary: Arc<Node>,
    replicas: Vec<Arc<Node>>,
    max_lag: Duration,
    next: AtomicUsize,
}

/// Where one request reads: a node chosen once for the whole request (so its statements see
/// one replica's state), falling back to the primary when that replica fails.
#[derive(Clone)]
pub struct ReadSource {
    node: Arc<Node>,
    primary: Arc<Node>,
}

impl ReadSource {
    /// The node's name (for the metrics).
    pub fn node_name(&self) -> &str {
        &self.node.name
    }

    /// The process's copy of the reference tables (stores, categories), which the primary's
    /// token checks keep current.
    pub fn reference(&self) -> &ReferenceCache {
        &self.primary.reference
    }

    /// A shared connection of the node; of the primary when a replica turned out unusable.
    pub async fn conn(&self) -> AppResult<SharedConn> {
        if !Arc::ptr_eq(&self.node, &self.primary) && !self.node.up.load(Ordering::Acquire) {
            return self.primary.lane.conn().await;
        }
        match self.node.lane.conn().await {
            Err(AppError::ServiceUnavailable) if !Arc::ptr_eq(&self.node, &self.primary) => {
                self.node.up.store(false, Ordering::Release);
                self.primary.lane.conn().await
            }
            other => other,
        }
    }

    /// After a read found its connection broken: drops every shared connection of that node
    /// (when one broke, the others most likely did too: the server restarted or failed
    /// over); a replica is also marked down until the monitor sees it answer again.
    pub fn discard(&self, conn: &SharedConn) {
        for node in [&self.node, &self.primary] {
            if node.lane.holds(conn) {
                node.lane.forget();
                if !Arc::ptr_eq(node, &self.primary) {
                    node.up.store(false, Ordering::Release);
                }
            }
        }
    }
}

impl Reads {
    /// Reads of the primary only, on `shared` connections taken out of `pool`.
    pub fn primary_only(pool: DbPool, shared: usize) -> Self {
        Self::new(pool, shared, Vec::new(), Duration::ZERO)
    }

    /// The primary (`pool`) and one pool per replica, `shared` connections each; replicas
    /// lagging more than `max_lag` are skipped.
    pub fn new(pool: DbPool, shared: usize, replicas: Vec<DbPool>, max_lag: Duration) -> Self {
        let primary = Arc::new(Node::new("primary".into(), Lane::new(pool, shared)));
        primary.up.store(true, Ordering::Release);
        primary.fresh.store(true, Ordering::Release);
        let replicas = replicas
            .into_iter()
            .enumerate()
            .map(|(i, pool)| {
                Arc::new(Node::new(
                    format!("replica{}", i + 1),
                    Lane::new(pool, shared),
                ))
            })
            .collect();
        Self(Arc::new(Inner {
            primary,
            replicas,
            max_lag,
            next: AtomicUsize::new(0),
        }))
    }

    /// Reads from the primary (mutations, their payloads, token checks).
    pub fn primary(&self) -> ReadSource {
        ReadSource {
            node: self.0.primary.clone(),
            primary: self.0.primary.clone(),
        }
    }

    /// Where a query document reads: a usable replica in turn, one that has replayed `after`
    /// when given (waiting up to [`CONSISTENCY_WAIT`]), else the primary.
    pub async fn route(&self, after: Option<Lsn>) -> ReadSource {
        if self.0.replicas.is_empty() {
            return self.primary();
        }
        let on = |node: &Arc<Node>| ReadSource {
            node: node.clone(),
            primary: self.0.primary.clone(),
        };
        let Some(after) = after else {
            return self.usable().map_or_else(|| self.primary(), |n| on(&n));
        };
        let deadline = Instant::now() + CONSISTENCY_WAIT;
        loop {
            let candidates: Vec<Arc<Node>> = self.in_turn().filter(|n| n.usable()).collect();
            if let Some(node) = candidates
                .iter()
                .find(|n| Lsn(n.replayed.load(Ordering::Acquire)) >= after)
            {
                return on(node);
            }
            for node in &candidates {
                if let Ok(lsn) = node.position().await
                    && lsn >= after
                {
                    return on(node);
                }
            }
            if candidates.is_empty() || Instant::now() + CONSISTENCY_POLL > deadline {
                return self.primary();
            }
            tokio::time::sleep(CONSISTENCY_POLL).await;
        }
    }

    /// The replicas, starting with the next in turn.
    fn in_turn(&self) -> impl Iterator<Item = Arc<Node>> + '_ {
        let n = self.0.replicas.len();
        let start = self.0.next.fetch_add(1, Ordering::Relaxed) % n.max(1);
        (0..n).map(move |k| self.0.replicas[(start + k) % n].clone())
    }

    fn usable(&self) -> Option<Arc<Node>> {
        self.in_turn().find(|n| n.usable())
    }

    /// The consistency token of a mutation that just committed: the primary's WAL position
    /// now. `None` without replicas: every read is then on the primary ([`Reads::route`]), so
    /// the token would choose nothing and reading it would cost the mutation a statement and
    /// a round trip.
    pub async fn consistency_token(&self) -> AppResult<Option<Lsn>> {
        if self.0.replicas.is_empty() {
            return Ok(None);
        }
        self.0.primary.position().await.map(Some)
    }

    /// Drops every shared connection (the database restarted or failed over).
    pub fn forget(&self) {
        self.0.primary.lane.forget();
        for node in &self.0.replicas {
            node.lane.forget();
        }
    }

    /// Starts the background check of the replicas (nothing to do without replicas).
    pub fn spawn_monitor(&self) {
        if self.0.replicas.is_empty() {
            return;
        }
        let weak = Arc::downgrade(&self.0);
        tokio::spawn(async move {
            let mut history: VecDeque<(Instant, Lsn)> = VecDeque::new();
            loop {
                let Some(inner) = weak.upgrade() else { return };
                check(&inner, &mut history).await;
                drop(inner);
                tokio::time::sleep(REPLICA_CHECK_INTERVAL).await;
            }
        });
    }
}

/// One round of the monitor: the primary's position joins the history; each replica's lag is
/// how long ago the primary first had a position the replica has not replayed yet.
async fn check(inner: &Inner, history: &mut VecDeque<(Instant, Lsn)>) {
    let now = Instant::now();
    if let Ok(lsn) = inner.primary.position().await
        && history.back().is_none_or(|(_, last)| *last < lsn)
    {
        history.push_back((now, lsn));
    }
    let keep = inner.max_lag * 2 + REPLICA_CHECK_INTERVAL * 4;
    while history.len() > 1 && history.front().is_some_and(|(t, _)| now - *t > keep) {
        history.pop_front();
    }
    for node in &inner.replicas {
        match node.position().await {
            Ok(replayed) => {
                let fresh = lag(history, replayed, now) <= inner.max_lag;
                if fresh != node.fresh.load(Ordering::Acquire) {
                    tracing::info!(replica = %node.name, serving = fresh, %replayed, "replica lag changed");
                }
                node.fresh.store(fresh, Ordering::Release);
                node.up.store(true, Ordering::Release);
            }
            Err(_) => {
                if node.up.swap(false, Ordering::AcqRel) {
                    tracing::warn!(replica = %node.name, "replica unreachable: the primary serves its reads");
                }
            }
        }
    }
}

/// How far behind a replica that has replayed `replayed` is at `now`: how long ago the
/// primary first had (in `history`, its positions in time order) a position past it; zero
/// when it has everything the primary had.
fn lag(history: &VecDeque<(Instant, Lsn)>, replayed: Lsn, now: Instant) -> Duration {
    history
        .iter()
        .find(|(_, lsn)| *lsn > replayed)
        .map_or(Duration::ZERO, |(t, _)| now.saturating_duration_since(*t))
}

/// Evaluates `$body` (which may `.await`) with `$conn` bound to a shared connection
/// (`&AsyncPgConnection`) of a [`ReadSource`], to a `Result<_, AppError>`; when the
/// connection turns out to be broken, once more on a fresh one. For reads only: statements
/// of other requests run on the same connection at the same time, so no transaction, no
/// session state.
#[macro_export]
macro_rules! with_read {
    ($source:expr, $conn:ident => $body:expr) => {{
        let source: &$crate::db::reads::ReadSource = $source;
        let mut retried = false;
        loop {
            let shared = match source.conn().await {
                Ok(shared) => shared,
                Err(err) => break Err(err),
            };
            let result: ::std::result::Result<_, $crate::error::AppError> = {
                let $conn: &::diesel_async::AsyncPgConnection = &shared;
                $body
            };
            match result {
                Err($crate::error::AppError::ServiceUnavailable) if !retried => {
                    retried = true;
                    source.discard(&shared);
                }
                other => break other,
            }
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_lags_since_the_primary_first_had_what_it_has_not_replayed() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let history: VecDeque<(Instant, Lsn)> =
            [(at(0), Lsn(100)), (at(100), Lsn(200)), (at(200), Lsn(300))].into();
        // Has everything: no lag, however long ago the primary wrote it.
        assert_eq!(lag(&history, Lsn(300), at(5000)), Duration::ZERO);
        // Missing what the primary had at 100 ms: behind since then.
        assert_eq!(
            lag(&history, Lsn(150), at(1100)),
            Duration::from_millis(1000)
        );
        assert_eq!(lag(&history, Lsn(50), at(300)), Duration::from_millis(300));
        assert_eq!(lag(&VecDeque::new(), Lsn(0), at(300)), Duration::ZERO);
    }

    #[test]
    fn a_wal_position_reads_and_prints_as_postgresql_writes_it() {
        let lsn = Lsn::parse("16/B374D848").expect("a valid position");
        assert_eq!(lsn.0, (0x16 << 32) | 0xB374_D848);
        assert_eq!(lsn.to_string(), "16/B374D848");
        assert!(Lsn::parse("0/3000148") < Lsn::parse("1/0"));
        assert_eq!(Lsn::parse("nonsense"), None);
        assert_eq!(Lsn::parse("1/xyz"), None);
    }
}
