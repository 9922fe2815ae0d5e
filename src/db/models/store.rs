//! Stores (shops, warehouses): where stock is held.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::{db::schema::stores, error::AppResult};

/// A row of `stores`.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable, serde::Deserialize)]
#[diesel(table_name = stores, check_for_backend(diesel::pg::Pg))]
pub struct Store {
    /// Primary key.
    pub id: i32,
    /// Short unique code (`S001`).
    pub code: String,
    /// Display name.
    pub name: String,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
}

/// The stores with these ids (unknown ids are skipped).
pub async fn by_ids(mut conn: &AsyncPgConnection, ids: &[i32]) -> AppResult<Vec<Store>> {
    Ok(stores::table
        .filter(stores::id.eq_any(ids))
        .select(Store::as_select())
        .load(&mut conn)
        .await?)
}

/// The store with this code, if any.
pub async fn by_code(mut conn: &AsyncPgConnection, code: &str) -> AppResult<Option<Store>> {
    Ok(stores::table
        .filter(stores::code.eq(code))
        .select(Store::as_select())
        .first(&mut conn)
        .await
        .optional()?)
}

/// Up to `limit` stores after code `after`, in code order.
pub async fn page_by_code(
    mut conn: &AsyncPgConnection,
    after: Option<&str>,
    limit: i64,
) -> AppResult<Vec<Store>> {
    let mut query = stores::table
        .select(Store::as_select())
        .order(stores::code.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(stores::code.gt(after.to_string()));
    }
    Ok(query.load(&mut conn).await?)
}

/// How many stores there are.
pub async fn count(mut conn: &AsyncPgConnection) -> AppResult<i64> {
    Ok(stores::table.count().get_result(&mut conn).await?)
}

/// A store with a user whose scope holds it.
#[derive(Debug, Queryable)]
pub struct UserStore {
    /// The user.
    pub user_id: i32,
    /// The store.
    pub store: Store,
}

/// The stores these users are scoped to, each user's in code order.
pub async fn for_users(
    mut conn: &AsyncPgConnection,
    user_ids: &[i32],
) -> AppResult<Vec<UserStore>> {
    use crate::db::schema::user_stores;
    Ok(user_stores::table
        .inner_join(stores::table)
        .filter(user_stores::user_id.eq_any(user_ids))
        .select((user_stores::user_id, Store::as_select()))
        .order((user_stores::user_id, stores::code.asc(), stores::id.asc()))
        .load(&mut conn)
        .await?)
}

// ---------------------------------------------------------------- writes (catalogue mutations)

/// Creates a store; a taken code is CONFLICT.
pub async fn create(
    conn: &mut AsyncPgConnection,
    code: &crate::domain::text::StoreCode,
    name: &crate::domain::text::Name,
) -> AppResult<Store> {
    use diesel::result::{DatabaseErrorKind, Error};
    diesel::insert_into(stores::table)
        .values((
            stores::code.eq(code.as_str()),
            stores::name.eq(name.as_str()),
        ))
        .returning(Store::as_returning())
        .get_result(conn)
        .await
        .map_err(|err| match err {
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                crate::error::AppError::Conflict("a store with this code already exists".into())
            }
            other => other.into(),
        })
}

/// Renames a store (when `name` is given); NOT_FOUND when there is no such store.
pub async fn update(
    conn: &mut AsyncPgConnection,
    id: i32,
    name: Option<&crate::domain::text::Name>,
) -> AppResult<Store> {
    let name = name.map(|n| n.as_str().to_string());
    diesel::update(stores::table.find(id))
        .set((
            name.map(|n| stores::name.eq(n)),
            stores::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Store::as_returning())
        .get_result(conn)
        .await
        .optional()?
        .ok_or(crate::error::AppError::Missing(
            crate::error::Missing::Store,
        ))
}
