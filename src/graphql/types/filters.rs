//! Input objects of the read API (filters and orders), parsed at once into model values.

use async_graphql::{Enum, ID, InputObject};
use chrono::{DateTime, Utc};

use crate::{
    db::models::{product, stock, transaction},
    domain::text::SearchText,
    error::AppResult,
    graphql::{ids, types::transaction::TransactionType},
};

/// Ascending or descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Default)]
pub enum OrderDirection {
    /// Smallest first.
    #[default]
    #[graphql(name = "ASC")]
    Asc,
    /// Largest first.
    #[graphql(name = "DESC")]
    Desc,
}

/// What products can be ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(rename_items = "SCREAMING_SNAKE_CASE")]
pub enum ProductOrderField {
    /// Stock-keeping unit (byte order).
    Sku,
    /// Name (byte order), then id.
    Name,
    /// Creation time, then id.
    CreatedAt,
}

/// An order of products.
#[derive(Debug, Clone, Copy, InputObject)]
pub struct ProductOrder {
    /// The sort key.
    pub field: ProductOrderField,
    /// The direction.
    #[graphql(default_with = "OrderDirection::Asc")]
    pub direction: OrderDirection,
}

impl ProductOrder {
    /// The model's order and whether it is ascending (default: SKU ascending).
    pub fn parse(order: Option<Self>) -> (product::ProductOrder, bool) {
        let Some(order) = order else {
            return (product::ProductOrder::Sku, true);
        };
        let field = match order.field {
            ProductOrderField::Sku => product::ProductOrder::Sku,
            ProductOrderField::Name => product::ProductOrder::Name,
            ProductOrderField::CreatedAt => product::ProductOrder::CreatedAt,
        };
        (field, order.direction == OrderDirection::Asc)
    }
}

/// Which products a listing shows.
#[derive(Debug, Clone, Default, InputObject)]
pub struct ProductFilter {
    /// Case-insensitive match on sku or name.
    pub search: Option<String>,
    /// Only products of this category.
    pub category_id: Option<ID>,
    /// With categoryId: include products of its subcategories.
    #[graphql(default_with = "Some(false)")]
    pub include_descendants: Option<bool>,
    /// Default: archived products are left out.
    #[graphql(default_with = "Some(false)")]
    pub include_archived: Option<bool>,
}

impl ProductFilter {
    /// The model's filter (BAD_USER_INPUT for a malformed or foreign ID).
    pub fn parse(filter: Option<Self>) -> AppResult<product::ProductFilter> {
        let f = filter.unwrap_or_default();
        Ok(product::ProductFilter {
            search: f
                .search
                .map(|s| SearchText::parse(&s, "filter.search"))
                .transpose()?
                .map(SearchText::into_inner)
                .filter(|s| !s.is_empty()),
            category_id: f
                .category_id
                .map(|id| ids::category_id(&id, "filter.categoryId"))
                .transpose()?,
            include_descendants: f.include_descendants.unwrap_or(false),
            include_archived: f.include_archived.unwrap_or(false),
        })
    }
}

/// Which stock rows of a store a listing shows.
#[derive(Debug, Clone, Default, InputObject)]
pub struct StockFilter {
    /// Only rows with quantity <= reorderPoint.
    pub low_stock: Option<bool>,
    /// Only products of this category.
    pub category_id: Option<ID>,
}

impl StockFilter {
    /// The model's filter.
    pub fn parse(filter: Option<Self>) -> AppResult<stock::StockFilter> {
        let f = filter.unwrap_or_default();
        Ok(stock::StockFilter {
            low_stock: f.low_stock,
            category_id: f
                .category_id
                .map(|id| ids::category_id(&id, "filter.categoryId"))
                .transpose()?,
        })
    }
}

/// Which ledger rows a listing shows.
#[derive(Debug, Clone, Default, InputObject)]
pub struct TransactionFilter {
    /// Of this product.
    pub product_id: Option<ID>,
    /// In this store.
    pub store_id: Option<ID>,
    /// Of this type.
    #[graphql(name = "type")]
    pub kind: Option<TransactionType>,
    /// Recorded by this user.
    pub user_id: Option<ID>,
    /// Inclusive lower bound.
    pub since: Option<DateTime<Utc>>,
    /// Exclusive upper bound.
    pub until: Option<DateTime<Utc>>,
}

impl TransactionFilter {
    /// The model's filter.
    pub fn parse(filter: Option<Self>) -> AppResult<transaction::TransactionFilter> {
        let f = filter.unwrap_or_default();
        Ok(transaction::TransactionFilter {
            product_id: f
                .product_id
                .map(|id| ids::product_id(&id, "filter.productId"))
                .transpose()?,
            store_id: f
                .store_id
                .map(|id| ids::store_id(&id, "filter.storeId"))
                .transpose()?,
            kind: f.kind.map(Into::into),
            user_id: f
                .user_id
                .map(|id| ids::user_id(&id, "filter.userId"))
                .transpose()?,
            since: f.since,
            until: f.until,
        })
    }
}
