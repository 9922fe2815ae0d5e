//! Categories: a tree through `parent_id`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::{db::schema::categories, error::AppResult};

/// A row of `categories`.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = categories, check_for_backend(diesel::pg::Pg))]
pub struct Category {
    /// Primary key.
    pub id: i32,
    /// The parent category; `None` for a root.
    pub parent_id: Option<i32>,
    /// Display name.
    pub name: String,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
}

/// The categories with these ids (in no particular order; unknown ids are skipped).
pub async fn by_ids(conn: &mut AsyncPgConnection, ids: &[i32]) -> AppResult<Vec<Category>> {
    Ok(categories::table
        .filter(categories::id.eq_any(ids))
        .select(Category::as_select())
        .load(conn)
        .await?)
}

/// The root categories (no parent), by name.
pub async fn roots(conn: &mut AsyncPgConnection) -> AppResult<Vec<Category>> {
    Ok(categories::table
        .filter(categories::parent_id.is_null())
        .select(Category::as_select())
        .order((categories::name.asc(), categories::id.asc()))
        .load(conn)
        .await?)
}

/// The children of these categories, each parent's by name.
pub async fn children_of(
    conn: &mut AsyncPgConnection,
    parent_ids: &[i32],
) -> AppResult<Vec<Category>> {
    Ok(categories::table
        .filter(categories::parent_id.eq_any(parent_ids))
        .select(Category::as_select())
        .order((categories::name.asc(), categories::id.asc()))
        .load(conn)
        .await?)
}
