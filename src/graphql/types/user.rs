//! `User`: a person (or system) with a role.

use async_graphql::{Context, ID, Object, Result};

use crate::{
    db::models::user as model,
    graphql::{
        ids::NodeId,
        loaders,
        loaders::UserStoresKey,
        types::{enums::Role, store::Store},
    },
};

/// A user of the service.
#[derive(Clone)]
pub struct User(pub model::User);

#[Object]
impl User {
    /// Global ID.
    pub async fn id(&self) -> ID {
        NodeId::User(self.0.id).encode()
    }

    /// Unique login name.
    async fn username(&self) -> &str {
        &self.0.username
    }

    /// Name shown to people.
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }

    /// The user's role.
    async fn role(&self) -> Role {
        self.0.role.into()
    }

    /// Stores a STAFF user may move stock in; empty means all stores.
    async fn stores(&self, ctx: &Context<'_>) -> Result<Vec<Store>> {
        Ok(loaders(ctx)
            .load_one(UserStoresKey(self.0.id))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(Store)
            .collect())
    }
}
