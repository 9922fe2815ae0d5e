//! `Category`: a node of the category tree.

use async_graphql::{Context, ID, Object, Result};

use crate::{
    db::models::{category as model, product as model_product},
    graphql::{
        ids,
        ids::NodeId,
        loaders,
        loaders::{
            CategoryChildrenKey, CategoryKey, CategoryProductCountKey, CategoryProductsKey,
            CategoryTotalKey,
        },
        pagination::{self, to_int},
        prefetch,
        types::product::{Product, ProductConnection, ProductTotal},
    },
};

/// A category of products.
#[derive(Clone)]
pub struct Category(pub model::Category);

#[Object]
impl Category {
    /// Global ID.
    pub async fn id(&self) -> ID {
        NodeId::Category(self.0.id).encode()
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The parent category; null for a root.
    async fn parent(&self, ctx: &Context<'_>) -> Result<Option<Category>> {
        let Some(parent_id) = self.0.parent_id else {
            return Ok(None);
        };
        Ok(loaders(ctx)
            .load_one(CategoryKey(parent_id))
            .await?
            .map(Category))
    }

    /// The direct subcategories, by name.
    async fn children(&self, ctx: &Context<'_>) -> Result<Vec<Category>> {
        Ok(loaders(ctx)
            .load_one(CategoryChildrenKey(self.0.id))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(Category)
            .collect())
    }

    /// Products of this category, or of its whole subtree when includeDescendants is true.
    async fn products(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(default_with = "Some(false)")] include_descendants: Option<bool>,
    ) -> Result<ProductConnection> {
        let include_descendants = include_descendants.unwrap_or(false);
        let key = CategoryProductsKey {
            category_id: self.0.id,
            include_descendants,
            page: pagination::forward(first, after)?,
        };
        let rows = loaders(ctx)
            .load_one(key.clone())
            .await?
            .unwrap_or_default();
        let page: Vec<&model_product::Product> =
            pagination::shown(&rows, &key.page).iter().collect();
        prefetch::products(ctx, &prefetch::connection_nodes(ctx), &page).await;
        Ok(ProductConnection {
            page: pagination::page(rows, &key.page, |r| r.sku.clone(), Product),
            total: ProductTotal::Category(CategoryProductCountKey {
                category_id: self.0.id,
                include_descendants,
            }),
        })
    }

    /// Sum of stock over the whole subtree, in one store or in all.
    async fn total_quantity(&self, ctx: &Context<'_>, store_id: Option<ID>) -> Result<i32> {
        let store_id = store_id
            .map(|id| ids::store_id(&id, "storeId"))
            .transpose()?;
        let key = CategoryTotalKey {
            category_id: self.0.id,
            store_id,
        };
        Ok(to_int(loaders(ctx).load_one(key).await?.unwrap_or(0))?)
    }
}
