//! A per-request batching loader with no timer: a wave of keys goes to the database as soon
//! as the executor has registered it.
//!
//! async-graphql resolves a request as one task: every field future that is ready is polled
//! in the same pass of that task. The first key of a relation opens a batch and its caller
//! becomes the batch's leader; the leader yields (`tokio::task::yield_now`, whose wake-up
//! tokio defers until the current poll of the task has finished), so every sibling field
//! registers its key in the same batch. When a whole pass added no key, the batch is closed
//! and its one query (the async-graphql [`Loader`] implementation) runs in a task of its own;
//! every caller then reads its value from the batch. No delay, no timer: the waves are the
//! executor's own.
//!
//! Compared with async-graphql's `DataLoader` (a spawned task per wave that first sleeps for a
//! fixed delay, a tracing span and a oneshot channel per call) a call costs a lock, a hash
//! insert and a `Notify` registration. A leader dropped before it dispatched (its sibling
//! failed, the request was cancelled) still dispatches, from its destructor, so no caller of
//! the batch waits forever.

use std::{
    any::{Any, TypeId},
    collections::{BTreeSet, HashMap, HashSet},
    hash::Hash,
    sync::{Arc, Mutex, MutexGuard, OnceLock},
};

use async_graphql::dataloader::Loader;
use tokio::sync::Notify;

use crate::fast_map::FastMap;

/// The most yields a leader waits for its batch to stop growing (a bound, not a delay: a
/// wave is normally complete after one or two passes).
const MAX_PASSES: usize = 16;

/// A per-request loader over the batch functions of `L`.
pub struct WaveLoader<L> {
    inner: Arc<Inner<L>>,
}

struct Inner<L> {
    loader: L,
    /// Per key type: its open batch and its cache.
    queues: Mutex<FastMap<TypeId, Box<dyn Any + Send>>>,
    /// Whether values are cached for the rest of the request (query documents only).
    cache: std::sync::atomic::AtomicBool,
    /// How many batches have been dispatched (a batch's dispatch number is the count before
    /// it).
    dispatched: std::sync::atomic::AtomicU64,
    /// The dispatch numbers of the batches not answered yet.
    in_flight: Mutex<BTreeSet<u64>>,
    /// Notified whenever a batch in flight is answered.
    answered: Notify,
}

/// The open batch and the cache of one key type.
struct Queue<K, V> {
    open: Option<Arc<Batch<K, V>>>,
    /// Keys are ids the database handed out, not input to defend against: a fast hash.
    cache: FastMap<K, V>,
}

/// What a batch's query returned, shared by every caller of the batch.
type Outcome<K, V, E> = Result<Answer<K, V>, E>;

/// Where a batch's values are.
enum Answer<K, V> {
    /// With the batch (the cache is off).
    Here(HashMap<K, V>),
    /// Moved into the request's cache, where every caller reads them (not copied: a product
    /// page's stock rows are 500 values).
    Cached,
}

/// One wave of keys of one type and, once its query ran, the result.
struct Batch<K, V> {
    keys: Mutex<HashSet<K>>,
    /// How many batches of the request had been dispatched when this one opened: only their
    /// answers can still add keys to this wave.
    opened_after: u64,
    /// Set once, by the dispatch.
    result: OnceLock<Outcome<K, V, async_graphql::Error>>,
    done: Notify,
    dispatched: std::sync::atomic::AtomicBool,
}

impl<L> Clone for WaveLoader<L> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<L> WaveLoader<L>
where
    L: Send + Sync + 'static,
{
    /// Forgets every cached value (a subscription between two events: nothing it cached for
    /// one event is served to the next). Call it only when no load of the request is pending.
    pub fn forget(&self) {
        self.inner.lock_queues().clear();
    }

    /// Caches values loaded elsewhere (the rows a live event brought along), as if loaded.
    pub fn feed<K>(&self, values: impl IntoIterator<Item = (K, L::Value)>)
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        L: Loader<K, Error = async_graphql::Error>,
    {
        let mut queues = self.inner.lock_queues();
        queue_of::<K, L::Value>(&mut queues).cache.extend(values);
    }

    /// A loader over `loader`'s batch functions, its cache off.
    pub fn new(loader: L) -> Self {
        Self {
            inner: Arc::new(Inner {
                loader,
                queues: Mutex::new(FastMap::default()),
                cache: std::sync::atomic::AtomicBool::new(false),
                dispatched: std::sync::atomic::AtomicU64::new(0),
                in_flight: Mutex::new(BTreeSet::new()),
                answered: Notify::new(),
            }),
        }
    }

    /// The batch functions' owner (what they read from).
    pub fn loader(&self) -> &L {
        &self.inner.loader
    }

    /// Switches the cache on or off for the rest of the request.
    pub fn enable_all_cache(&self, on: bool) {
        self.inner
            .cache
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether values are cached for the rest of the request (so that a parent's
    /// [`WaveLoader::ensure`] spares its children their own loads).
    pub fn caching(&self) -> bool {
        self.inner.cache.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The cached values of the request, to read synchronously (`None` unless the cache is
    /// on). Holds the loader's lock until dropped: read, and drop it before the next load.
    pub fn cached(&self) -> Option<Cached<'_, L>> {
        self.caching().then(|| Cached {
            queues: self.inner.lock_queues(),
            loader: std::marker::PhantomData,
        })
    }

    /// The value of `key`, loaded in one query with every other key of its wave.
    pub async fn load_one<K>(&self, key: K) -> Result<Option<L::Value>, async_graphql::Error>
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        L: Loader<K, Error = async_graphql::Error>,
    {
        let (batch, leader) = {
            let mut queues = self.inner.lock_queues();
            let queue = queue_of::<K, L::Value>(&mut queues);
            if self.caching()
                && let Some(value) = queue.cache.get(&key)
            {
                return Ok(Some(value.clone()));
            }
            queue.enqueue(std::iter::once(key.clone()), self.inner.dispatch_count())
        };
        let values = self.settle(batch, leader).await?;
        Ok(values.get(&self.inner, &key))
    }

    /// Loads `keys` into the request's cache with one wait, without handing their values
    /// out: a parent calls it for its whole page, so that (with the cache on) each child
    /// finds its value at once instead of awaiting its own load — and a page of 500 stock
    /// rows that names 20 stores asks for 20 keys and copies nothing.
    pub async fn ensure<K>(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<(), async_graphql::Error>
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        L: Loader<K, Error = async_graphql::Error>,
    {
        let (batch, leader) = {
            let mut queues = self.inner.lock_queues();
            let queue = queue_of::<K, L::Value>(&mut queues);
            let caching = self.caching();
            let wanted: HashSet<K> = keys
                .into_iter()
                .filter(|key| !(caching && queue.cache.contains_key(key)))
                .collect();
            if wanted.is_empty() {
                return Ok(());
            }
            queue.enqueue(wanted.into_iter(), self.inner.dispatch_count())
        };
        self.settle(batch, leader).await.map(drop)
    }

    /// Waits for a batch's result; its leader first lets the wave gather and dispatches it.
    async fn settle<K>(
        &self,
        batch: Arc<Batch<K, L::Value>>,
        leader: bool,
    ) -> Result<Values<K, L::Value>, async_graphql::Error>
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        L: Loader<K, Error = async_graphql::Error>,
    {
        if leader {
            let dispatch = Dispatch {
                inner: self.inner.clone(),
                batch: batch.clone(),
            };
            // A wave is whole when a pass adds no key and no batch of this request that was
            // dispatched before this one opened is still in flight (its answer would let more
            // keys of this wave register). Batches dispatched since, by sibling leaders of
            // the same pass, are not waited for: they run side by side with this one.
            let mut seen = 0;
            let mut passes = 0;
            loop {
                if self.inner.earlier_in_flight(batch.opened_after) {
                    let answered = self.inner.answered.notified();
                    if self.inner.earlier_in_flight(batch.opened_after) {
                        answered.await;
                    }
                    seen = 0;
                    continue;
                }
                let now = lock(&batch.keys).len();
                if now == seen || passes >= MAX_PASSES {
                    break;
                }
                seen = now;
                passes += 1;
                tokio::task::yield_now().await;
            }
            drop(dispatch);
        }
        loop {
            let done = batch.done.notified();
            if batch.result.get().is_some() {
                break;
            }
            done.await;
        }
        match batch.result.get() {
            Some(Err(err)) => Err(err.clone()),
            _ => Ok(Values(batch)),
        }
    }
}

/// The values of a settled batch.
struct Values<K, V>(Arc<Batch<K, V>>);

impl<K, V> Values<K, V>
where
    K: Send + Sync + Hash + Eq + 'static,
    V: Send + Sync + Clone + 'static,
{
    /// A copy of the value of `key`, from the batch or from the cache of `inner`'s request.
    fn get<L>(&self, inner: &Inner<L>, key: &K) -> Option<V> {
        match self.0.result.get() {
            Some(Ok(Answer::Here(values))) => values.get(key).cloned(),
            Some(Ok(Answer::Cached)) => {
                let mut queues = inner.lock_queues();
                queue_of::<K, V>(&mut queues).cache.get(key).cloned()
            }
            _ => None,
        }
    }
}

/// A read-only view of a request's cached values (see [`WaveLoader::cached`]).
pub struct Cached<'a, L> {
    queues: std::sync::MutexGuard<'a, FastMap<TypeId, Box<dyn Any + Send>>>,
    loader: std::marker::PhantomData<L>,
}

impl<L> Cached<'_, L> {
    /// The cached value of `key`, if it was loaded (and exists).
    pub fn get<K>(&self, key: &K) -> Option<&L::Value>
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        L: Loader<K>,
    {
        self.queues
            .get(&TypeId::of::<K>())?
            .downcast_ref::<Queue<K, L::Value>>()?
            .cache
            .get(key)
    }
}

/// The queue of key type `K` (created on first use).
fn queue_of<K, V>(queues: &mut FastMap<TypeId, Box<dyn Any + Send>>) -> &mut Queue<K, V>
where
    K: Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    queues
        .entry(TypeId::of::<K>())
        .or_insert_with(|| {
            Box::new(Queue::<K, V> {
                open: None,
                cache: HashMap::default(),
            })
        })
        .downcast_mut::<Queue<K, V>>()
        .expect("a queue is stored under its own key type")
}

impl<K: Hash + Eq, V> Queue<K, V> {
    /// Adds keys to the open batch, or opens one; returns it and whether the caller opened
    /// it (and so leads it).
    fn enqueue(
        &mut self,
        keys: impl Iterator<Item = K>,
        dispatched: u64,
    ) -> (Arc<Batch<K, V>>, bool) {
        match &self.open {
            Some(batch) => {
                lock(&batch.keys).extend(keys);
                (batch.clone(), false)
            }
            None => {
                let batch = Arc::new(Batch {
                    keys: Mutex::new(keys.collect()),
                    opened_after: dispatched,
                    result: OnceLock::new(),
                    done: Notify::new(),
                    dispatched: std::sync::atomic::AtomicBool::new(false),
                });
                self.open = Some(batch.clone());
                (batch, true)
            }
        }
    }
}

impl<L> Inner<L> {
    fn lock_queues(&self) -> MutexGuard<'_, FastMap<TypeId, Box<dyn Any + Send>>> {
        lock(&self.queues)
    }

    /// How many batches have been dispatched so far.
    fn dispatch_count(&self) -> u64 {
        self.dispatched.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether a batch dispatched before the `before`th dispatch is still in flight.
    fn earlier_in_flight(&self, before: u64) -> bool {
        lock(&self.in_flight).first().is_some_and(|&n| n < before)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Closes a batch and runs its query when dropped: by its leader after the wave settled, or
/// by the leader's destructor when the leader was cancelled first.
struct Dispatch<K, L>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    L: Loader<K, Error = async_graphql::Error>,
{
    inner: Arc<Inner<L>>,
    batch: Arc<Batch<K, L::Value>>,
}

impl<K, L> Drop for Dispatch<K, L>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    L: Loader<K, Error = async_graphql::Error>,
{
    fn drop(&mut self) {
        if self
            .batch
            .dispatched
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            return;
        }
        // Close the batch: later keys open the next one.
        {
            let mut queues = self.inner.lock_queues();
            let queue = queue_of::<K, L::Value>(&mut queues);
            if queue
                .open
                .as_ref()
                .is_some_and(|open| Arc::ptr_eq(open, &self.batch))
            {
                queue.open = None;
            }
        }
        let inner = self.inner.clone();
        let batch = self.batch.clone();
        let number = {
            // Numbered and marked in flight under one lock, so a leader never sees the count
            // moved on without the batch in flight.
            let mut in_flight = lock(&inner.in_flight);
            let number = inner
                .dispatched
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            in_flight.insert(number);
            number
        };
        // A child of the operation's span (`Span::none()` unless traces are exported).
        let span =
            crate::telemetry::wave_span(std::any::type_name::<K>(), || lock(&batch.keys).len());
        let wave = async move {
            let keys: Vec<K> = lock(&batch.keys).drain().collect();
            let result = inner.loader.load(&keys).await.map(|values| {
                if inner.cache.load(std::sync::atomic::Ordering::Relaxed) {
                    let mut queues = inner.lock_queues();
                    queue_of::<K, L::Value>(&mut queues).cache.extend(values);
                    Answer::Cached
                } else {
                    Answer::Here(values)
                }
            });
            let _ = batch.result.set(result);
            batch.done.notify_waiters();
            lock(&inner.in_flight).remove(&number);
            inner.answered.notify_waiters();
        };
        tokio::spawn(tracing::Instrument::instrument(wave, span));
    }
}
