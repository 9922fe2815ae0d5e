//! `Product`, its edge and its connection.

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};

use crate::{
    db::models::{product as model, transaction::LedgerOwner},
    error::AppError,
    graphql::{
        ids,
        ids::NodeId,
        loaders,
        loaders::{
            CategoryKey, CategoryProductCountKey, LedgerPageKey, ProductStocksKey, ProductTotalKey,
            StockKey,
        },
        pagination::{self, Edge, Page, PageInfo, to_int},
        prefetch, reads,
        render::Rendered,
        types::{
            category::Category,
            decimal::Decimal,
            stock::Stock,
            transaction::{InventoryTransactionConnection, TransactionType},
        },
    },
    with_read,
};

/// A product of the catalogue.
#[derive(Clone)]
pub struct Product(pub model::Product);

#[Object]
impl Product {
    /// Global ID.
    pub async fn id(&self) -> ID {
        NodeId::Product(self.0.id).encode()
    }

    /// Stock-keeping unit.
    async fn sku(&self) -> &str {
        &self.0.sku
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Free text, possibly empty.
    async fn description(&self) -> &str {
        &self.0.description
    }

    /// Unit price.
    async fn price(&self) -> Decimal {
        Decimal(self.0.price.clone())
    }

    /// The category it belongs to.
    async fn category(&self, ctx: &Context<'_>) -> Result<Category> {
        loaders(ctx)
            .load_one(CategoryKey(self.0.category_id))
            .await?
            .map(Category)
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("product without category")).into())
    }

    /// Whether it is archived.
    async fn archived(&self) -> bool {
        self.0.archived
    }

    /// One row per store that holds (or held) this product, in store-code order.
    async fn stocks(&self, ctx: &Context<'_>) -> Result<Rendered<Vec<Stock>>> {
        let rows = loaders(ctx)
            .load_one(ProductStocksKey(self.0.id))
            .await?
            .unwrap_or_default();
        let list: Vec<&crate::db::models::stock::Stock> = rows.iter().collect();
        prefetch::stocks(ctx, &prefetch::list_items(ctx), &list).await;
        Ok(Rendered(rows.into_iter().map(Stock).collect()))
    }

    /// This product's stock in one store; null when the store never held it.
    async fn stock(&self, ctx: &Context<'_>, store_id: ID) -> Result<Option<Stock>> {
        let store_id = ids::store_id(&store_id, "storeId")?;
        Ok(loaders(ctx)
            .load_one(StockKey((self.0.id, store_id)))
            .await?
            .map(Stock))
    }

    /// Sum of stock over all stores.
    async fn total_quantity(&self, ctx: &Context<'_>) -> Result<i32> {
        let total = loaders(ctx)
            .load_one(ProductTotalKey(self.0.id))
            .await?
            .unwrap_or(0);
        Ok(to_int(total)?)
    }

    /// Newest first (createdAt DESC, then id DESC).
    async fn transactions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(name = "type")] kind: Option<TransactionType>,
    ) -> Result<InventoryTransactionConnection> {
        let page = pagination::forward(first, after)?;
        let key = LedgerPageKey {
            owner: LedgerOwner::Product,
            id: self.0.id,
            kind: kind.map(Into::into),
            page,
        };
        let rows = loaders(ctx)
            .load_one(key.clone())
            .await?
            .unwrap_or_default();
        Ok(InventoryTransactionConnection::from_rows(rows, &key.page))
    }

    /// When created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at.at()
    }

    /// When last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at.at()
    }
}

/// An edge of a product connection.
pub type ProductEdge = Edge<Product>;

/// What a product connection's `totalCount` counts.
#[derive(Clone)]
pub enum ProductTotal {
    /// The products matching a filter (top-level `products`).
    Filter(model::ProductFilter),
    /// The products a category lists (batched across categories).
    Category(CategoryProductCountKey),
}

/// A page of products.
pub struct ProductConnection {
    /// The page.
    pub page: Page<Product>,
    /// What `totalCount` counts (computed only when asked for).
    pub total: ProductTotal,
}

#[Object]
impl ProductConnection {
    /// The page's edges.
    async fn edges(&self) -> Rendered<&[ProductEdge]> {
        Rendered(&self.page.edges)
    }

    /// The page's products.
    async fn nodes(&self) -> Rendered<Vec<Product>> {
        Rendered(self.page.nodes())
    }

    /// Where the page is.
    async fn page_info(&self) -> &PageInfo {
        &self.page.page_info
    }

    /// How many products match, over all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i32> {
        let total = match &self.total {
            ProductTotal::Filter(filter) => {
                with_read!(reads(ctx), c => model::count(c, filter).await)?
            }
            ProductTotal::Category(key) => loaders(ctx).load_one(*key).await?.unwrap_or(0),
        };
        Ok(to_int(total)?)
    }
}
