//! API tokens: created for a user, looked up by hash, revoked.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::{
    config::TOKEN_LAST_USED_RESOLUTION,
    db::schema::api_tokens,
    domain::token,
    error::{AppError, AppResult},
};

/// A row of `api_tokens`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_tokens, check_for_backend(diesel::pg::Pg))]
pub struct ApiToken {
    /// Primary key (what `token list` shows and `token revoke` accepts).
    pub id: i32,
    /// Whose token.
    pub user_id: i32,
    /// SHA-256 of the token.
    pub token_hash: Vec<u8>,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When last used (updated at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When revoked; a revoked token is refused.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Creates a token for the user; returns its row and the clear text, shown only now.
pub async fn create(conn: &mut AsyncPgConnection, user_id: i32) -> AppResult<(ApiToken, String)> {
    let clear = token::generate();
    let row = diesel::insert_into(api_tokens::table)
        .values((
            api_tokens::user_id.eq(user_id),
            api_tokens::token_hash.eq(token::hash(&clear)),
        ))
        .returning(ApiToken::as_returning())
        .get_result(conn)
        .await?;
    Ok((row, clear))
}

/// The user of a valid (known, not revoked) token. Records the use in `last_used_at`, but
/// writes only when the stored time is older than [`TOKEN_LAST_USED_RESOLUTION`] (no write
/// per request).
pub async fn user_for_token(
    conn: &mut AsyncPgConnection,
    clear: &str,
) -> AppResult<Option<crate::db::models::user::User>> {
    use crate::db::{models::user::User, schema::users};
    let row: Option<(i32, Option<DateTime<Utc>>, User)> = api_tokens::table
        .inner_join(users::table)
        .filter(api_tokens::token_hash.eq(token::hash(clear)))
        .filter(api_tokens::revoked_at.is_null())
        .select((api_tokens::id, api_tokens::last_used_at, User::as_select()))
        .first(conn)
        .await
        .optional()?;
    let Some((id, last_used_at, user)) = row else {
        return Ok(None);
    };
    let resolution = chrono::Duration::from_std(TOKEN_LAST_USED_RESOLUTION)
        .unwrap_or_else(|_| chrono::Duration::minutes(1));
    let stale_before = Utc::now() - resolution;
    if last_used_at.is_none_or(|t| t < stale_before) {
        diesel::update(api_tokens::table)
            .filter(api_tokens::id.eq(id))
            .filter(
                api_tokens::last_used_at
                    .is_null()
                    .or(api_tokens::last_used_at.lt(stale_before)),
            )
            .set(api_tokens::last_used_at.eq(diesel::dsl::now))
            .execute(conn)
            .await?;
    }
    Ok(Some(user))
}

/// The tokens of a user, oldest first.
pub async fn for_user(conn: &mut AsyncPgConnection, user_id: i32) -> AppResult<Vec<ApiToken>> {
    Ok(api_tokens::table
        .filter(api_tokens::user_id.eq(user_id))
        .order(api_tokens::id)
        .select(ApiToken::as_select())
        .load(conn)
        .await?)
}

/// The token with this id, or with this clear text.
pub async fn find(conn: &mut AsyncPgConnection, id_or_token: &str) -> AppResult<Option<ApiToken>> {
    let query = api_tokens::table.select(ApiToken::as_select());
    Ok(match id_or_token.trim().parse::<i32>() {
        Ok(id) => query.filter(api_tokens::id.eq(id)).first(conn).await,
        Err(_) => {
            query
                .filter(api_tokens::token_hash.eq(token::hash(id_or_token.trim())))
                .first(conn)
                .await
        }
    }
    .optional()?)
}

/// Revokes a token (kept, with its revocation time); revoking twice keeps the first time.
pub async fn revoke(conn: &mut AsyncPgConnection, id: i32) -> AppResult<ApiToken> {
    diesel::update(api_tokens::table)
        .filter(api_tokens::id.eq(id))
        .set(api_tokens::revoked_at.eq(diesel::dsl::sql::<
            diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
        >("coalesce(revoked_at, now())")))
        .returning(ApiToken::as_returning())
        .get_result(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found(format!("no token with id {id}")))
}
