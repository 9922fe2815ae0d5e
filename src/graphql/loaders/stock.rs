//! The relations of a stock row: the row by (product, store) and its quantity at a moment.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use chrono::{DateTime, Utc};

use super::DbLoader;
use crate::{db::models::stock, with_read};

key!(
    /// A stock row by (product id, store id).
    StockKey((i32, i32))
);

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
