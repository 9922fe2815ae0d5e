//! API tokens: created for a user, looked up by hash, revoked.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::{
    config::TOKEN_LAST_USED_RESOLUTION,
    db::{
        models::{
            page::{Bind, SqlBuilder},
            reference,
        },
        schema::api_tokens,
    },
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

/// The user of a valid (known, not revoked) token, the stores it is scoped to and the version
/// of the reference tables (with the tables themselves when that version is not `known`: see
/// [`reference`]), in ONE statement (a request's first round trip). Records the use in
/// `last_used_at`, in the same statement, but writes only when the stored time is older than
/// [`TOKEN_LAST_USED_RESOLUTION`] (no write per request).
pub async fn user_for_token(
    mut conn: &AsyncPgConnection,
    clear: &str,
    known: i64,
) -> AppResult<Option<TokenCheck>> {
    let resolution = i64::try_from(TOKEN_LAST_USED_RESOLUTION.as_secs()).unwrap_or(60);
    let mut sql = SqlBuilder::new(
        "WITH t AS (SELECT id, user_id, last_used_at FROM api_tokens \
         WHERE token_hash = ",
    );
    sql.bind(Bind::Bytes(token::hash(clear)))
        .push(
            " AND revoked_at IS NULL), \
             touched AS (UPDATE api_tokens a SET last_used_at = now() FROM t \
             WHERE a.id = t.id AND (t.last_used_at IS NULL \
             OR t.last_used_at < now() - make_interval(secs => ",
        )
        .bind(Bind::BigInt(resolution))
        .push(")) RETURNING a.id), r AS (");
    reference::push_select(&mut sql, known);
    sql.push(
        ") SELECT u.id, u.username, u.display_name, u.role, u.created_at, \
         ARRAY(SELECT s.store_id FROM user_stores s WHERE s.user_id = u.id \
         ORDER BY s.store_id) AS store_ids, \
         r.version AS reference_version, r.tables AS reference_tables \
         FROM t JOIN users u ON u.id = t.user_id LEFT JOIN r ON true \
         LEFT JOIN touched ON touched.id = t.id",
    );
    Ok(sql.build().get_result(&mut conn).await.optional()?)
}

/// What the token check read: the token's user and store scope, and the reference tables'
/// version (with the tables when they changed).
#[derive(QueryableByName)]
pub struct TokenCheck {
    /// The token's user.
    #[diesel(embed)]
    pub user: crate::db::models::user::User,
    /// The stores a STAFF user is scoped to (empty: all).
    #[diesel(sql_type = diesel::sql_types::Array<diesel::sql_types::Integer>)]
    pub store_ids: Vec<i32>,
    /// `reference_version.version` in the statement's snapshot (`None` if its row is gone:
    /// the request then reads stores and categories from the database).
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    pub reference_version: Option<i64>,
    /// The reference tables, when their version was not the one the caller knew (see
    /// [`reference::push_select`]).
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub reference_tables: Option<String>,
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
