//! The relations of a store: the store by id, a page of its stock rows and their count.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;

use super::{DbLoader, by_parent, groups, totals};
use crate::{
    db::models::{page::Keyset, reference::Tables, stock, store},
    with_read,
};

row_by_id!(
    /// A store by id.
    StoreKey(i32) => store::Store, store::by_ids, kept in Tables::store
);

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
                let rows = stock::pages_by_store(conn, stock::Stores::Ids(&ids), &filter, &page).await?;
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
