//! `UpdateCategoryInput`: the argument of `updateCategory`.

use async_graphql::{ID, InputObject, MaybeUndefined};

/// Changes to a category: absent fields stay; `parentId: null` makes it a root.
#[derive(Debug, Clone, InputObject)]
pub struct UpdateCategoryInput {
    /// The category.
    pub id: ID,
    /// New display name.
    pub name: Option<String>,
    /// New parent (null: make it a root).
    pub parent_id: MaybeUndefined<ID>,
}
