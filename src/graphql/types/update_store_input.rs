//! `UpdateStoreInput`: the argument of `updateStore`.

use async_graphql::{ID, InputObject};

/// Changes to a store.
#[derive(Debug, Clone, InputObject)]
pub struct UpdateStoreInput {
    /// The store.
    pub id: ID,
    /// New display name.
    pub name: Option<String>,
}
