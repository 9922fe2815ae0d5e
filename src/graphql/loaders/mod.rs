//! DataLoaders: one per relation, keyed by a newtype, each one SQL query per request wave.
//!
//! A [`DbLoader`] is built per request (its cache must never outlive the request: it would
//! leak data between users and serve stale rows), wrapped in a [`WaveLoader`], which sends
//! each wave of keys as soon as the executor registered it (no timer).
//! Loader errors are `async_graphql::Error` (already mapped from [`AppError`]) because the
//! loader hands one error value to every key that waited on the failed query.
//!
//! Keys of paginated relations carry the page request: a wave of keys is grouped by it, and
//! each group is ONE query (a LATERAL join over the parent ids), so a nested list costs a
//! constant number of queries whatever the size of the page around it.
//!
//! One file per row type the relations start from, each key next to its loader:
//! `category.rs`, `product.rs`, `stock.rs`, `store.rs`, `transaction.rs` (the ledger),
//! `user.rs`.
//!
//! [`AppError`]: crate::error::AppError

use std::{collections::HashMap, hash::Hash, sync::Arc};
use tokio::sync::watch;

use crate::{
    db::{
        models::{page::KeyTotal, reference::Tables},
        reads::ReadSource,
    },
    fast_map::FastMap,
    graphql::wave::WaveLoader,
};

/// A loader key that is one id (or one pair of ids) of a row.
macro_rules! key {
    ($(#[$doc:meta])* $name:ident($ty:ty)) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name(pub $ty);
    };
}

/// A key that is a row's `id`, and its loader: `$by_ids` reads the rows of a wave of ids;
/// with `kept in $get`, a row of the reference tables comes from the request's copy of them
/// when it has one (see [`crate::db::models::reference`]), and only the rest is read.
macro_rules! row_by_id {
    ($(#[$doc:meta])* $name:ident($ty:ty) => $row:ty, $by_ids:path $(, kept in $get:path)?) => {
        key!($(#[$doc])* $name($ty));

        impl ::async_graphql::dataloader::Loader<$name> for $crate::graphql::loaders::DbLoader {
            type Value = $row;
            type Error = ::async_graphql::Error;

            async fn load(
                &self,
                keys: &[$name],
            ) -> ::std::result::Result<::std::collections::HashMap<$name, $row>, Self::Error> {
                #[allow(unused_mut)]
                let mut out = ::std::collections::HashMap::with_capacity(keys.len());
                #[allow(unused_mut)]
                let mut ids: Vec<$ty> = keys.iter().map(|k| k.0).collect();
                $(if let Some(tables) = self.reference().await {
                    ids.retain(|id| match $get(&tables, *id) {
                        Some(row) => {
                            out.insert($name(*id), row.clone());
                            false
                        }
                        None => true,
                    });
                    if ids.is_empty() {
                        return Ok(out);
                    }
                })?
                let rows = $crate::with_read!(&self.reads, c => $by_ids(c, &ids).await)?;
                out.extend(rows.into_iter().map(|r| ($name(r.id), r)));
                Ok(out)
            }
        }
    };
}

mod category;
mod product;
mod stock;
mod store;
mod transaction;
mod user;

pub use category::{
    CategoryChildrenKey, CategoryKey, CategoryProductCountKey, CategoryProductsKey,
    CategoryTotalKey,
};
pub use product::{ProductKey, ProductStocksKey, ProductTotalKey};
pub use stock::{QuantityAtKey, StockKey};
pub use store::{StoreKey, StoreStockCountKey, StoreStocksKey};
pub use transaction::{LedgerPageKey, TransactionKey};
pub use user::{UserKey, UserStoresKey};

/// Loads rows for the resolvers of one request, from the node the request reads from (on
/// its shared connections: a wave's statement is pipelined with other requests'), and the
/// stores and categories from the reference tables its token check vouched for, if any.
pub struct DbLoader {
    reads: ReadSource,
    reference: Reference,
}

/// The reference tables a request's loaders may serve from.
enum Reference {
    /// Decided before the request ran: its token check had answered.
    Known(Option<Arc<Tables>>),
    /// Decided by a token check still in flight (a query that started alongside its check):
    /// `Some` once the check has vouched; the sender dropped means it never will.
    Pending(watch::Receiver<Option<Option<Arc<Tables>>>>),
}

/// Where the token check of a query that started before it answered hands the reference
/// tables it vouches for to the query's loaders.
pub struct Vouch(watch::Sender<Option<Option<Arc<Tables>>>>);

impl Vouch {
    /// The tables the check vouched for (`None`: read stores and categories from the
    /// database); loads waiting for them go on.
    pub fn settle(self, reference: Option<Arc<Tables>>) {
        self.0.send_replace(Some(reference));
    }
}

impl DbLoader {
    /// The reference tables as of the request's token check, when the process's copy was
    /// that version (query documents only); waits for a check still in flight.
    pub async fn reference(&self) -> Option<Arc<Tables>> {
        match &self.reference {
            Reference::Known(tables) => tables.clone(),
            Reference::Pending(vouched) => vouched
                .clone()
                .wait_for(Option::is_some)
                .await
                .ok()
                .and_then(|tables| tables.clone().flatten()),
        }
    }

    /// Whether [`Self::reference`] may be `Some` (it is not for a mutation or a subscription,
    /// or without the process's copy), answered without waiting for a check.
    fn may_have_reference(&self) -> bool {
        !matches!(self.reference, Reference::Known(None))
    }
}

/// The per-request loader, as resolvers find it in the context.
pub type Loaders = WaveLoader<DbLoader>;

/// Builds the loaders of one request (or of one subscription), with the cache off: a
/// mutation must see what the previous mutation of its document wrote, and a subscription
/// lives long. The gate switches it on for a query document (nothing is written while it
/// runs), so a key asked for again in a later wave is not queried twice; it passes
/// `reference` only for a query document.
pub fn for_request(reads: ReadSource, reference: Option<Arc<Tables>>) -> Loaders {
    WaveLoader::new(DbLoader {
        reads,
        reference: Reference::Known(reference),
    })
}

/// [`for_request`] for a query whose token check is still in flight, with its cache on (a
/// query's): its stores and categories wait for the [`Vouch`] (dropped unsettled, they are
/// read from the database).
pub fn vouched_later(reads: ReadSource) -> (Loaders, Vouch) {
    let (vouch, vouched) = watch::channel(None);
    let loaders = WaveLoader::new(DbLoader {
        reads,
        reference: Reference::Pending(vouched),
    });
    loaders.enable_all_cache(true);
    (loaders, Vouch(vouch))
}

/// Groups keys by what they share apart from a parent id: one query per group.
fn groups<K, G: Hash + Eq>(keys: &[K], split: impl Fn(&K) -> (G, i32)) -> HashMap<G, Vec<i32>> {
    let mut out: HashMap<G, Vec<i32>> = HashMap::new();
    for k in keys {
        let (group, id) = split(k);
        out.entry(group).or_default().push(id);
    }
    out
}

/// Collects rows into one list per parent id.
fn by_parent<R>(rows: Vec<R>, parent: impl Fn(&R) -> i32) -> FastMap<i32, Vec<R>> {
    let mut out: FastMap<i32, Vec<R>> = FastMap::default();
    for r in rows {
        out.entry(parent(&r)).or_default().push(r);
    }
    out
}

/// Totals by parent id.
fn totals(rows: Vec<KeyTotal>) -> HashMap<i32, i64> {
    rows.into_iter().map(|r| (r.key, r.total)).collect()
}
