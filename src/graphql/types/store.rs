//! `Store`, its edge and its connection.

use async_graphql::{ID, Object, SimpleObject};

use crate::{
    db::models::store as model,
    graphql::{ids::NodeId, pagination::PageInfo},
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
}

/// An edge of a store connection.
#[derive(SimpleObject)]
pub struct StoreEdge {
    /// Where this edge is, for `after`.
    pub cursor: String,
    /// The store.
    pub node: Store,
}

/// A page of stores.
#[derive(SimpleObject)]
pub struct StoreConnection {
    /// The page's edges.
    pub edges: Vec<StoreEdge>,
    /// The page's stores.
    pub nodes: Vec<Store>,
    /// Where the page is.
    pub page_info: PageInfo,
    /// How many stores there are.
    pub total_count: i64,
}
