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
/// of the reference tables: ONE plain `SELECT` (a request's first round trip) as long as
/// nothing else is due. Two things are due now and then, each one more statement on the same
/// connection:
/// - the token's last use is recorded when the stored time is older than
///   [`TOKEN_LAST_USED_RESOLUTION`] (no write per request; the check used to carry that
///   write and the shipment below inside itself, which made every check a data-modifying
///   statement with four more subplans: 1.6× this `SELECT`'s CPU in PostgreSQL, by pgbench);
/// - the reference tables are shipped when their version is not `known` (see [`reference`]).
pub async fn user_for_token(
    mut conn: &AsyncPgConnection,
    clear: &str,
    known: i64,
) -> AppResult<Option<TokenCheck>> {
    let resolution = i64::try_from(TOKEN_LAST_USED_RESOLUTION.as_secs()).unwrap_or(60);
    let mut sql = SqlBuilder::new(
        "SELECT u.id, u.username, u.display_name, u.role, u.created_at, \
         ARRAY(SELECT s.store_id FROM user_stores s WHERE s.user_id = u.id \
         ORDER BY s.store_id) AS store_ids, t.id AS token_id, \
         (t.last_used_at IS NULL OR t.last_used_at < now() - make_interval(secs => ",
    );
    sql.bind(Bind::BigInt(resolution))
        .push(
            ")) AS stale, r.version AS reference_version \
             FROM api_tokens t JOIN users u ON u.id = t.user_id \
             LEFT JOIN reference_version r ON true \
             WHERE t.revoked_at IS NULL AND t.token_hash = ",
        )
        .bind(Bind::Bytes(token::hash(clear)));
    let Some(row) = sql
        .build()
        .get_result::<TokenRow>(&mut conn)
        .await
        .optional()?
    else {
        return Ok(None);
    };
    if row.stale {
        touch(conn, row.token_id, resolution).await?;
    }
    let reference = match row.reference_version {
        Some(version) if version != known => reference::ship(conn).await?,
        _ => None,
    };
    Ok(Some(TokenCheck {
        user: row.user,
        store_ids: row.store_ids,
        reference_version: row.reference_version,
        reference,
    }))
}

/// Records a use of the token now, unless one was recorded less than `resolution` seconds ago
/// (a concurrent request may have done it).
async fn touch(mut conn: &AsyncPgConnection, token_id: i32, resolution: i64) -> AppResult<()> {
    let mut sql = SqlBuilder::new("UPDATE api_tokens SET last_used_at = now() WHERE id = ");
    sql.bind(Bind::Int(token_id))
        .push(
            " AND (last_used_at IS NULL \
             OR last_used_at < now() - make_interval(secs => ",
        )
        .bind(Bind::BigInt(resolution))
        .push("))");
    sql.build().execute(&mut conn).await?;
    Ok(())
}

/// The row of the token check's statement.
#[derive(QueryableByName)]
struct TokenRow {
    #[diesel(embed)]
    user: crate::db::models::user::User,
    #[diesel(sql_type = diesel::sql_types::Array<diesel::sql_types::Integer>)]
    store_ids: Vec<i32>,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    token_id: i32,
    /// The last recorded use is older than the resolution (or there is none).
    #[diesel(sql_type = diesel::sql_types::Bool)]
    stale: bool,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    reference_version: Option<i64>,
}

/// What the token check read: the token's user and store scope, and the reference tables'
/// version (with the tables when they changed).
pub struct TokenCheck {
    /// The token's user.
    pub user: crate::db::models::user::User,
    /// The stores a STAFF user is scoped to (empty: all).
    pub store_ids: Vec<i32>,
    /// `reference_version.version` as the check read it (`None` if its row is gone: the
    /// request then reads stores and categories from the database).
    pub reference_version: Option<i64>,
    /// The reference tables, read right after the check because its version was not the one
    /// the caller knew; their own version may be newer than `reference_version`.
    pub reference: Option<reference::Shipment>,
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
