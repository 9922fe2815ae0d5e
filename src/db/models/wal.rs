//! The write-ahead log's position: how far a node has written (the primary) or replayed (a
//! replica), for read routing and consistency tokens.

use diesel::{QueryableByName, sql_types::Nullable, sql_types::Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::{db::models::page::SqlBuilder, error::AppResult};

#[derive(QueryableByName)]
struct PositionRow {
    #[diesel(sql_type = Nullable<Text>)]
    lsn: Option<String>,
}

/// The node's WAL position as text (`16/B374D848`): on a replica the last one replayed, on
/// the primary the current insert position (so, right after a commit, at or past its commit
/// record, even with `synchronous_commit = off`, where the record may not be written yet).
/// A prepared statement (a [`SqlBuilder`]'s, not `sql_query`, which is prepared again on
/// every run): on a shared connection, preparing holds up the other statements for a round
/// trip.
pub async fn position(mut conn: &AsyncPgConnection) -> AppResult<Option<String>> {
    let row: PositionRow = SqlBuilder::new(
        "SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() \
         ELSE pg_current_wal_insert_lsn() END)::text AS lsn",
    )
    .build()
    .get_result(&mut conn)
    .await?;
    Ok(row.lsn)
}
