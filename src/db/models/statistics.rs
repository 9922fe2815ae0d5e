//! Fan-out statistics of the catalogue (how many roots, the most children of one category,
//! how many stores), which the query limits weigh lists without a page size with. One small
//! statement over indexed tables; the caller decides how often.

use diesel::{QueryableByName, sql_types::BigInt};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::error::AppResult;

/// The counts, as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, QueryableByName)]
pub struct Fanout {
    /// Categories in all.
    #[diesel(sql_type = BigInt)]
    pub categories: i64,
    /// Root categories (no parent).
    #[diesel(sql_type = BigInt)]
    pub roots: i64,
    /// The most children any one category has.
    #[diesel(sql_type = BigInt)]
    pub max_children: i64,
    /// Stores.
    #[diesel(sql_type = BigInt)]
    pub stores: i64,
}

/// Reads the counts.
pub async fn fanout(conn: &mut AsyncPgConnection) -> AppResult<Fanout> {
    Ok(diesel::sql_query(
        "SELECT (SELECT count(*) FROM categories) AS categories, \
                (SELECT count(*) FROM categories WHERE parent_id IS NULL) AS roots, \
                (SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM categories \
                   WHERE parent_id IS NOT NULL GROUP BY parent_id) c) AS max_children, \
                (SELECT count(*) FROM stores) AS stores",
    )
    .get_result(conn)
    .await?)
}
