//! The catalogue's fan-out as the query limits see it: how many root categories, the most
//! children one category has, how many categories and stores. Lists without a page size
//! (`categories`, `Category.children`, `Product.stocks`, `User.stores`) are weighed with these
//! numbers instead of a constant.
//!
//! The numbers live in atomics, so the limits read them without SQL. A background task
//! refreshes them every `STOCKROOM_STATS_REFRESH_MS` and at once when a mutation changed the
//! catalogue's shape ([`Fanout::changed`]); it ends by itself once the schema is dropped. Until
//! the first refresh has been tried, the guard waits for it (briefly, see [`Fanout::ready`]);
//! a number that could not be read stays unknown and the limits fall back to a constant.

use std::{
    sync::{
        Arc, Weak,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::sync::{Notify, watch};

use crate::db::{DbPool, models::statistics};

/// Stored in an atomic for a number not (yet) known.
const UNKNOWN: u64 = u64::MAX;

/// The numbers at one moment; `None` when unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Categories in all.
    pub categories: Option<u64>,
    /// Root categories.
    pub roots: Option<u64>,
    /// The most children of one category.
    pub max_children: Option<u64>,
    /// Stores.
    pub stores: Option<u64>,
}

#[derive(Debug)]
struct Numbers {
    categories: AtomicU64,
    roots: AtomicU64,
    max_children: AtomicU64,
    stores: AtomicU64,
    /// The first refresh has been tried (set once).
    tried: AtomicBool,
    tried_tx: watch::Sender<bool>,
}

impl Numbers {
    fn store(&self, s: Snapshot) {
        let put =
            |cell: &AtomicU64, v: Option<u64>| cell.store(v.unwrap_or(UNKNOWN), Ordering::Relaxed);
        put(&self.categories, s.categories);
        put(&self.roots, s.roots);
        put(&self.max_children, s.max_children);
        put(&self.stores, s.stores);
    }

    fn mark_tried(&self) {
        if !self.tried.swap(true, Ordering::SeqCst) {
            self.tried_tx.send_replace(true);
        }
    }
}

/// The shared, refreshed fan-out numbers (cheap to clone).
#[derive(Debug, Clone)]
pub struct Fanout {
    numbers: Arc<Numbers>,
    changed: Arc<Notify>,
}

impl Default for Fanout {
    fn default() -> Self {
        Self::unknown()
    }
}

impl Fanout {
    /// Numbers not known yet (a refresh task fills them in).
    pub fn unknown() -> Self {
        let (tried_tx, _) = watch::channel(false);
        let numbers = Numbers {
            categories: AtomicU64::new(UNKNOWN),
            roots: AtomicU64::new(UNKNOWN),
            max_children: AtomicU64::new(UNKNOWN),
            stores: AtomicU64::new(UNKNOWN),
            tried: AtomicBool::new(false),
            tried_tx,
        };
        Self {
            numbers: Arc::new(numbers),
            changed: Arc::new(Notify::new()),
        }
    }

    /// Fixed numbers, with no refresh (for the estimator's own tests and tools).
    pub fn fixed(snapshot: Snapshot) -> Self {
        let fanout = Self::unknown();
        fanout.numbers.store(snapshot);
        fanout.numbers.mark_tried();
        fanout
    }

    /// The numbers now.
    pub fn snapshot(&self) -> Snapshot {
        let get = |cell: &AtomicU64| Some(cell.load(Ordering::Relaxed)).filter(|v| *v != UNKNOWN);
        Snapshot {
            categories: get(&self.numbers.categories),
            roots: get(&self.numbers.roots),
            max_children: get(&self.numbers.max_children),
            stores: get(&self.numbers.stores),
        }
    }

    /// Asks the refresh task to read the numbers again now (a category or store changed).
    pub fn changed(&self) {
        self.changed.notify_one();
    }

    /// Waits, at most `wait`, until the first refresh has been tried (at once afterwards).
    pub async fn ready(&self, wait: Duration) {
        if self.numbers.tried.load(Ordering::Relaxed) {
            return;
        }
        let mut rx = self.numbers.tried_tx.subscribe();
        let _ = tokio::time::timeout(wait, rx.wait_for(|tried| *tried)).await;
    }

    /// Starts the task that reads the numbers from `pool` now, every `every`, and after
    /// each [`changed`](Self::changed); it stops once every clone of this `Fanout` is gone.
    /// Without a Tokio runtime (a tool that only builds the schema) nothing is started and the
    /// numbers stay unknown.
    pub fn spawn_refresh(&self, pool: DbPool, every: Duration) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.numbers.mark_tried();
            return;
        };
        let numbers: Weak<Numbers> = Arc::downgrade(&self.numbers);
        let changed = self.changed.clone();
        runtime.spawn(async move {
            loop {
                let Some(numbers) = numbers.upgrade() else {
                    return;
                };
                match read(&pool).await {
                    Ok(snapshot) => numbers.store(snapshot),
                    Err(err) => tracing::debug!(error = ?err, "reading the fan-out statistics"),
                }
                numbers.mark_tried();
                drop(numbers);
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    () = changed.notified() => {}
                }
            }
        });
    }
}

async fn read(pool: &DbPool) -> crate::error::AppResult<Snapshot> {
    let mut conn = pool.get().await?;
    let f = statistics::fanout(&mut conn).await?;
    let n = |v: i64| u64::try_from(v).ok();
    Ok(Snapshot {
        categories: n(f.categories),
        roots: n(f.roots),
        max_children: n(f.max_children),
        stores: n(f.stores),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fixed_numbers_are_ready_at_once_and_unknown_ones_wait_at_most_the_given_time() {
        let known = Snapshot {
            categories: Some(3),
            roots: Some(1),
            max_children: Some(2),
            stores: Some(0),
        };
        let fixed = Fanout::fixed(known);
        assert_eq!(fixed.snapshot(), known);
        tokio::time::timeout(
            Duration::from_millis(100),
            fixed.ready(Duration::from_secs(60)),
        )
        .await
        .expect("ready at once");
        let unknown = Fanout::unknown();
        assert_eq!(unknown.snapshot(), Snapshot::default());
        let started = std::time::Instant::now();
        unknown.ready(Duration::from_millis(20)).await;
        assert!(started.elapsed() >= Duration::from_millis(20));
    }
}
