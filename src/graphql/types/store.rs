//! `Store`, its edge and its connection.

use async_graphql::{Context, ID, Object, Result};

use crate::{
    db::models::{store as model, transaction::LedgerOwner},
    graphql::{
        ids::NodeId,
        loaders,
        loaders::{LedgerPageKey, StoreStockCountKey, StoreStocksKey},
        pagination::{self, Edge, Page, PageInfo, to_int},
        prefetch, reads,
        types::{
            filters::StockFilter,
            stock::{Stock, StockConnection, StockTotal},
            transaction::{InventoryTransactionConnection, TransactionType},
        },
    },
    with_read,
};

/// A shop or warehouse that holds stock.
#[derive(Clone)]
pub struct Store(pub model::Store);

#[Object]
impl Store {
    /// Global ID.
    pub async fn id(&self) -> ID {
        NodeId::Store(self.0.id).encode()
    }

    /// Short unique code.
    async fn code(&self) -> &str {
        &self.0.code
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Stock rows of this store in product-SKU order.
    async fn stocks(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<StockFilter>,
    ) -> Result<StockConnection> {
        let filter = StockFilter::parse(filter)?;
        let key = StoreStocksKey {
            store_id: self.0.id,
            filter: filter.clone(),
            page: pagination::keyset(first, after, last, before)?,
        };
        let rows = loaders(ctx)
            .load_one(key.clone())
            .await?
            .unwrap_or_default();
        let shown = pagination::shown(&rows, &key.page);
        prefetch::products_read_along(ctx, shown.iter().map(|r| &r.product));
        let page: Vec<&crate::db::models::stock::Stock> = shown.iter().map(|r| &r.stock).collect();
        prefetch::stocks(ctx, &prefetch::connection_nodes(ctx), &page).await;
        Ok(StockConnection {
            page: pagination::page(
                rows,
                &key.page,
                |r| r.product.sku.clone(),
                |r| Stock(r.stock),
            ),
            total: StockTotal::Store(StoreStockCountKey {
                store_id: self.0.id,
                filter,
            }),
        })
    }

    /// Newest first.
    async fn transactions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(name = "type")] kind: Option<TransactionType>,
    ) -> Result<InventoryTransactionConnection> {
        let key = LedgerPageKey {
            owner: LedgerOwner::Store,
            id: self.0.id,
            kind: kind.map(Into::into),
            page: pagination::forward(first, after)?,
        };
        let rows = loaders(ctx)
            .load_one(key.clone())
            .await?
            .unwrap_or_default();
        Ok(InventoryTransactionConnection::from_rows(rows, &key.page))
    }
}

/// An edge of a store connection.
pub type StoreEdge = Edge<Store>;

/// A page of stores, by code.
pub struct StoreConnection {
    /// The page.
    pub page: Page<Store>,
}

#[Object]
impl StoreConnection {
    /// The page's edges.
    async fn edges(&self) -> &[StoreEdge] {
        &self.page.edges
    }

    /// The page's stores.
    async fn nodes(&self) -> Vec<Store> {
        self.page.nodes()
    }

    /// Where the page is.
    async fn page_info(&self) -> &PageInfo {
        &self.page.page_info
    }

    /// How many stores there are.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i32> {
        Ok(to_int(with_read!(reads(ctx), c => model::count(c).await)?)?)
    }
}
