//! `Stock`: one product's stock in one store.

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};

use crate::{
    db::models::stock as model,
    error::AppError,
    graphql::{
        ids::NodeId,
        loaders,
        loaders::{ProductKey, QuantityAtKey, StoreKey, StoreStockCountKey},
        pagination::{Edge, Page, PageInfo, to_int},
        reads,
        render::Rendered,
        types::{product::Product, store::Store},
    },
    with_read,
};

/// A stock row.
#[derive(Clone)]
pub struct Stock(pub model::Stock);

#[Object]
impl Stock {
    /// Global ID (the same wherever the row appears).
    pub async fn id(&self) -> ID {
        NodeId::Stock(self.0.product_id, self.0.store_id).encode()
    }

    /// The product.
    async fn product(&self, ctx: &Context<'_>) -> Result<Product> {
        loaders(ctx)
            .load_one(ProductKey(self.0.product_id))
            .await?
            .map(Product)
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("stock without product")).into())
    }

    /// The store.
    async fn store(&self, ctx: &Context<'_>) -> Result<Store> {
        loaders(ctx)
            .load_one(StoreKey(self.0.store_id))
            .await?
            .map(Store)
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("stock without store")).into())
    }

    /// On hand.
    async fn quantity(&self) -> i32 {
        self.0.quantity
    }

    /// At or below this quantity the row is low on stock.
    async fn reorder_point(&self) -> i32 {
        self.0.reorder_point
    }

    /// Whether quantity <= reorderPoint.
    async fn low_stock(&self) -> bool {
        self.0.is_low()
    }

    /// Quantity as it stood at a past moment, from the ledger (0 before the first row).
    async fn quantity_at(&self, ctx: &Context<'_>, at: DateTime<Utc>) -> Result<i32> {
        let key = QuantityAtKey {
            product_id: self.0.product_id,
            store_id: self.0.store_id,
            at,
        };
        Ok(loaders(ctx).load_one(key).await?.unwrap_or(0))
    }

    /// When last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at.at()
    }
}

/// An edge of a stock connection.
pub type StockEdge = Edge<Stock>;

/// What a stock connection's `totalCount` counts.
#[derive(Clone)]
pub enum StockTotal {
    /// A store's rows matching a filter (batched across stores).
    Store(StoreStockCountKey),
    /// Rows at or below their reorder point, in one store or all.
    LowStock(Option<i32>),
}

/// A page of stock rows.
pub struct StockConnection {
    /// The page.
    pub page: Page<Stock>,
    /// What `totalCount` counts (computed only when asked for).
    pub total: StockTotal,
}

#[Object]
impl StockConnection {
    /// The page's edges.
    async fn edges(&self) -> Rendered<&[StockEdge]> {
        Rendered(&self.page.edges)
    }

    /// The page's stock rows.
    async fn nodes(&self) -> Rendered<Vec<Stock>> {
        Rendered(self.page.nodes())
    }

    /// Where the page is.
    async fn page_info(&self) -> &PageInfo {
        &self.page.page_info
    }

    /// How many rows match, over all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i32> {
        let total = match &self.total {
            StockTotal::Store(key) => loaders(ctx).load_one(key.clone()).await?.unwrap_or(0),
            StockTotal::LowStock(store_id) => {
                with_read!(reads(ctx), c => model::low_stock_count(c, *store_id).await)?
            }
        };
        Ok(to_int(total)?)
    }
}
