//! `CreateProductInput`: the argument of `createProduct`.

use async_graphql::{ID, InputObject};

use crate::graphql::types::decimal::Decimal;

/// A new product.
#[derive(Debug, Clone, InputObject)]
pub struct CreateProductInput {
    /// Unique stock-keeping unit.
    pub sku: String,
    /// Display name.
    pub name: String,
    /// Free text.
    #[graphql(default_with = "Some(String::new())")]
    pub description: Option<String>,
    /// Unit price (at most two decimals).
    pub price: Decimal,
    /// Its category.
    pub category_id: ID,
}
