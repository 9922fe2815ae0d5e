//! The `Node` interface and the lookup behind `node(id:)` and `nodes(ids:)`.

use async_graphql::{Context, ID, Interface, Result};

use crate::graphql::{
    ids::NodeId,
    loaders,
    loaders::{CategoryKey, ProductKey, StockKey, StoreKey, TransactionKey, UserKey},
    types::{
        category::Category, product::Product, stock::Stock, store::Store,
        transaction::InventoryTransaction, user::User,
    },
};

/// An object with a global ID, fetchable with `node(id:)`.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID"))]
pub enum Node {
    /// A product.
    Product(Product),
    /// A category.
    Category(Category),
    /// A store.
    Store(Store),
    /// A stock row.
    Stock(Stock),
    /// A ledger row.
    InventoryTransaction(InventoryTransaction),
    /// A user.
    User(User),
}

/// Resolves a decoded ID to its node, or `None` when it names nothing.
pub async fn resolve(ctx: &Context<'_>, id: NodeId) -> Result<Option<Node>> {
    let loaders = loaders(ctx);
    Ok(match id {
        NodeId::Product(id) => loaders
            .load_one(ProductKey(id))
            .await?
            .map(|r| Node::Product(Product(r))),
        NodeId::Category(id) => loaders
            .load_one(CategoryKey(id))
            .await?
            .map(|r| Node::Category(Category(r))),
        NodeId::Store(id) => loaders
            .load_one(StoreKey(id))
            .await?
            .map(|r| Node::Store(Store(r))),
        NodeId::User(id) => loaders
            .load_one(UserKey(id))
            .await?
            .map(|r| Node::User(User(r))),
        NodeId::Stock(product_id, store_id) => loaders
            .load_one(StockKey((product_id, store_id)))
            .await?
            .map(|r| Node::Stock(Stock(r))),
        NodeId::InventoryTransaction(id) => loaders
            .load_one(TransactionKey(id))
            .await?
            .map(|r| Node::InventoryTransaction(InventoryTransaction(r))),
    })
}

/// Parses an ID argument for `node`/`nodes` (malformed is BAD_USER_INPUT) and resolves it.
pub async fn resolve_arg(ctx: &Context<'_>, id: &ID, field: &str) -> Result<Option<Node>> {
    let id = NodeId::parse(id, field)?;
    resolve(ctx, id).await
}
