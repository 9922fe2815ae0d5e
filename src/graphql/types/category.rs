//! `Category`: a node of the category tree.

use async_graphql::{Context, ID, Object, Result};

use crate::{
    db::models::category as model,
    graphql::{ids::NodeId, loaders, loaders::CategoryKey},
};

/// A category of products.
#[derive(Clone)]
pub struct Category(pub model::Category);

#[Object]
impl Category {
    /// Global ID.
    pub async fn id(&self) -> ID {
        NodeId::Category(self.0.id).encode()
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The parent category; null for a root.
    async fn parent(&self, ctx: &Context<'_>) -> Result<Option<Category>> {
        let Some(parent_id) = self.0.parent_id else {
            return Ok(None);
        };
        Ok(loaders(ctx)
            .load_one(CategoryKey(parent_id))
            .await?
            .map(Category))
    }
}
