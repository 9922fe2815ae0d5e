//! Users: who acts, with which role and in which stores.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::{
    db::schema::{user_stores, users},
    domain::role::Role,
    error::{AppError, AppResult},
};

/// A row of `users`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct User {
    /// Primary key.
    pub id: i32,
    /// Unique login name.
    pub username: String,
    /// Name shown to people.
    pub display_name: String,
    /// What the user may do (an unknown stored name is an error, see `db::enums`).
    pub role: Role,
    /// When created.
    pub created_at: DateTime<Utc>,
}

/// The users with these ids (unknown ids are skipped).
pub async fn by_ids(mut conn: &AsyncPgConnection, ids: &[i32]) -> AppResult<Vec<User>> {
    Ok(users::table
        .filter(users::id.eq_any(ids))
        .select(User::as_select())
        .load(&mut conn)
        .await?)
}

/// The user with this username, if any.
pub async fn by_username(mut conn: &AsyncPgConnection, username: &str) -> AppResult<Option<User>> {
    Ok(users::table
        .filter(users::username.eq(username))
        .select(User::as_select())
        .first(&mut conn)
        .await
        .optional()?)
}

/// Creates a user with a role and its store scope (store ids); a taken username is CONFLICT.
pub async fn create(
    conn: &mut AsyncPgConnection,
    username: &str,
    display_name: &str,
    role: Role,
    store_ids: &[i32],
) -> AppResult<User> {
    let username = username.to_string();
    let display_name = display_name.to_string();
    let store_ids = store_ids.to_vec();
    conn.transaction(async |conn| {
        let user: User = diesel::insert_into(users::table)
            .values((
                users::username.eq(&username),
                users::display_name.eq(&display_name),
                users::role.eq(role.as_str()),
            ))
            .returning(User::as_returning())
            .get_result(conn)
            .await
            .map_err(|e| match e {
                diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                ) => AppError::Conflict(format!("username `{username}` is taken")),
                other => other.into(),
            })?;
        let rows: Vec<_> = store_ids
            .iter()
            .map(|s| {
                (
                    user_stores::user_id.eq(user.id),
                    user_stores::store_id.eq(*s),
                )
            })
            .collect();
        diesel::insert_into(user_stores::table)
            .values(rows)
            .execute(conn)
            .await?;
        Ok(user)
    })
    .await
}

/// Whether there is any user at all (a fresh database has none).
pub async fn any_exist(conn: &mut AsyncPgConnection) -> AppResult<bool> {
    Ok(
        diesel::select(diesel::dsl::exists(users::table.select(users::id)))
            .get_result(conn)
            .await?,
    )
}

/// The ids of the stores a user is scoped to (empty: all stores).
pub async fn store_ids(mut conn: &AsyncPgConnection, user_id: i32) -> AppResult<Vec<i32>> {
    Ok(user_stores::table
        .filter(user_stores::user_id.eq(user_id))
        .select(user_stores::store_id)
        .order(user_stores::store_id)
        .load(&mut conn)
        .await?)
}

/// Every user, by username.
pub async fn all(conn: &mut AsyncPgConnection) -> AppResult<Vec<User>> {
    Ok(users::table
        .order(users::username)
        .select(User::as_select())
        .load(conn)
        .await?)
}
