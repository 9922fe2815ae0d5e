//! API tokens: created for a user, looked up by hash, revoked.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::{db::schema::api_tokens, domain::token, error::AppResult};

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

/// The user of a valid (known, not revoked) token.
pub async fn user_for_token(
    conn: &mut AsyncPgConnection,
    clear: &str,
) -> AppResult<Option<crate::db::models::user::User>> {
    use crate::db::{models::user::User, schema::users};
    Ok(api_tokens::table
        .inner_join(users::table)
        .filter(api_tokens::token_hash.eq(token::hash(clear)))
        .filter(api_tokens::revoked_at.is_null())
        .select(User::as_select())
        .first(conn)
        .await
        .optional()?)
}
