//! `Product`, its edge and its connection.

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use crate::{
    db::models::product as model,
    error::AppError,
    graphql::{
        ids::NodeId,
        loaders,
        loaders::CategoryKey,
        pagination::PageInfo,
        types::{category::Category, decimal::Decimal},
    },
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

    /// When created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// An edge of a product connection.
#[derive(SimpleObject)]
pub struct ProductEdge {
    /// Where this edge is, for `after`/`before`.
    pub cursor: String,
    /// The product.
    pub node: Product,
}

/// A page of products.
#[derive(SimpleObject)]
pub struct ProductConnection {
    /// The page's edges.
    pub edges: Vec<ProductEdge>,
    /// The page's products.
    pub nodes: Vec<Product>,
    /// Where the page is.
    pub page_info: PageInfo,
    /// How many products match, over all pages.
    pub total_count: i64,
}
