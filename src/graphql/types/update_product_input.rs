//! `UpdateProductInput`: the argument of `updateProduct`.

use async_graphql::{ID, InputObject};

use crate::graphql::types::decimal::Decimal;

/// Changes to a product; absent fields stay as they are.
#[derive(Debug, Clone, InputObject)]
pub struct UpdateProductInput {
    /// The product.
    pub id: ID,
    /// New display name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New price.
    pub price: Option<Decimal>,
    /// New category.
    pub category_id: Option<ID>,
}
