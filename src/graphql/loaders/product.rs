//! The relations of a product: the product by id, its stock rows and its stock over all
//! stores.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;

use super::{DbLoader, by_parent, totals};
use crate::{
    db::models::{product, stock},
    with_read,
};

row_by_id!(
    /// A product by id.
    ProductKey(i32) => product::Product, product::by_ids
);
key!(
    /// The stock rows of a product (store-code order).
    ProductStocksKey(i32)
);
key!(
    /// A product's stock over all stores.
    ProductTotalKey(i32)
);

impl Loader<ProductStocksKey> for DbLoader {
    type Value = Vec<stock::Stock>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[ProductStocksKey],
    ) -> Result<HashMap<ProductStocksKey, Self::Value>, Self::Error> {
        let ids: Vec<i32> = keys.iter().map(|k| k.0).collect();
        let rows = self.stocks_of_products(&ids).await?;
        let mut lists = by_parent(rows, |r| r.product_id);
        // A product without stock rows has an empty list (cached as such, so that a page
        // rendered from the cache knows it was loaded).
        Ok(ids
            .into_iter()
            .map(|id| (ProductStocksKey(id), lists.remove(&id).unwrap_or_default()))
            .collect())
    }
}

impl DbLoader {
    /// The stock rows of these products in store-code order: read without their stores and
    /// ordered by the codes of the reference tables when the request may have them (a query
    /// document), else, or when a row's store is newer than the tables, read in order.
    async fn stocks_of_products(&self, ids: &[i32]) -> async_graphql::Result<Vec<stock::Stock>> {
        if self.may_have_reference() {
            let mut rows = with_read!(&self.reads, c => stock::of_products(c, ids).await)?;
            if let Some(tables) = self.reference().await
                && stock::order_by_store_code(&mut rows, &tables)
            {
                return Ok(rows);
            }
        }
        Ok(with_read!(&self.reads, c => stock::by_products(c, ids).await)?)
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
