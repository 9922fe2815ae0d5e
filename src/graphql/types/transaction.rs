//! `InventoryTransaction`: a row of the ledger.

use async_graphql::{Context, ID, Object, Result};

use crate::{
    db::models::{page::Keyset, transaction::TransactionCursor},
    graphql::pagination::{self, Edge, Page, PageInfo},
};
use chrono::{DateTime, Utc};

use crate::{
    db::models::transaction as model,
    error::AppError,
    graphql::{
        ids::NodeId,
        loaders,
        loaders::{ProductKey, StoreKey, UserKey},
        render::Rendered,
        types::{product::Product, store::Store, user::User},
    },
};

pub use crate::graphql::types::enums::TransactionType;

/// A ledger row.
#[derive(Clone)]
pub struct InventoryTransaction(pub model::InventoryTransaction);

#[Object]
impl InventoryTransaction {
    /// Global ID.
    pub async fn id(&self) -> ID {
        NodeId::InventoryTransaction(self.0.id).encode()
    }

    /// What kind of change.
    #[graphql(name = "type")]
    async fn kind(&self) -> TransactionType {
        self.0.kind.into()
    }

    /// The product.
    async fn product(&self, ctx: &Context<'_>) -> Result<Product> {
        loaders(ctx)
            .load_one(ProductKey(self.0.product_id))
            .await?
            .map(Product)
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("ledger row without product")).into())
    }

    /// The store.
    async fn store(&self, ctx: &Context<'_>) -> Result<Store> {
        loaders(ctx)
            .load_one(StoreKey(self.0.store_id))
            .await?
            .map(Store)
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("ledger row without store")).into())
    }

    /// Who recorded it; null for imported history without a user.
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(user_id) = self.0.user_id else {
            return Ok(None);
        };
        Ok(loaders(ctx).load_one(UserKey(user_id)).await?.map(User))
    }

    /// Signed change: positive adds stock, negative removes it.
    async fn quantity(&self) -> i32 {
        self.0.quantity
    }

    /// Stock of the pair right after this change.
    async fn quantity_after(&self) -> i32 {
        self.0.quantity_after
    }

    /// Free text.
    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }

    /// Both legs of a transfer share one reference.
    async fn reference(&self) -> Option<&str> {
        self.0.reference.as_deref()
    }

    /// When recorded.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// An edge of a ledger connection.
pub type InventoryTransactionEdge = Edge<InventoryTransaction>;

/// A page of the ledger, newest first. No `totalCount` on purpose: counting millions of
/// ledger rows per page is not free.
pub struct InventoryTransactionConnection {
    /// The page.
    pub page: Page<InventoryTransaction>,
}

impl InventoryTransactionConnection {
    /// The page of the rows a model read for `ks`.
    pub fn from_rows(
        rows: Vec<model::InventoryTransaction>,
        ks: &Keyset<TransactionCursor>,
    ) -> Self {
        Self {
            page: pagination::page(rows, ks, |r| (r.created_at, r.id), InventoryTransaction),
        }
    }
}

#[Object]
impl InventoryTransactionConnection {
    /// The page's edges.
    async fn edges(&self) -> Rendered<&[InventoryTransactionEdge]> {
        Rendered(&self.page.edges)
    }

    /// The page's ledger rows.
    async fn nodes(&self) -> Rendered<Vec<InventoryTransaction>> {
        Rendered(self.page.nodes())
    }

    /// Where the page is.
    async fn page_info(&self) -> &PageInfo {
        &self.page.page_info
    }
}
