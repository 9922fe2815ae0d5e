//! `Stock`: one product's stock in one store.

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};

use crate::{
    db::models::stock as model,
    error::AppError,
    graphql::{
        ids::NodeId,
        loaders,
        loaders::{ProductKey, StoreKey},
        types::{product::Product, store::Store},
    },
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

    /// When last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}
