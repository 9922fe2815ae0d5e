//! Categories: a tree through `parent_id`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::{db::schema::categories, error::AppResult};

/// A row of `categories`.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable, serde::Deserialize)]
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
pub async fn by_ids(mut conn: &AsyncPgConnection, ids: &[i32]) -> AppResult<Vec<Category>> {
    Ok(categories::table
        .filter(categories::id.eq_any(ids))
        .select(Category::as_select())
        .load(&mut conn)
        .await?)
}

/// The root categories (no parent), by name.
pub async fn roots(mut conn: &AsyncPgConnection) -> AppResult<Vec<Category>> {
    Ok(categories::table
        .filter(categories::parent_id.is_null())
        .select(Category::as_select())
        .order((categories::name.asc(), categories::id.asc()))
        .load(&mut conn)
        .await?)
}

/// The children of these categories, each parent's by name.
pub async fn children_of(
    mut conn: &AsyncPgConnection,
    parent_ids: &[i32],
) -> AppResult<Vec<Category>> {
    Ok(categories::table
        .filter(categories::parent_id.eq_any(parent_ids))
        .select(Category::as_select())
        .order((categories::name.asc(), categories::id.asc()))
        .load(&mut conn)
        .await?)
}

// ---------------------------------------------------------------- writes (catalogue mutations)

/// Advisory lock key that serialises changes of the category tree (so two concurrent moves
/// cannot together build a cycle).
const CATEGORY_TREE_LOCK: i64 = 0x5354_4b52_4341_5400;

/// Creates a category under `parent_id` (a root when `None`); NOT_FOUND for an unknown parent.
pub async fn create(
    conn: &mut AsyncPgConnection,
    name: &crate::domain::text::Name,
    parent_id: Option<i32>,
) -> AppResult<Category> {
    use diesel::result::{DatabaseErrorKind, Error};
    diesel::insert_into(categories::table)
        .values((
            categories::name.eq(name.as_str()),
            categories::parent_id.eq(parent_id),
        ))
        .returning(Category::as_returning())
        .get_result(conn)
        .await
        .map_err(|err| match err {
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                crate::error::AppError::Missing(crate::error::Missing::ParentCategory)
            }
            other => other.into(),
        })
}

/// Renames and/or moves a category. `parent`: `None` keeps it, `Some(None)` makes it a root,
/// `Some(Some(p))` moves it under `p`. Moving a category under itself or one of its
/// descendants is BAD_USER_INPUT; unknown ids are NOT_FOUND.
pub async fn update(
    conn: &mut AsyncPgConnection,
    id: i32,
    name: Option<&crate::domain::text::Name>,
    parent: Option<Option<i32>>,
) -> AppResult<Category> {
    use diesel::sql_types::{BigInt, Bool, Int4};
    use diesel_async::AsyncConnection;

    use crate::error::{AppError, Missing};

    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = Bool)]
        found: bool,
    }

    let name = name.map(|n| n.as_str().to_string());
    conn.transaction(async |conn| {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<BigInt, _>(CATEGORY_TREE_LOCK)
            .execute(conn)
            .await?;
        let exists: bool = diesel::select(diesel::dsl::exists(categories::table.find(id)))
            .get_result(conn)
            .await?;
        if !exists {
            return Err(AppError::Missing(Missing::Category));
        }
        if let Some(Some(parent_id)) = parent {
            let parent_exists: bool =
                diesel::select(diesel::dsl::exists(categories::table.find(parent_id)))
                    .get_result(conn)
                    .await?;
            if !parent_exists {
                return Err(AppError::Missing(Missing::ParentCategory));
            }
            let cycle: Found = diesel::sql_query(
                "WITH RECURSIVE up(id, parent_id) AS ( \
                   SELECT id, parent_id FROM categories WHERE id = $1 \
                   UNION SELECT c.id, c.parent_id FROM categories c JOIN up ON c.id = up.parent_id) \
                 SELECT EXISTS (SELECT 1 FROM up WHERE id = $2) AS found",
            )
            .bind::<Int4, _>(parent_id)
            .bind::<Int4, _>(id)
            .get_result(conn)
            .await?;
            if cycle.found {
                return Err(AppError::BadUserInput {
                    message: "a category cannot be moved under itself or one of its descendants"
                        .into(),
                    field: None,
                });
            }
        }
        Ok(diesel::update(categories::table.find(id))
            .set((
                name.clone().map(|n| categories::name.eq(n)),
                parent.map(|p| categories::parent_id.eq(p)),
                categories::updated_at.eq(diesel::dsl::now),
            ))
            .returning(Category::as_returning())
            .get_result(conn)
            .await?)
    })
    .await
}
