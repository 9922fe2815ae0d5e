//! `CreateCategoryInput`: the argument of `createCategory`.

use async_graphql::{ID, InputObject};

/// A new category.
#[derive(Debug, Clone, InputObject)]
pub struct CreateCategoryInput {
    /// Display name.
    pub name: String,
    /// Its parent; a root when absent.
    pub parent_id: Option<ID>,
}
