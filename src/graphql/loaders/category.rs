//! The relations of a category: the category by id, its children, its products (a page and
//! their count) and the stock of its subtree.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;

use super::{DbLoader, by_parent, groups, totals};
use crate::{
    db::models::{category, page::Keyset, product, reference::Tables},
    with_read,
};

row_by_id!(
    /// A category by id.
    CategoryKey(i32) => category::Category, category::by_ids, kept in Tables::category
);
key!(
    /// The children of a category (by name).
    CategoryChildrenKey(i32)
);

/// The stock of a category subtree, in one store or all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CategoryTotalKey {
    /// The subtree's root.
    pub category_id: i32,
    /// Only this store.
    pub store_id: Option<i32>,
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

impl Loader<CategoryChildrenKey> for DbLoader {
    type Value = Vec<category::Category>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[CategoryChildrenKey],
    ) -> Result<HashMap<CategoryChildrenKey, Self::Value>, Self::Error> {
        if let Some(tables) = self.reference().await {
            return Ok(keys
                .iter()
                .map(|k| (*k, tables.children(Some(k.0))))
                .collect());
        }
        let ids: Vec<i32> = keys.iter().map(|k| k.0).collect();
        let rows = with_read!(&self.reads, c => category::children_of(c, &ids).await)?;
        Ok(by_parent(rows, |r| r.parent_id.unwrap_or_default())
            .into_iter()
            .map(|(k, v)| (CategoryChildrenKey(k), v))
            .collect())
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
            for (include_descendants, ids) in
                groups(keys, |k| (k.include_descendants, k.category_id))
            {
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
