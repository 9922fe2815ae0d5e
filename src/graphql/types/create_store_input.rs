//! `CreateStoreInput`: the argument of `createStore`.

use async_graphql::InputObject;

/// A new store.
#[derive(Debug, Clone, InputObject)]
pub struct CreateStoreInput {
    /// Unique short code.
    pub code: String,
    /// Display name.
    pub name: String,
}
