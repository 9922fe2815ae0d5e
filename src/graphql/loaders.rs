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

use std::{collections::HashMap, hash::Hash};

use async_graphql::dataloader::Loader;
use chrono::{DateTime, Utc};

use crate::{
    db::{
        models::{
            category,
            page::{KeyTotal, Keyset},
            product, stock, store,
            transaction::{self, LedgerOwner, TransactionCursor},
            user,
        },
        reads::ReadSource,
    },
    domain::ledger::TransactionType,
    graphql::wave::WaveLoader,
    with_read,
};

/// Loads rows for the resolvers of one request, from the node the request reads from (on
/// its shared connections: a wave's statement is pipelined with other requests').
pub struct DbLoader {
    reads: ReadSource,
}

/// The per-request loader, as resolvers find it in the context.
pub type Loaders = WaveLoader<DbLoader>;

/// Builds the loaders of one request (or of one subscription), with the cache off: a
/// mutation must see what the previous mutation of its document wrote, and a subscription
/// lives long. The gate switches it on for a query document (nothing is written while it
/// runs), so a key asked for again in a later wave is not queried twice.
pub fn for_request(reads: ReadSource) -> Loaders {
    WaveLoader::new(DbLoader { reads })
}

macro_rules! key {
    ($(#[$doc:meta])* $name:ident($ty:ty)) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name(pub $ty);
    };
}

key!(
    /// A product by id.
    ProductKey(i32)
);
key!(
    /// A category by id.
    CategoryKey(i32)
);
key!(
    /// A store by id.
    StoreKey(i32)
);
key!(
    /// A user by id.
    UserKey(i32)
);

impl Loader<ProductKey> for DbLoader {
    type Value = product::Product;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[ProductKey],
    ) -> Result<HashMap<ProductKey, Self::Value>, Self::Error> {
        let ids: Vec<i32> = keys.iter().map(|k| k.0).collect();
        let rows = with_read!(&self.reads, c => product::by_ids(c, &ids).await)?;
        Ok(rows.into_iter().map(|r| (ProductKey(r.id), r)).collect())
    }
}

impl Loader<CategoryKey> for DbLoader {
    type Value = category::Category;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[CategoryKey],
    ) -> Result<HashMap<CategoryKey, Self::Value>, Self::Error> {
        let ids: Vec<i32> = keys.iter().map(|k| k.0).collect();
        let rows = with_read!(&self.reads, c => category::by_ids(c, &ids).await)?;
        Ok(rows.into_iter().map(|r| (CategoryKey(r.id), r)).collect())
    }
}

impl Loader<StoreKey> for DbLoader {
    type Value = store::Store;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[StoreKey]) -> Result<HashMap<StoreKey, Self::Value>, Self::Error> {
        let ids: Vec<i32> = keys.iter().map(|k| k.0).collect();
        let rows = with_read!(&self.reads, c => store::by_ids(c, &ids).await)?;
        Ok(rows.into_iter().map(|r| (StoreKey(r.id), r)).collect())
    }
}

impl Loader<UserKey> for DbLoader {
    type Value = user::User;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[UserKey]) -> Result<HashMap<UserKey, Self::Value>, Self::Error> {
        let ids: Vec<i32> = keys.iter().map(|k| k.0).collect();
        let rows = with_read!(&self.reads, c => user::by_ids(c, &ids).await)?;
        Ok(rows.into_iter().map(|r| (UserKey(r.id), r)).collect())
    }
}

key!(
    /// A stock row by (product id, store id).
    StockKey((i32, i32))
);
key!(
    /// A ledger row by id.
    TransactionKey(i64)
);
key!(
    /// The children of a category (by name).
    CategoryChildrenKey(i32)
);
key!(
    /// The stock rows of a product (store-code order).
    ProductStocksKey(i32)
);
key!(
    /// A product's stock over all stores.
    ProductTotalKey(i32)
);
key!(
    /// The stores a user is scoped to (code order).
    UserStoresKey(i32)
);

/// The stock of a category subtree, in one store or all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CategoryTotalKey {
    /// The subtree's root.
    pub category_id: i32,
    /// Only this store.
    pub store_id: Option<i32>,
}

/// A stock row's quantity at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QuantityAtKey {
    /// The product.
    pub product_id: i32,
    /// The store.
    pub store_id: i32,
    /// The moment.
    pub at: DateTime<Utc>,
}

/// A page of a store's stock rows (raw rows in read direction, for `pagination::page`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoreStocksKey {
    /// The store.
    pub store_id: i32,
    /// Which rows.
    pub filter: stock::StockFilter,
    /// Which page (cursor: product SKU).
    pub page: Keyset<String>,
}

/// How many stock rows of a store match a filter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoreStockCountKey {
    /// The store.
    pub store_id: i32,
    /// Which rows.
    pub filter: stock::StockFilter,
}

/// A page of a product's or a store's ledger (raw rows in read direction).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LedgerPageKey {
    /// Product or store.
    pub owner: LedgerOwner,
    /// Its id.
    pub id: i32,
    /// Only this type.
    pub kind: Option<TransactionType>,
    /// Which page.
    pub page: Keyset<TransactionCursor>,
}

/// A page of a category's products (raw rows in read direction; cursor: SKU).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CategoryProductsKey {
    /// The category.
    pub category_id: i32,
    /// Its whole subtree.
    pub include_descendants: bool,
    /// Which page.
    pub page: Keyset<String>,
}

/// How many (non-archived) products a category lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CategoryProductCountKey {
    /// The category.
    pub category_id: i32,
    /// Its whole subtree.
    pub include_descendants: bool,
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
fn by_parent<R>(rows: Vec<R>, parent: impl Fn(&R) -> i32) -> HashMap<i32, Vec<R>> {
    let mut out: HashMap<i32, Vec<R>> = HashMap::new();
    for r in rows {
        out.entry(parent(&r)).or_default().push(r);
    }
    out
}

fn totals(rows: Vec<KeyTotal>) -> HashMap<i32, i64> {
    rows.into_iter().map(|r| (r.key, r.total)).collect()
}

impl Loader<StockKey> for DbLoader {
    type Value = stock::Stock;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[StockKey]) -> Result<HashMap<StockKey, Self::Value>, Self::Error> {
        let pairs: Vec<(i32, i32)> = keys.iter().map(|k| k.0).collect();
        let rows = with_read!(&self.reads, c => stock::by_pairs(c, &pairs).await)?;
        Ok(rows
            .into_iter()
            .map(|r| (StockKey((r.product_id, r.store_id)), r))
            .collect())
    }
}

impl Loader<TransactionKey> for DbLoader {
    type Value = transaction::InventoryTransaction;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TransactionKey],
    ) -> Result<HashMap<TransactionKey, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let rows = with_read!(&self.reads, c => transaction::by_ids(c, &ids).await)?;
        Ok(rows
            .into_iter()
            .map(|r| (TransactionKey(r.id), r))
            .collect())
    }
}

impl Loader<CategoryChildrenKey> for DbLoader {
    type Value = Vec<category::Category>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[CategoryChildrenKey],
    ) -> Result<HashMap<CategoryChildrenKey, Self::Value>, Self::Error> {
        let ids: Vec<i32> = keys.iter().map(|k| k.0).collect();
        let rows = with_read!(&self.reads, c => category::children_of(c, &ids).await)?;
        Ok(by_parent(rows, |r| r.parent_id.unwrap_or_default())
            .into_iter()
            .map(|(k, v)| (CategoryChildrenKey(k), v))
            .collect())
    }
}

impl Loader<ProductStocksKey> for DbLoader {
    type Value = Vec<stock::Stock>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[ProductStocksKey],
    ) -> Result<HashMap<ProductStocksKey, Self::Value>, Self::Error> {
        let ids: Vec<i32> = keys.iter().map(|k| k.0).collect();
        let rows = with_read!(&self.reads, c => stock::by_products(c, &ids).await)?;
        Ok(by_parent(rows, |r| r.product_id)
            .into_iter()
            .map(|(k, v)| (ProductStocksKey(k), v))
            .collect())
    }
}

impl Loader<ProductTotalKey> for DbLoader {
    type Value = i64;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[ProductTotalKey],
    ) -> Result<HashMap<ProductTotalKey, Self::Value>, Self::Error> {
        let ids: Vec<i32> = keys.iter().map(|k| k.0).collect();
        let rows = with_read!(&self.reads, c => stock::totals_by_product(c, &ids).await)?;
        Ok(totals(rows)
            .into_iter()
            .map(|(k, v)| (ProductTotalKey(k), v))
            .collect())
    }
}

impl Loader<UserStoresKey> for DbLoader {
    type Value = Vec<store::Store>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[UserStoresKey],
    ) -> Result<HashMap<UserStoresKey, Self::Value>, Self::Error> {
        let ids: Vec<i32> = keys.iter().map(|k| k.0).collect();
        let rows = with_read!(&self.reads, c => store::for_users(c, &ids).await)?;
        let mut out: HashMap<UserStoresKey, Self::Value> = HashMap::new();
        for r in rows {
            out.entry(UserStoresKey(r.user_id))
                .or_default()
                .push(r.store);
        }
        Ok(out)
    }
}

impl Loader<CategoryTotalKey> for DbLoader {
    type Value = i64;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[CategoryTotalKey],
    ) -> Result<HashMap<CategoryTotalKey, Self::Value>, Self::Error> {
        Ok(with_read!(&self.reads, conn => async {
            let mut out = HashMap::new();
        for (store_id, ids) in groups(keys, |k| (k.store_id, k.category_id)) {
            let rows = product::category_totals(conn, &ids, store_id).await?;
            out.extend(totals(rows).into_iter().map(|(category_id, v)| {
                (
                    CategoryTotalKey {
                        category_id,
                        store_id,
                    },
                    v,
                )
            }));
        }
            Ok(out)
        }
        .await)?)
    }
}

impl Loader<QuantityAtKey> for DbLoader {
    type Value = i32;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[QuantityAtKey],
    ) -> Result<HashMap<QuantityAtKey, Self::Value>, Self::Error> {
        let questions: Vec<(i32, i32, DateTime<Utc>)> = keys
            .iter()
            .map(|k| (k.product_id, k.store_id, k.at))
            .collect();
        let rows = with_read!(&self.reads, c => stock::quantities_at(c, &questions).await)?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let index = usize::try_from(r.n).ok()?.checked_sub(1)?;
                Some((*keys.get(index)?, r.quantity))
            })
            .collect())
    }
}

impl Loader<StoreStocksKey> for DbLoader {
    type Value = Vec<stock::SkuStock>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[StoreStocksKey],
    ) -> Result<HashMap<StoreStocksKey, Self::Value>, Self::Error> {
        Ok(with_read!(&self.reads, conn => async {
            let mut out = HashMap::new();
        for ((filter, page), ids) in
            groups(keys, |k| ((k.filter.clone(), k.page.clone()), k.store_id))
        {
            let rows = stock::pages_by_store(conn, &ids, &filter, &page).await?;
            for (store_id, rows) in by_parent(rows, |r| r.stock.store_id) {
                let key = StoreStocksKey {
                    store_id,
                    filter: filter.clone(),
                    page: page.clone(),
                };
                out.insert(key, rows);
            }
        }
            Ok(out)
        }
        .await)?)
    }
}

impl Loader<StoreStockCountKey> for DbLoader {
    type Value = i64;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[StoreStockCountKey],
    ) -> Result<HashMap<StoreStockCountKey, Self::Value>, Self::Error> {
        Ok(with_read!(&self.reads, conn => async {
            let mut out = HashMap::new();
        for (filter, ids) in groups(keys, |k| (k.filter.clone(), k.store_id)) {
            let rows = stock::counts_by_store(conn, &ids, &filter).await?;
            for (store_id, v) in totals(rows) {
                let key = StoreStockCountKey {
                    store_id,
                    filter: filter.clone(),
                };
                out.insert(key, v);
            }
        }
            Ok(out)
        }
        .await)?)
    }
}

impl Loader<LedgerPageKey> for DbLoader {
    type Value = Vec<transaction::InventoryTransaction>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[LedgerPageKey],
    ) -> Result<HashMap<LedgerPageKey, Self::Value>, Self::Error> {
        Ok(with_read!(&self.reads, conn => async {
            let mut out = HashMap::new();
        for ((owner, kind, page), ids) in
            groups(keys, |k| ((k.owner, k.kind, k.page.clone()), k.id))
        {
            let rows =
                transaction::pages_by_owner(conn, owner, &ids, kind, &page).await?;
            let parent = |r: &transaction::InventoryTransaction| match owner {
                LedgerOwner::Product => r.product_id,
                LedgerOwner::Store => r.store_id,
            };
            for (id, rows) in by_parent(rows, parent) {
                let key = LedgerPageKey {
                    owner,
                    id,
                    kind,
                    page: page.clone(),
                };
                out.insert(key, rows);
            }
        }
            Ok(out)
        }
        .await)?)
    }
}

impl Loader<CategoryProductsKey> for DbLoader {
    type Value = Vec<product::Product>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[CategoryProductsKey],
    ) -> Result<HashMap<CategoryProductsKey, Self::Value>, Self::Error> {
        Ok(with_read!(&self.reads, conn => async {
            let mut out = HashMap::new();
        for ((include_descendants, page), ids) in groups(keys, |k| {
            ((k.include_descendants, k.page.clone()), k.category_id)
        }) {
            let rows =
                product::pages_by_category(conn, &ids, include_descendants, &page).await?;
            for (category_id, rows) in by_parent(rows, |r| r.root) {
                let key = CategoryProductsKey {
                    category_id,
                    include_descendants,
                    page: page.clone(),
                };
                out.insert(key, rows.into_iter().map(|r| r.product).collect());
            }
        }
            Ok(out)
        }
        .await)?)
    }
}

impl Loader<CategoryProductCountKey> for DbLoader {
    type Value = i64;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[CategoryProductCountKey],
    ) -> Result<HashMap<CategoryProductCountKey, Self::Value>, Self::Error> {
        Ok(with_read!(&self.reads, conn => async {
            let mut out = HashMap::new();
        for (include_descendants, ids) in groups(keys, |k| (k.include_descendants, k.category_id)) {
            let rows = product::counts_by_category(conn, &ids, include_descendants).await?;
            for (category_id, v) in totals(rows) {
                let key = CategoryProductCountKey {
                    category_id,
                    include_descendants,
                };
                out.insert(key, v);
            }
        }
            Ok(out)
        }
        .await)?)
    }
}
